"""Searches the server cannot honour are refused with an OperationOutcome naming the cause,
unless the client asks for lenient handling (FHIR R4 search 3.1.1.3)."""

from __future__ import annotations

import httpx

from services.intake.tests.builders import named, patients
from tests.support.rest import assert_outcome, found, ids_of, search


async def test_unknown_parameter_is_refused_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/Patient", params={"family": "smith", "shoe-size": "42"})

    assert_outcome(response, 400, mentions="shoe-size")


async def test_unknown_parameter_is_ignored_with_lenient_handling(
    client: httpx.AsyncClient,
) -> None:
    smith, _ = await patients(client, {"name": named("Smith")}, {"name": named("Jones")})

    bundle = await search(
        client,
        "Patient",
        {"family": "smith", "shoe-size": "42"},
        headers={"Prefer": "handling=lenient"},
    )

    assert [e["resource"]["id"] for e in bundle["entry"]] == [smith["id"]]


async def test_strict_handling_refuses_unknown_parameters(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/Patient", params={"shoe-size": "42"}, headers={"Prefer": "handling=strict"}
    )

    assert_outcome(response, 400, mentions="shoe-size")


async def test_unsupported_modifier_is_refused_naming_it(client: httpx.AsyncClient) -> None:
    for name in (
        "gender:text",
        "family:below",
        "birthdate:exact",
        "organization:identifier",
        "subject:Organization",
        "name:not",
    ):
        resource_type = "ServiceRequest" if name.startswith("subject") else "Patient"
        response = await client.get(f"/{resource_type}", params={name: "x"})

        assert_outcome(response, 400, mentions=name)


async def test_unsupported_modifier_is_ignored_with_lenient_handling(
    client: httpx.AsyncClient,
) -> None:
    female, male = await patients(client, {"gender": "female"}, {"gender": "male"})

    bundle = await search(
        client,
        "Patient",
        {"gender:text": "female", "_sort": "_id"},
        headers={"Prefer": "handling=lenient"},
    )

    assert {e["resource"]["id"] for e in bundle["entry"]} == ids_of(female, male)


async def test_bad_result_parameters_are_refused(client: httpx.AsyncClient) -> None:
    for name, value in (
        ("_count", "-1"),
        ("_count", "ten"),
        ("_count", "²"),
        ("_sort", "shoe-size"),
        ("_sort", "organization"),
        ("_summary", "banana"),
        ("_total", "sometimes"),
        ("_elements", "name"),
    ):
        response = await client.get("/Patient", params={name: value})

        assert_outcome(response, 400, mentions=name)


async def test_search_of_a_type_not_served_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/Medication", params={"code": "x"})

    assert_outcome(response, 404, mentions="Medication")


async def test_escaped_comma_is_part_of_the_value(client: httpx.AsyncClient) -> None:
    comma, _ = await patients(client, {"name": named("Smith, Jr")}, {"name": named("Smith")})

    assert await found(client, "Patient", {"family:exact": "Smith\\, Jr"}) == ids_of(comma)


async def test_modifiers_are_refused_on_id_and_last_updated_except_id_not(
    client: httpx.AsyncClient,
) -> None:
    for key in ("_id:missing", "_id:exact", "_lastUpdated:missing"):
        response = await client.get("/Patient", params={key: "true"})
        assert_outcome(response, 400, mentions=key)
    assert (await client.get("/Patient", params={"_id:not": "x"})).status_code == 200


async def test_total_method_as_fhirpy_sends_it_is_read_as_total(
    client: httpx.AsyncClient,
) -> None:
    await patients(client, {"name": named("Ng")}, {"name": named("Ng")}, {"name": named("Ong")})

    page_two_params = {"family": "ng", "_count": "1", "_totalMethod": "count"}
    bundle = await search(client, "Patient", page_two_params)

    assert bundle["total"] == 2
    response = await client.get("/Patient", params={"_totalMethod": "guess"})
    assert_outcome(response, 400, mentions="_totalMethod")


async def test_control_characters_in_a_search_are_refused_not_sent_to_the_database(
    client: httpx.AsyncClient,
) -> None:
    # Found by the schemathesis run: PostgreSQL cannot compare text with NUL (was a 500).
    for query in ("code=2%00x", "status=active%01", "identifier%00=x"):
        assert_outcome(await client.get(f"/ServiceRequest?{query}"), 400)
