"""String search (FHIR R4 search 3.1.1.4.7): starts-with by default, ignoring case and
accents; `:exact` (whole value, case- and accent-sensitive); `:contains`.

`name` searches every part of a HumanName; `family` and `given` only their own part.
"""

from __future__ import annotations

import httpx

from services.intake.tests.builders import named, organization, patients
from tests.support.rest import create, found, ids_of


async def _people(client: httpx.AsyncClient) -> tuple[dict, dict, dict, dict]:
    return tuple(  # type: ignore[return-value]
        await patients(
            client,
            {"name": named("Müller", "Jürgen", "Karl"), "address": [{"state": "NY"}]},
            {"name": named("Müllerson", "Anna"), "address": [{"state": "NJ"}]},
            {"name": named("muller", "Sam"), "address": [{"state": "CA"}]},
            {"name": named("de la Cruz", "María")},
        )
    )


async def test_default_match_is_case_and_accent_insensitive_starts_with(
    client: httpx.AsyncClient,
) -> None:
    muller, mullerson, lower_muller, _ = await _people(client)

    assert await found(client, "Patient", {"name": "muller"}) == ids_of(
        muller, mullerson, lower_muller
    )
    assert await found(client, "Patient", {"family": "MÜL"}) == ids_of(
        muller, mullerson, lower_muller
    )
    assert await found(client, "Patient", {"name": "ller"}) == set()


async def test_name_matches_any_part_of_the_name(client: httpx.AsyncClient) -> None:
    muller, mullerson, _, cruz = await _people(client)

    assert await found(client, "Patient", {"name": "jurgen"}) == ids_of(muller)
    assert await found(client, "Patient", {"name": "karl"}) == ids_of(muller)
    assert await found(client, "Patient", {"name": "maria,anna"}) == ids_of(cruz, mullerson)
    assert await found(client, "Patient", {"name": "de la"}) == ids_of(cruz)


async def test_family_and_given_search_only_their_own_part(client: httpx.AsyncClient) -> None:
    muller, *_ = await _people(client)

    assert await found(client, "Patient", {"given": "karl"}) == ids_of(muller)
    assert await found(client, "Patient", {"family": "karl"}) == set()
    assert await found(client, "Patient", {"given": "müller"}) == set()


async def test_exact_matches_the_whole_value_with_case_and_accents(
    client: httpx.AsyncClient,
) -> None:
    muller, _, lower_muller, _ = await _people(client)

    assert await found(client, "Patient", {"family:exact": "Müller"}) == ids_of(muller)
    assert await found(client, "Patient", {"family:exact": "muller"}) == ids_of(lower_muller)
    assert await found(client, "Patient", {"family:exact": "Muller"}) == set()
    assert await found(client, "Patient", {"family:exact": "Mül"}) == set()


async def test_contains_matches_anywhere_in_the_value(client: httpx.AsyncClient) -> None:
    muller, mullerson, lower_muller, cruz = await _people(client)

    assert await found(client, "Patient", {"family:contains": "LLER"}) == ids_of(
        muller, mullerson, lower_muller
    )
    assert await found(client, "Patient", {"name:contains": "cruz"}) == ids_of(cruz)
    assert await found(client, "Patient", {"name:contains": "erso"}) == ids_of(mullerson)


async def test_wildcard_characters_in_the_value_are_taken_literally(
    client: httpx.AsyncClient,
) -> None:
    await _people(client)

    assert await found(client, "Patient", {"name": "%"}) == set()
    assert await found(client, "Patient", {"name:contains": "_"}) == set()


async def test_address_state_matches_like_any_string(client: httpx.AsyncClient) -> None:
    muller, mullerson, _, _ = await _people(client)

    assert await found(client, "Patient", {"address-state": "ny"}) == ids_of(muller)
    assert await found(client, "Patient", {"address-state": "N"}) == ids_of(muller, mullerson)
    assert await found(client, "Patient", {"address-state:exact": "NJ"}) == ids_of(mullerson)


async def test_organization_name_matches_name_or_alias(client: httpx.AsyncClient) -> None:
    valley = await create(
        client, organization(name="Valley Imaging", alias=["St. Luke's Radiology"])
    )
    await create(client, organization(name="Hillside Clinic"))

    assert await found(client, "Organization", {"name": "valley"}) == ids_of(valley)
    assert await found(client, "Organization", {"name": "st. luke"}) == ids_of(valley)
