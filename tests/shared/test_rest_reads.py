"""FHIR REST reads (https://hl7.org/fhir/R4/http.html): read, vread, history, content
negotiation, the CapabilityStatement and the health endpoints."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.intake.tests.builders import organization, patient
from shared.settings import ServiceSettings
from tests.fixtures import BASE, client_for, start_app
from tests.support.rest import assert_outcome, create

INTAKE_TYPES = {"Patient", "Organization", "ServiceRequest", "ImagingStudy", "Endpoint"}

# -- read and vread -------------------------------------------------------------------


async def test_read_returns_the_current_version_with_its_etag(client: httpx.AsyncClient) -> None:
    created = await create(client, patient(gender="female"))

    response = await client.get(f"/Patient/{created['id']}")

    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["etag"] == 'W/"1"'
    assert "last-modified" in response.headers
    assert response.headers["content-type"].startswith("application/fhir+json")


async def test_read_of_an_unknown_id_is_404(client: httpx.AsyncClient) -> None:
    assert_outcome(await client.get("/Patient/never-made"), 404, code="not-found")


async def test_vread_returns_each_version_as_it_was(client: httpx.AsyncClient) -> None:
    pid = (await create(client, patient(gender="female")))["id"]
    await client.put(f"/Patient/{pid}", json=patient(id=pid, gender="male"))

    first = await client.get(f"/Patient/{pid}/_history/1")
    second = await client.get(f"/Patient/{pid}/_history/2")

    assert (first.status_code, first.json()["gender"]) == (200, "female")
    assert first.headers["etag"] == 'W/"1"'
    assert (second.status_code, second.json()["gender"]) == (200, "male")
    assert second.headers["etag"] == 'W/"2"'


@pytest.mark.parametrize("version", ["3", "latest", "\u00b2", "99999999999999999999"])
async def test_vread_of_a_version_that_does_not_exist_is_404(
    client: httpx.AsyncClient, version: str
) -> None:
    pid = (await create(client, patient()))["id"]

    assert_outcome(await client.get(f"/Patient/{pid}/_history/{version}"), 404)


# -- history --------------------------------------------------------------------------


async def test_instance_history_lists_versions_newest_first_with_request_and_response(
    client: httpx.AsyncClient,
) -> None:
    pid = (await create(client, patient(gender="female")))["id"]
    await client.put(f"/Patient/{pid}", json=patient(id=pid, gender="male"))
    await client.delete(f"/Patient/{pid}")

    response = await client.get(f"/Patient/{pid}/_history")

    assert response.status_code == 200
    bundle = response.json()
    assert (bundle["resourceType"], bundle["type"], bundle["total"]) == ("Bundle", "history", 3)
    deleted, updated, created = bundle["entry"]
    assert deleted["request"] == {"method": "DELETE", "url": f"Patient/{pid}"}
    assert "resource" not in deleted
    assert deleted["response"]["etag"] == 'W/"3"'
    assert updated["request"] == {"method": "PUT", "url": f"Patient/{pid}"}
    assert updated["resource"]["meta"]["versionId"] == "2"
    assert updated["response"]["status"].startswith("200")
    assert created["request"] == {"method": "POST", "url": "Patient"}
    assert created["resource"]["gender"] == "female"
    assert created["response"]["status"].startswith("201")
    assert created["fullUrl"] == f"{BASE}/Patient/{pid}"


async def test_instance_history_of_an_unknown_id_is_404(client: httpx.AsyncClient) -> None:
    assert_outcome(await client.get("/Patient/never-made/_history"), 404)


async def test_type_history_lists_every_version_of_that_type_only(
    client: httpx.AsyncClient,
) -> None:
    first = (await create(client, patient()))["id"]
    second = (await create(client, patient()))["id"]
    await client.put(f"/Patient/{first}", json=patient(id=first, gender="male"))
    await create(client, organization(name="Not a patient"))

    bundle = (await client.get("/Patient/_history")).json()

    assert bundle["total"] == 3
    seen = [(e["resource"]["id"], e["resource"]["meta"]["versionId"]) for e in bundle["entry"]]
    assert seen == [(first, "2"), (second, "1"), (first, "1")]


async def test_history_pages_with_count_and_next_links_cover_every_version_once(
    client: httpx.AsyncClient,
) -> None:
    pid = (await create(client, patient()))["id"]
    for gender in ("male", "female", "other", "unknown"):
        await client.put(f"/Patient/{pid}", json=patient(id=pid, gender=gender))

    pages = []
    url: str | None = f"/Patient/{pid}/_history?_count=2"
    while url is not None:
        bundle = (await client.get(url)).json()
        pages.append([e["resource"]["meta"]["versionId"] for e in bundle["entry"]])
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)

    assert pages == [["5", "4"], ["3", "2"], ["1"]]


async def test_history_with_count_0_gives_only_the_total(client: httpx.AsyncClient) -> None:
    await create(client, patient())
    await create(client, patient())

    response = await client.get("/Patient/_history", params={"_count": "0"})

    assert response.status_code == 200
    assert response.json()["total"] == 2
    assert "entry" not in response.json()  # FHIR JSON has no empty arrays


async def test_history_since_lists_only_versions_written_from_that_instant(
    client: httpx.AsyncClient,
) -> None:
    await create(client, patient(gender="female"))
    await asyncio.sleep(0.01)
    later = await create(client, patient(gender="male"))

    response = await client.get(
        "/Patient/_history", params={"_since": later["meta"]["lastUpdated"]}
    )

    bundle = response.json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == [later["id"]]
    assert bundle["total"] == 1


async def test_history_since_that_is_not_a_date_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/Patient/_history", params={"_since": "last tuesday"})

    assert_outcome(response, 400, expression="_since")


@pytest.mark.parametrize(
    "params",
    [{"_count": "-1"}, {"_count": "\u00b2"}, {"_page": "x"}, {"_page": "99999999999999999999"}],
)
async def test_history_with_a_malformed_count_or_page_is_400(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    await create(client, patient())

    assert_outcome(await client.get("/Patient/_history", params=params), 400)


# -- content negotiation --------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        ("application/fhir+json", "application/fhir+json"),
        ("application/json", "application/json"),
        ("*/*", "application/fhir+json"),
        ("application/fhir+xml, application/fhir+json;q=0.5", "application/fhir+json"),
    ],
)
async def test_a_client_accepting_json_gets_json(
    client: httpx.AsyncClient, accept: str, media_type: str
) -> None:
    pid = (await create(client, patient()))["id"]

    response = await client.get(f"/Patient/{pid}", headers={"Accept": accept})

    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.json()["id"] == pid


async def test_a_client_accepting_only_xml_gets_406(client: httpx.AsyncClient) -> None:
    pid = (await create(client, patient()))["id"]

    response = await client.get(f"/Patient/{pid}", headers={"Accept": "application/fhir+xml"})

    assert_outcome(response, 406)


@pytest.mark.parametrize(
    ("fmt", "status"),
    [("json", 200), ("xml", 406), ("application/fhir+xml", 406)],
)
async def test_format_parameter_chooses_json_or_is_refused(
    client: httpx.AsyncClient, fmt: str, status: int
) -> None:
    pid = (await create(client, patient()))["id"]

    response = await client.get(
        f"/Patient/{pid}", params={"_format": fmt}, headers={"Accept": "application/fhir+xml"}
    )

    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/fhir+json")


async def test_pretty_output_is_indented_and_equal_to_the_compact_one(
    client: httpx.AsyncClient,
) -> None:
    pid = (await create(client, patient(gender="female")))["id"]

    compact = await client.get(f"/Patient/{pid}")
    pretty = await client.get(f"/Patient/{pid}", params={"_pretty": "true"})

    assert "\n  " in pretty.text
    assert "\n" not in compact.text
    assert pretty.json() == compact.json()


# -- metadata and health --------------------------------------------------------------


async def test_metadata_describes_every_intake_type_without_authentication(
    intake_app: FastAPI,
) -> None:
    async with client_for(intake_app, headers={}) as anonymous:
        response = await anonymous.get("/metadata")

    assert response.status_code == 200
    statement = response.json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) == INTAKE_TYPES | {"Subscription"}
    for described in (resources[t] for t in INTAKE_TYPES):
        interactions = {i["code"] for i in described["interaction"]}
        assert {"read", "vread", "update", "delete", "create", "search-type"} <= interactions
        assert {"history-instance", "history-type"} <= interactions
        assert {"_id", "identifier"} <= {p["name"] for p in described["searchParam"]}
    topics = {e["valueCanonical"] for e in resources["Subscription"]["extension"]}
    assert any(t.endswith("/SubscriptionTopic/order-registered") for t in topics)
    assert {o["name"] for o in resources["Subscription"]["operation"]} == {"status", "events"}
    patient_params = {p["name"] for p in resources["Patient"]["searchParam"]}
    assert {"name", "birthdate", "gender", "organization"} <= patient_params


async def test_healthz_and_readyz_answer_200_on_a_migrated_database(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("http://testserver/healthz")).status_code == 200
    ready = await client.get("http://testserver/readyz")
    assert ready.status_code == 200


async def test_readyz_is_503_on_a_database_that_is_not_migrated(tmp_path: Path) -> None:
    settings = ServiceSettings(
        service_name="intake",
        database_url=f"sqlite+aiosqlite:///{tmp_path}/empty.db",
        events_enabled=False,
        audit_database_url=f"sqlite+aiosqlite:///{tmp_path}/empty-audit.db",
    )
    app, manager = await start_app("intake", settings)
    try:
        async with client_for(app, headers={}) as anonymous:
            live = await anonymous.get("http://testserver/healthz")
            ready = await anonymous.get("http://testserver/readyz")
    finally:
        await manager.__aexit__(None, None, None)

    assert live.status_code == 200
    assert_outcome(ready, 503)
