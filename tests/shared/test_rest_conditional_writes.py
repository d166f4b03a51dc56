"""Conditional FHIR REST writes (https://hl7.org/fhir/R4/http.html#cond-update): create
with If-None-Exist, update and delete by search criteria, and version-aware (If-Match)
updates racing each other, on Patient."""

from __future__ import annotations

import asyncio

import httpx

from services.intake.tests.builders import identifier, patient
from tests.support.rest import assert_outcome, create, versions_written


async def two_sharing_an_identifier(client: httpx.AsyncClient) -> list[str]:
    """Store two patients with the same identifier, urn:test:patient|shared; their ids."""
    return [(await create(client, patient(identifier=identifier("shared"))))["id"] for _ in "ab"]


# -- conditional create (If-None-Exist) -----------------------------------------------


async def test_conditional_create_without_a_match_creates(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/Patient",
        json=patient(identifier=identifier("p-1")),
        headers={"If-None-Exist": "identifier=urn:test:patient|p-1"},
    )

    assert response.status_code == 201
    assert await versions_written(client, "Patient") == 1


async def test_conditional_create_with_one_match_returns_it_and_creates_nothing(
    client: httpx.AsyncClient,
) -> None:
    existing = await create(client, patient(identifier=identifier("p-1"), gender="female"))

    response = await client.post(
        "/Patient",
        json=patient(identifier=identifier("p-1"), gender="male"),
        headers={"If-None-Exist": "identifier=urn:test:patient|p-1"},
    )

    assert response.status_code == 200
    assert response.json() == existing
    assert response.headers["etag"] == 'W/"1"'
    assert await versions_written(client, "Patient") == 1


async def test_conditional_create_matching_two_resources_is_412_and_creates_nothing(
    client: httpx.AsyncClient,
) -> None:
    await two_sharing_an_identifier(client)

    response = await client.post(
        "/Patient",
        json=patient(identifier=identifier("shared")),
        headers={"If-None-Exist": "identifier=urn:test:patient|shared"},
    )

    assert_outcome(response, 412)
    assert await versions_written(client, "Patient") == 2


async def test_conditional_create_with_unknown_criteria_is_400_and_creates_nothing(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/Patient", json=patient(), headers={"If-None-Exist": "no-such-param=1"}
    )

    assert_outcome(response, 400)
    assert await versions_written(client, "Patient") == 0


# -- conditional update and delete ----------------------------------------------------


async def test_conditional_update_without_a_match_creates(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/Patient",
        params={"identifier": "urn:test:patient|p-2"},
        json=patient(identifier=identifier("p-2")),
    )

    assert response.status_code == 201
    assert response.headers["etag"] == 'W/"1"'
    assert await versions_written(client, "Patient") == 1


async def test_conditional_update_with_one_match_updates_it(client: httpx.AsyncClient) -> None:
    pid = (await create(client, patient(identifier=identifier("p-2"), gender="female")))["id"]

    response = await client.put(
        "/Patient",
        params={"identifier": "urn:test:patient|p-2"},
        json=patient(identifier=identifier("p-2"), gender="male"),
    )

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["meta"]["versionId"]) == (pid, "2")
    assert (await client.get(f"/Patient/{pid}")).json()["gender"] == "male"


async def test_conditional_update_matching_several_is_412_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    await two_sharing_an_identifier(client)

    response = await client.put(
        "/Patient",
        params={"identifier": "urn:test:patient|shared"},
        json=patient(identifier=identifier("shared"), gender="male"),
    )

    assert_outcome(response, 412)
    assert await versions_written(client, "Patient") == 2


async def test_conditional_update_without_criteria_is_400(client: httpx.AsyncClient) -> None:
    assert_outcome(await client.put("/Patient", json=patient()), 400)
    assert await versions_written(client, "Patient") == 0


async def test_conditional_delete_removes_the_one_match(client: httpx.AsyncClient) -> None:
    pid = (await create(client, patient(identifier=identifier("p-3"))))["id"]
    kept = (await create(client, patient(identifier=identifier("p-4"))))["id"]

    response = await client.delete("/Patient", params={"identifier": "urn:test:patient|p-3"})

    assert response.status_code == 204
    assert_outcome(await client.get(f"/Patient/{pid}"), 410)
    assert (await client.get(f"/Patient/{kept}")).status_code == 200


async def test_conditional_delete_without_a_match_succeeds_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    await create(client, patient(identifier=identifier("p-3")))

    response = await client.delete("/Patient", params={"identifier": "urn:test:patient|none"})

    assert response.status_code == 204
    assert await versions_written(client, "Patient") == 1


async def test_conditional_delete_matching_several_is_412_and_deletes_none(
    client: httpx.AsyncClient,
) -> None:
    ids = await two_sharing_an_identifier(client)

    response = await client.delete("/Patient", params={"identifier": "urn:test:patient|shared"})

    assert_outcome(response, 412)
    for pid in ids:
        assert (await client.get(f"/Patient/{pid}")).status_code == 200


# -- concurrency ----------------------------------------------------------------------


async def test_two_concurrent_updates_with_the_same_if_match_let_exactly_one_win(
    client: httpx.AsyncClient,
) -> None:
    pid = (await create(client, patient()))["id"]

    responses = await asyncio.gather(
        *(
            client.put(
                f"/Patient/{pid}",
                json=patient(id=pid, gender=gender),
                headers={"If-Match": 'W/"1"'},
            )
            for gender in ("male", "female")
        )
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 412], [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 200)
    current = (await client.get(f"/Patient/{pid}")).json()
    assert current["meta"]["versionId"] == "2"
    assert current["gender"] == winner.json()["gender"]
    assert await versions_written(client, "Patient") == 2


async def test_two_concurrent_updates_without_if_match_both_apply_one_after_the_other(
    client: httpx.AsyncClient,
) -> None:
    pid = (await create(client, patient()))["id"]

    responses = await asyncio.gather(
        *(client.put(f"/Patient/{pid}", json=patient(id=pid, gender=g)) for g in ("male", "female"))
    )

    assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
    assert sorted(r.headers["etag"] for r in responses) == ['W/"2"', 'W/"3"']
    history = (await client.get(f"/Patient/{pid}/_history")).json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["3", "2", "1"]
