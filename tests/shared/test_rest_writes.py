"""FHIR REST writes (https://hl7.org/fhir/R4/http.html): create, update and delete, with
Prefer, If-Match and meta handling, on Patient and Organization."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx

from services.intake.tests.builders import organization, patient
from tests.fixtures import BASE
from tests.support.rest import assert_outcome, create, versions_written

# -- create ---------------------------------------------------------------------------


async def test_create_answers_201_with_versioned_location_etag_and_last_modified(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/Patient", json=patient(gender="female"))

    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"{BASE}/Patient/{body['id']}/_history/1"
    assert response.headers["etag"] == 'W/"1"'
    last_modified = parsedate_to_datetime(response.headers["last-modified"])
    last_updated = datetime.fromisoformat(body["meta"]["lastUpdated"])
    assert last_modified == last_updated.replace(microsecond=0)
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert body["gender"] == "female"


async def test_create_assigns_its_own_id_and_ignores_the_one_in_the_body(
    client: httpx.AsyncClient,
) -> None:
    created = await create(client, patient(id="chosen-by-client"))

    assert created["id"] != "chosen-by-client"
    assert (await client.get(f"/Patient/{created['id']}")).status_code == 200
    assert (await client.get("/Patient/chosen-by-client")).status_code == 404


async def test_create_sets_version_and_last_updated_ignoring_client_meta_values(
    client: httpx.AsyncClient,
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    tag = {"system": "urn:test:tag", "code": "kept"}
    sent_meta = {"versionId": "99", "lastUpdated": "2000-01-01T00:00:00Z", "tag": [tag]}

    created = await create(client, organization(name="Clinic", meta=sent_meta))

    assert created["meta"]["versionId"] == "1"
    assert before <= datetime.fromisoformat(created["meta"]["lastUpdated"]) <= datetime.now(UTC)
    assert created["meta"]["tag"] == [tag]


async def test_create_with_prefer_minimal_returns_no_body_but_the_headers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/Patient", json=patient(), headers={"Prefer": "return=minimal"})

    assert response.status_code == 201
    assert response.content == b""
    assert response.headers["location"].startswith(f"{BASE}/Patient/")
    assert response.headers["etag"] == 'W/"1"'
    assert "last-modified" in response.headers
    assert (await client.get(response.headers["location"])).status_code == 200


async def test_create_with_prefer_operation_outcome_returns_an_informational_outcome(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/Patient", json=patient(), headers={"Prefer": "return=OperationOutcome"}
    )

    assert response.status_code == 201
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert [i["severity"] for i in outcome["issue"]] == ["information"]
    assert response.headers["location"].endswith("/_history/1")


async def test_create_with_prefer_representation_returns_the_stored_resource(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/Patient", json=patient(gender="male"), headers={"Prefer": "return=representation"}
    )

    assert response.status_code == 201
    read = await client.get(f"/Patient/{response.json()['id']}")
    assert response.json() == read.json()


# -- update ---------------------------------------------------------------------------


async def test_update_writes_version_2_with_a_new_etag_and_history_keeps_both(
    client: httpx.AsyncClient,
) -> None:
    created = await create(client, patient(gender="female"))
    pid = created["id"]

    response = await client.put(f"/Patient/{pid}", json=patient(id=pid, gender="other"))

    assert response.status_code == 200
    assert response.json()["meta"]["versionId"] == "2"
    assert response.json()["gender"] == "other"
    assert response.headers["etag"] == 'W/"2"'
    assert response.headers["location"] == f"{BASE}/Patient/{pid}/_history/2"
    history = (await client.get(f"/Patient/{pid}/_history")).json()
    assert [e["resource"]["gender"] for e in history["entry"]] == ["other", "female"]
    assert (await client.get(f"/Patient/{pid}")).json()["gender"] == "other"


async def test_update_with_the_current_version_in_if_match_succeeds(
    client: httpx.AsyncClient,
) -> None:
    pid = (await create(client, patient()))["id"]

    response = await client.put(
        f"/Patient/{pid}", json=patient(id=pid, gender="male"), headers={"If-Match": 'W/"1"'}
    )

    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"2"'


async def test_update_with_a_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    pid = (await create(client, patient(gender="female")))["id"]
    await client.put(f"/Patient/{pid}", json=patient(id=pid, gender="male"))

    response = await client.put(
        f"/Patient/{pid}", json=patient(id=pid, gender="other"), headers={"If-Match": 'W/"1"'}
    )

    assert_outcome(response, 412)
    current = (await client.get(f"/Patient/{pid}")).json()
    assert (current["meta"]["versionId"], current["gender"]) == ("2", "male")


async def test_update_with_a_malformed_if_match_is_400(client: httpx.AsyncClient) -> None:
    pid = (await create(client, patient()))["id"]

    response = await client.put(
        f"/Patient/{pid}", json=patient(id=pid), headers={"If-Match": "yesterday"}
    )

    assert_outcome(response, 400)
    assert await versions_written(client, "Patient") == 1


async def test_update_whose_body_id_differs_from_the_url_or_is_missing_is_400(
    client: httpx.AsyncClient,
) -> None:
    pid = (await create(client, patient()))["id"]

    other_id = await client.put(f"/Patient/{pid}", json=patient(id="someone-else"))
    no_id = await client.put(f"/Patient/{pid}", json=patient())

    assert_outcome(other_id, 400, expression="Patient.id")
    assert_outcome(no_id, 400, expression="Patient.id")
    assert await versions_written(client, "Patient") == 1


async def test_update_of_an_id_never_created_is_405_and_creates_nothing(
    client: httpx.AsyncClient,
) -> None:
    response = await client.put("/Patient/never-made", json=patient(id="never-made"))

    assert_outcome(response, 405)
    assert (await client.get("/Patient/never-made")).status_code == 404
    assert await versions_written(client, "Patient") == 0


# -- delete ---------------------------------------------------------------------------


async def test_delete_is_204_then_read_is_410_and_the_old_version_stays_readable(
    client: httpx.AsyncClient,
) -> None:
    pid = (await create(client, patient(gender="female")))["id"]

    response = await client.delete(f"/Patient/{pid}")

    assert response.status_code == 204
    assert response.content == b""
    assert_outcome(await client.get(f"/Patient/{pid}"), 410)
    old = await client.get(f"/Patient/{pid}/_history/1")
    assert old.status_code == 200
    assert old.json()["gender"] == "female"
    assert_outcome(await client.get(f"/Patient/{pid}/_history/2"), 410)


async def test_deleting_an_already_deleted_resource_succeeds_and_writes_nothing_more(
    client: httpx.AsyncClient,
) -> None:
    pid = (await create(client, patient()))["id"]
    await client.delete(f"/Patient/{pid}")

    again = await client.delete(f"/Patient/{pid}")

    assert again.status_code == 204
    assert await versions_written(client, "Patient") == 2


async def test_delete_with_a_stale_if_match_is_412_and_keeps_the_resource(
    client: httpx.AsyncClient,
) -> None:
    pid = (await create(client, patient()))["id"]
    await client.put(f"/Patient/{pid}", json=patient(id=pid, gender="male"))

    response = await client.delete(f"/Patient/{pid}", headers={"If-Match": 'W/"1"'})

    assert_outcome(response, 412)
    assert (await client.get(f"/Patient/{pid}")).status_code == 200
    matching = await client.delete(f"/Patient/{pid}", headers={"If-Match": 'W/"2"'})
    assert matching.status_code == 204


async def test_delete_of_an_unknown_id_is_404(client: httpx.AsyncClient) -> None:
    assert_outcome(await client.delete("/Patient/never-made"), 404)


async def test_update_after_delete_brings_the_resource_back_as_a_new_version(
    client: httpx.AsyncClient,
) -> None:
    pid = (await create(client, patient(gender="female")))["id"]
    await client.delete(f"/Patient/{pid}")

    response = await client.put(f"/Patient/{pid}", json=patient(id=pid, gender="male"))

    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"3"'
    read = await client.get(f"/Patient/{pid}")
    assert (read.status_code, read.json()["gender"]) == (200, "male")
