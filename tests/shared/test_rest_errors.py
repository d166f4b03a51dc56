"""Failures of the FHIR REST API: each is an OperationOutcome with the right status, names
the element at fault, never carries a stack trace, and leaves nothing stored."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from services.intake.tests.builders import order, organization, patient, study
from shared.settings import ServiceSettings
from tests.fixtures import AUTH, client_for, start_app
from tests.support.rest import assert_outcome, create, versions_written

# -- the body: media type, JSON, resource shape ----------------------------------------


@pytest.mark.parametrize("media_type", ["text/plain", "application/fhir+xml"])
async def test_a_body_that_is_not_fhir_json_is_415_and_stores_nothing(
    client: httpx.AsyncClient, media_type: str
) -> None:
    pid = (await create(client, patient()))["id"]
    body = orjson.dumps(patient(id=pid, gender="male"))
    headers = {"Content-Type": media_type}

    created = await client.post("/Patient", content=body, headers=headers)
    updated = await client.put(f"/Patient/{pid}", content=body, headers=headers)

    assert_outcome(created, 415)
    assert_outcome(updated, 415)
    assert await versions_written(client, "Patient") == 1


async def test_json_media_types_with_parameters_are_accepted(client: httpx.AsyncClient) -> None:
    for media_type in ("application/fhir+json; charset=utf-8", "application/json"):
        response = await client.post(
            "/Patient", content=orjson.dumps(patient()), headers={"Content-Type": media_type}
        )
        assert response.status_code == 201, media_type


@pytest.mark.parametrize(
    "body",
    [b'{"resourceType": "Patient",', b"", b'[{"resourceType": "Patient"}]'],
    ids=["malformed", "empty", "array"],
)
async def test_a_body_that_is_not_a_json_object_is_400_and_stores_nothing(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await client.post(
        "/Patient", content=body, headers={"Content-Type": "application/fhir+json"}
    )

    assert_outcome(response, 400)
    assert await versions_written(client, "Patient") == 0


@pytest.mark.parametrize(
    "body",
    [{"gender": "male"}, {"resourceType": "Organization"}, {"resourceType": "NotAType"}],
    ids=["missing", "another-type", "unknown-type"],
)
async def test_a_missing_or_wrong_resource_type_is_400(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post("/Patient", json=body)

    assert_outcome(response, 400, expression="resourceType")
    assert await versions_written(client, "Patient") == 0
    assert await versions_written(client, "Organization") == 0


@pytest.mark.parametrize(
    ("elements", "expression"),
    [
        ({"birthDate": "x"}, "Patient.birthDate"),
        ({"gender": "bogus"}, "Patient.gender"),
        ({"favouriteColour": "blue"}, "Patient.favouriteColour"),
        ({"name": [{"family": 7}]}, "Patient.name[0].family"),
        ({"name": {"family": "Doe"}}, "Patient.name"),
    ],
    ids=["bad-date", "bad-code", "unknown-element", "wrong-type", "not-a-list"],
)
async def test_an_invalid_element_is_refused_naming_it_on_create_and_update(
    client: httpx.AsyncClient, elements: dict[str, Any], expression: str
) -> None:
    pid = (await create(client, patient(gender="female")))["id"]

    created = await client.post("/Patient", json=patient(**elements))
    updated = await client.put(f"/Patient/{pid}", json=patient(id=pid, **elements))

    for response in (created, updated):
        assert_outcome(response, 400, expression=expression)
    assert await versions_written(client, "Patient") == 1
    assert (await client.get(f"/Patient/{pid}")).json()["gender"] == "female"


async def test_error_diagnostics_never_echo_the_submitted_value(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/Patient", json=patient(birthDate="SECRET-1970"))

    assert_outcome(response, 400, expression="Patient.birthDate")
    assert "SECRET" not in response.text


# -- what is addressed: types, paths, methods -----------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/Observation"),
        ("POST", "/Observation"),
        ("PUT", "/NotAType/1"),
    ],
)
async def test_a_resource_type_not_served_here_is_404(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, json={"resourceType": path.split("/")[1]})

    assert_outcome(response, 404, code="not-found")


@pytest.mark.parametrize(
    "url", ["http://testserver/nowhere", "/Patient/1/_history/1/more", "/Patient/1/$everything"]
)
async def test_a_get_on_an_unknown_path_is_404(client: httpx.AsyncClient, url: str) -> None:
    response = await client.get(url)

    assert_outcome(response, 404)
    assert "not served" not in response.text


@pytest.mark.parametrize(
    ("method", "suffix"), [("PATCH", ""), ("POST", ""), ("DELETE", "/_history/1")]
)
async def test_a_method_not_offered_on_a_patient_path_is_405_and_changes_nothing(
    client: httpx.AsyncClient, method: str, suffix: str
) -> None:
    pid = (await create(client, patient()))["id"]

    response = await client.request(method, f"/Patient/{pid}{suffix}", json=patient(id=pid))

    assert_outcome(response, 405)
    assert await versions_written(client, "Patient") == 1


# -- authentication ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic ZGV2OmRldg=="}],
    ids=["missing", "invalid", "not-bearer"],
)
async def test_a_request_without_a_valid_bearer_token_is_401_and_stores_nothing(
    intake_app: FastAPI, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    async with client_for(intake_app, headers=headers) as anonymous:
        read = await anonymous.get("/Patient")
        written = await anonymous.post("/Patient", json=patient())

    for response in (read, written):
        assert_outcome(response, 401, code="login")
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert await versions_written(client, "Patient") == 0


# -- size -----------------------------------------------------------------------------


@pytest.fixture
async def small_client(
    make_settings: Callable[..., ServiceSettings],
) -> AsyncIterator[httpx.AsyncClient]:
    """An intake client whose app refuses bodies over 2 KiB."""
    app, manager = await start_app("intake", make_settings("intake", max_request_bytes=2048))
    try:
        async with client_for(app, headers=AUTH) as http:
            yield http
    finally:
        await manager.__aexit__(None, None, None)


async def test_a_body_over_the_size_limit_is_413_and_stores_nothing(
    small_client: httpx.AsyncClient,
) -> None:
    big = patient(name=[{"text": "x" * 4000}])

    declared = await small_client.post("/Patient", json=big)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: sent chunked
        yield orjson.dumps(big)

    streamed = await small_client.post(
        "/Patient", content=chunks(), headers={"Content-Type": "application/fhir+json"}
    )

    assert_outcome(declared, 413)
    assert_outcome(streamed, 413)
    assert await versions_written(small_client, "Patient") == 0
    assert (await small_client.post("/Patient", json=patient())).status_code == 201


# -- content negotiation on writes -------------------------------------------------------


async def test_a_write_whose_answer_cannot_be_json_is_406_and_stores_nothing(
    client: httpx.AsyncClient,
) -> None:
    pid = (await create(client, patient(gender="female")))["id"]
    xml_only = {"Accept": "application/fhir+xml"}

    created = await client.post("/Patient", json=patient(), headers=xml_only)
    updated = await client.put(f"/Patient/{pid}", json=patient(id=pid), headers=xml_only)
    formatted = await client.post("/Patient", json=patient(), params={"_format": "xml"})

    for response in (created, updated, formatted):
        assert_outcome(response, 406)
    assert await versions_written(client, "Patient") == 1
    assert (await client.get(f"/Patient/{pid}")).json()["gender"] == "female"


# -- references to resources that do not exist ------------------------------------------


async def test_an_order_for_a_patient_that_does_not_exist_is_422_naming_the_subject(
    client: httpx.AsyncClient,
) -> None:
    facility = (await create(client, organization(name="Clinic")))["id"]

    response = await client.post(
        "/ServiceRequest", json=order("Patient/no-such-patient", f"Organization/{facility}")
    )

    assert_outcome(response, 422, code="business-rule", expression="ServiceRequest.subject")
    assert await versions_written(client, "ServiceRequest") == 0


async def test_a_study_of_a_patient_that_does_not_exist_is_422_naming_the_subject(
    client: httpx.AsyncClient,
) -> None:
    facility = (await create(client, organization(name="Clinic")))["id"]
    pid = (await create(client, patient()))["id"]
    stored_order = await create(client, order(f"Patient/{pid}", f"Organization/{facility}"))

    response = await client.post(
        "/ImagingStudy", json=study(stored_order, "Patient/no-such-patient")
    )

    assert_outcome(response, 422, code="business-rule", expression="ImagingStudy.subject")
    assert await versions_written(client, "ImagingStudy") == 0


async def test_a_reference_to_a_deleted_patient_is_refused(client: httpx.AsyncClient) -> None:
    facility = (await create(client, organization(name="Clinic")))["id"]
    pid = (await create(client, patient()))["id"]
    await client.delete(f"/Patient/{pid}")

    response = await client.post(
        "/ServiceRequest", json=order(f"Patient/{pid}", f"Organization/{facility}")
    )

    assert_outcome(response, 422, expression="ServiceRequest.subject")


async def test_an_update_passing_on_a_reference_unchanged_is_not_asked_again(
    client: httpx.AsyncClient,
) -> None:
    """A reference the stored version holds was checked when written: an update keeping it
    (e.g. a reader's status change passing on what only the platform could name) is not
    refused for it; a new reference still is."""
    facility = (await create(client, organization(name="Clinic")))["id"]
    pid = (await create(client, patient()))["id"]
    stored = await create(client, order(f"Patient/{pid}", f"Organization/{facility}"))
    await client.delete(f"/Patient/{pid}")

    kept = await client.put(f"/ServiceRequest/{stored['id']}", json={**stored, "status": "on-hold"})
    changed = await client.put(
        f"/ServiceRequest/{stored['id']}",
        json={**stored, "subject": {"reference": "Patient/no-such-patient"}},
    )

    assert kept.status_code == 200, kept.text
    assert_outcome(changed, 422, code="business-rule", expression="ServiceRequest.subject")


async def test_control_characters_in_strings_are_refused_naming_the_element(
    client: httpx.AsyncClient,
) -> None:
    before = await versions_written(client, "Patient")
    body = {"resourceType": "Patient", "name": [{"family": "Nul\u0000l", "given": ["Bell\u0007"]}]}

    response = await client.post("/Patient", json=body)

    assert_outcome(response, 400, expression="Patient.name[0].family")
    assert_outcome(response, 400, expression="Patient.name[0].given[0]")
    assert await versions_written(client, "Patient") == before
    tab_and_newline = {"resourceType": "Patient", "name": [{"text": "A\tB\r\nC"}]}
    assert (await client.post("/Patient", json=tab_and_newline)).status_code == 201
