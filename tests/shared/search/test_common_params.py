"""Parameters every type has (_id, _lastUpdated), :missing, and search following writes.

Search runs on the index tables: after an update the old value no longer matches and the
new one does; after a delete the resource matches nothing.
"""

from __future__ import annotations

import asyncio

import httpx

from services.intake.tests.builders import named, order, organization, patient, patients
from tests.support.rest import assert_outcome, create, delete, found, ids_of, update


async def test_id_matches_the_listed_ids(client: httpx.AsyncClient) -> None:
    first, second, third = await patients(client, {}, {}, {})

    assert await found(client, "Patient", {"_id": first["id"]}) == ids_of(first)
    assert await found(client, "Patient", {"_id": f"{first['id']},{third['id']}"}) == ids_of(
        first, third
    )
    assert await found(client, "Patient", {"_id": "no-such-id"}) == set()
    assert await found(client, "Patient", {"_id:not": first["id"]}) == ids_of(second, third)


async def test_last_updated_compares_with_meta_last_updated(client: httpx.AsyncClient) -> None:
    earlier = await create(client, patient())
    await asyncio.sleep(0.01)  # so the two differ at the millisecond precision of meta
    later = await create(client, patient())
    earlier_at, later_at = earlier["meta"]["lastUpdated"], later["meta"]["lastUpdated"]
    expected = {
        f"gt{earlier_at}": ids_of(later),
        f"ge{earlier_at}": ids_of(earlier, later),
        f"lt{later_at}": ids_of(earlier),
        f"le{later_at}": ids_of(earlier, later),
        f"le{earlier_at}": ids_of(earlier),
        f"eq{earlier_at}": ids_of(earlier),
        f"sa{earlier_at}": ids_of(later),
        f"eb{later_at}": ids_of(earlier),
        later_at[:10]: {  # the whole UTC day
            p["id"] for p in (earlier, later) if p["meta"]["lastUpdated"][:10] == later_at[:10]
        },
        "lt2000-01-01": set(),
    }

    actual = {value: await found(client, "Patient", {"_lastUpdated": value}) for value in expected}

    assert actual == expected


async def test_last_updated_moves_when_a_resource_changes(client: httpx.AsyncClient) -> None:
    unchanged, changed = await patients(client, {"gender": "male"}, {"gender": "male"})
    await asyncio.sleep(0.01)
    changed = await update(client, {**changed, "gender": "female"})

    since = {"_lastUpdated": f"ge{changed['meta']['lastUpdated']}"}
    assert await found(client, "Patient", since) == ids_of(changed)
    assert unchanged["id"] not in await found(client, "Patient", since)


async def test_missing_true_finds_resources_without_a_value(client: httpx.AsyncClient) -> None:
    facility = await create(client, organization())
    born, unborn_date = await patients(
        client, {"birthDate": "1980-01-01", "name": named("Roe")}, {}
    )
    managed = await create(
        client, patient(managingOrganization={"reference": f"Organization/{facility['id']}"})
    )

    assert await found(client, "Patient", {"birthdate:missing": "true"}) == ids_of(
        unborn_date, managed
    )
    assert await found(client, "Patient", {"birthdate:missing": "false"}) == ids_of(born)
    assert await found(client, "Patient", {"name:missing": "false"}) == ids_of(born)
    assert await found(client, "Patient", {"gender:missing": "true"}) == ids_of(
        born, unborn_date, managed
    )
    assert await found(client, "Patient", {"organization:missing": "false"}) == ids_of(managed)


async def test_missing_takes_only_true_or_false(client: httpx.AsyncClient) -> None:
    response = await client.get("/Patient", params={"birthdate:missing": "maybe"})

    assert_outcome(response, 400, mentions="birthdate:missing")


async def test_updated_value_replaces_the_old_one_in_search(client: httpx.AsyncClient) -> None:
    stored = await create(
        client, patient(name=named("Alpha"), birthDate="1990-05-05", gender="male")
    )

    await update(client, {**stored, "name": named("Beta"), "birthDate": "1991-06-06"})

    assert await found(client, "Patient", {"family": "alpha"}) == set()
    assert await found(client, "Patient", {"family": "beta"}) == ids_of(stored)
    assert await found(client, "Patient", {"birthdate": "1990-05-05"}) == set()
    assert await found(client, "Patient", {"birthdate": "1991-06-06"}) == ids_of(stored)
    assert await found(client, "Patient", {"gender": "male"}) == ids_of(stored)


async def test_updated_reference_replaces_the_old_one_in_search(
    client: httpx.AsyncClient,
) -> None:
    facility = await create(client, organization())
    jane, john = await patients(client, {}, {})
    stored = await create(client, order(jane, facility))

    await update(client, {**stored, "subject": {"reference": f"Patient/{john['id']}"}})

    assert await found(client, "ServiceRequest", {"patient": jane["id"]}) == set()
    assert await found(client, "ServiceRequest", {"patient": john["id"]}) == ids_of(stored)


async def test_deleted_resource_matches_nothing(client: httpx.AsyncClient) -> None:
    kept, removed = await patients(
        client,
        {"name": named("Keep"), "gender": "other"},
        {"name": named("Gone"), "gender": "other"},
    )

    await delete(client, removed)

    assert await found(client, "Patient", {"gender": "other"}) == ids_of(kept)
    assert await found(client, "Patient", {"family": "gone"}) == set()
    assert await found(client, "Patient", {"_id": removed["id"]}) == set()
    assert await found(client, "Patient") == ids_of(kept)
    assert await found(client, "Patient", {"gender:not": "male"}) == ids_of(kept)
