"""Transaction and batch Bundles, as https://hl7.org/fhir/R4/http.html#transaction has them.

Driven through the intake service, whose orders and studies reference each other: a
transaction either stores all its entries or none; a batch runs each entry on its own.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from services.intake.tests.builders import (
    MRN_SYSTEM,
    NPI_SYSTEM,
    bundle,
    facility,
    order,
    post_entry,
    put_entry,
    registered_patient,
    request_entry,
    study,
)
from tests.support.rest import count, create, post_at_once

PATIENT_URN = "urn:uuid:9c6a2f0e-3a51-4d7e-8f0a-2b1c3d4e5f01"
FACILITY_URN = "urn:uuid:9c6a2f0e-3a51-4d7e-8f0a-2b1c3d4e5f02"
ORDER_URN = "urn:uuid:9c6a2f0e-3a51-4d7e-8f0a-2b1c3d4e5f03"
STUDY_URN = "urn:uuid:9c6a2f0e-3a51-4d7e-8f0a-2b1c3d4e5f04"


def exam_entries() -> list[dict[str, Any]]:
    """Study, order, facility, patient -- each entry before the ones it references."""
    return [
        post_entry(study(ORDER_URN, PATIENT_URN), STUDY_URN),
        post_entry(order(PATIENT_URN, FACILITY_URN), ORDER_URN),
        post_entry(facility(), FACILITY_URN),
        post_entry(registered_patient(), PATIENT_URN),
    ]


async def stored_counts(client: httpx.AsyncClient) -> dict[str, int]:
    types = ("Patient", "Organization", "ServiceRequest", "ImagingStudy")
    return {t: await count(client, t) for t in types}


def statuses(response: httpx.Response) -> list[str]:
    return [e["response"]["status"] for e in response.json()["entry"]]


# -- transaction ------------------------------------------------------------------------


async def test_a_transaction_stores_linked_entries_and_rewrites_urn_references(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("", json=bundle("transaction", *exam_entries()))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Bundle"
    assert body["type"] == "transaction-response"
    entries = body["entry"]
    assert statuses(response) == ["201 Created"] * 4
    created_study, created_order, created_facility, created_patient = (
        e["resource"] for e in entries
    )
    for entry in entries:
        resource = entry["resource"]
        location = f"{resource['resourceType']}/{resource['id']}/_history/1"
        assert entry["response"]["location"].endswith(location)
        assert entry["response"]["etag"] == 'W/"1"'
        assert entry["response"]["lastModified"] == resource["meta"]["lastUpdated"]

    patient_ref = f"Patient/{created_patient['id']}"
    order_ref = f"ServiceRequest/{created_order['id']}"
    assert created_order["subject"] == {"reference": patient_ref}
    assert created_order["requester"] == {"reference": f"Organization/{created_facility['id']}"}
    assert created_study["basedOn"] == [{"reference": order_ref}]
    assert created_study["subject"] == {"reference": patient_ref}
    # What was answered is what is stored.
    stored_study = (await client.get(f"/ImagingStudy/{created_study['id']}")).json()
    assert stored_study == created_study
    assert await count(client, "ImagingStudy", basedon=order_ref, patient=patient_ref) == 1


async def test_a_transaction_with_one_invalid_entry_stores_nothing(
    client: httpx.AsyncClient,
) -> None:
    entries = exam_entries()
    del entries[1]["resource"]["code"]  # the order lacks its exam code
    response = await client.post("", json=bundle("transaction", *entries))
    assert response.status_code == 422, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert issue["severity"] == "error"
    assert issue["expression"] == ["Bundle.entry[1].resource.code"]
    assert await stored_counts(client) == dict.fromkeys(
        ("Patient", "Organization", "ServiceRequest", "ImagingStudy"), 0
    )


async def test_a_structurally_invalid_entry_is_named_in_the_outcome(
    client: httpx.AsyncClient,
) -> None:
    entries = exam_entries()
    entries[3]["resource"]["gender"] = "f"
    response = await client.post("", json=bundle("transaction", *entries))
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[3].resource.gender"]
    assert await count(client, "Patient") == 0


async def test_a_conditional_create_that_matches_links_to_the_existing_resource(
    client: httpx.AsyncClient,
) -> None:
    existing = await create(client, facility(npi="1972514830"))
    stored_patient = await create(client, registered_patient())
    entries = [
        post_entry(
            order(f"Patient/{stored_patient['id']}", FACILITY_URN),
            ORDER_URN,
        ),
        post_entry(
            facility(npi="1972514830", name="Lakeside Imaging (as the EHR spells it)"),
            FACILITY_URN,
            ifNoneExist=f"identifier={NPI_SYSTEM}|1972514830",
        ),
    ]
    response = await client.post("", json=bundle("transaction", *entries))
    assert response.status_code == 200, response.text
    assert statuses(response) == ["201 Created", "200 OK"]
    created_order, matched = (e["resource"] for e in response.json()["entry"])
    assert matched["id"] == existing["id"]
    assert matched["name"] == existing["name"]
    assert created_order["requester"] == {"reference": f"Organization/{existing['id']}"}
    assert await count(client, "Organization") == 1


async def test_a_conditional_create_without_match_creates(client: httpx.AsyncClient) -> None:
    entries = [
        post_entry(facility(npi="1588667638"), ifNoneExist=f"identifier={NPI_SYSTEM}|1588667638"),
    ]
    response = await client.post("", json=bundle("transaction", *entries))
    assert response.status_code == 200, response.text
    assert statuses(response) == ["201 Created"]
    assert await count(client, "Organization") == 1


async def test_transactions_with_the_same_conditional_create_at_once_make_one(
    intake_app: FastAPI, client: httpx.AsyncClient
) -> None:
    stored_patient = await create(client, registered_patient())
    condition = f"identifier={NPI_SYSTEM}|1093817465"

    transactions = [
        bundle(
            "transaction",
            post_entry(order(f"Patient/{stored_patient['id']}", FACILITY_URN, f"ACC-91{i:02d}")),
            post_entry(facility(npi="1093817465"), FACILITY_URN, ifNoneExist=condition),
        )
        for i in range(5)
    ]
    responses = await post_at_once(intake_app, "", transactions)
    assert [r.status_code for r in responses] == [200] * 5, [r.text for r in responses]
    assert await count(client, "Organization") == 1
    facility_id = (await client.get("/Organization")).json()["entry"][0]["resource"]["id"]
    assert await count(client, "ServiceRequest", requester=f"Organization/{facility_id}") == 5


async def test_conditional_references_resolve_to_the_one_match(
    client: httpx.AsyncClient,
) -> None:
    stored_patient = await create(client, registered_patient(mrn="MRN-4242"))
    stored_facility = await create(client, facility(npi="1467524215"))
    resource = order(
        f"Patient?identifier={MRN_SYSTEM}|MRN-4242",
        f"Organization?identifier={NPI_SYSTEM}|1467524215",
    )
    response = await client.post("", json=bundle("transaction", post_entry(resource)))
    assert response.status_code == 200, response.text
    created = response.json()["entry"][0]["resource"]
    assert created["subject"] == {"reference": f"Patient/{stored_patient['id']}"}
    assert created["requester"] == {"reference": f"Organization/{stored_facility['id']}"}


async def test_a_conditional_reference_matching_nothing_fails_the_transaction(
    client: httpx.AsyncClient,
) -> None:
    stored_facility = await create(client, facility())
    resource = order(
        f"Patient?identifier={MRN_SYSTEM}|MRN-NOBODY", f"Organization/{stored_facility['id']}"
    )
    response = await client.post(
        "", json=bundle("transaction", post_entry(registered_patient()), post_entry(resource))
    )
    assert response.status_code == 404, response.text
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[1].resource.subject"]
    assert await count(client, "Patient") == 0


async def test_entries_run_as_delete_post_put_get_whatever_their_order(
    client: httpx.AsyncClient,
) -> None:
    to_update = await create(client, registered_patient(mrn="MRN-UPDATE", family="Old"))
    to_delete = await create(client, registered_patient(mrn="MRN-DELETE"))
    search = f"Patient?identifier={MRN_SYSTEM}|"
    entries = [
        request_entry("GET", search + "MRN-NEW"),
        request_entry("GET", search + "MRN-DELETE"),
        request_entry("GET", f"Patient/{to_update['id']}"),
        put_entry({**to_update, "name": [{"family": "New"}]}),
        post_entry(registered_patient(mrn="MRN-NEW")),
        request_entry("DELETE", f"Patient/{to_delete['id']}"),
    ]
    response = await client.post("", json=bundle("transaction", *entries))
    assert response.status_code == 200, response.text
    assert statuses(response) == ["200 OK"] * 4 + ["201 Created", "204 No Content"]
    found_new, found_deleted, read_updated = (e["resource"] for e in response.json()["entry"][:3])
    assert found_new["type"] == "searchset"
    assert found_new["total"] == 1  # the GET saw the POST
    assert found_deleted["total"] == 0  # ... and the DELETE
    assert read_updated["name"] == [{"family": "New"}]  # ... and the PUT
    assert read_updated["meta"]["versionId"] == "2"


async def update_and_delete_entries(
    client: httpx.AsyncClient, delete_if_match: str
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """Two stored patients, and entries updating the first If-Match its version and deleting
    the second If-Match `delete_if_match`."""
    to_update = await create(client, registered_patient(mrn="MRN-A"))
    to_delete = await create(client, registered_patient(mrn="MRN-B"))
    entries = [
        put_entry({**to_update, "gender": "other"}, ifMatch='W/"1"'),
        request_entry("DELETE", f"Patient/{to_delete['id']}", ifMatch=delete_if_match),
    ]
    return to_update, to_delete, entries


async def test_put_and_delete_entries_honour_if_match(client: httpx.AsyncClient) -> None:
    _, to_delete, entries = await update_and_delete_entries(client, delete_if_match='W/"1"')
    response = await client.post("", json=bundle("transaction", *entries))
    assert response.status_code == 200, response.text
    assert statuses(response) == ["200 OK", "204 No Content"]
    assert response.json()["entry"][0]["response"]["etag"] == 'W/"2"'
    assert (await client.get(f"/Patient/{to_delete['id']}")).status_code == 410


async def test_a_stale_if_match_fails_the_whole_transaction(client: httpx.AsyncClient) -> None:
    to_update, to_delete, entries = await update_and_delete_entries(client, delete_if_match='W/"7"')
    response = await client.post("", json=bundle("transaction", *entries))
    assert response.status_code == 412, response.text
    assert response.json()["issue"][0]["expression"][0].startswith("Bundle.entry[1]")
    unchanged = (await client.get(f"/Patient/{to_update['id']}")).json()
    assert unchanged["gender"] == "female"
    assert unchanged["meta"]["versionId"] == "1"
    assert (await client.get(f"/Patient/{to_delete['id']}")).status_code == 200


async def test_a_urn_reference_to_no_entry_is_refused(client: httpx.AsyncClient) -> None:
    stored_facility = await create(client, facility())
    resource = order(PATIENT_URN, f"Organization/{stored_facility['id']}")
    response = await client.post(
        "", json=bundle("transaction", post_entry(registered_patient()), post_entry(resource))
    )
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[1].resource.subject"]
    assert await count(client, "Patient") == 0


async def test_a_transaction_answers_minimal_when_asked(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "",
        json=bundle("transaction", *exam_entries()),
        headers={"Prefer": "return=minimal"},
    )
    assert response.status_code == 200, response.text
    for entry in response.json()["entry"]:
        assert "resource" not in entry
        assert entry["response"]["status"] == "201 Created"
        assert "/_history/1" in entry["response"]["location"]
    assert await count(client, "ImagingStudy") == 1


async def test_a_transaction_may_be_posted_to_the_base_url_without_slash(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "http://testserver/fhir", json=bundle("transaction", post_entry(registered_patient()))
    )
    assert response.status_code == 200, response.text
    assert statuses(response) == ["201 Created"]


# -- batch ------------------------------------------------------------------------------


async def test_a_batch_stores_the_good_entries_and_reports_the_bad_one(
    client: httpx.AsyncClient,
) -> None:
    stored_patient = await create(client, registered_patient())
    stored_facility = await create(client, facility())
    patient_ref = f"Patient/{stored_patient['id']}"
    facility_ref = f"Organization/{stored_facility['id']}"
    entries = [
        post_entry(order(patient_ref, facility_ref, "ACC-9001")),
        post_entry(order(patient_ref, facility_ref, "ACC-9002", code=None)),
        post_entry(order(patient_ref, facility_ref, "ACC-9003")),
        request_entry("GET", "Patient/no-such-patient"),
    ]
    response = await client.post("", json=bundle("batch", *entries))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "batch-response"
    assert [s.split()[0] for s in statuses(response)] == ["201", "422", "201", "404"]
    failed = body["entry"][1]
    assert "resource" not in failed
    assert failed["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert failed["response"]["outcome"]["issue"][0]["expression"] == [
        "Bundle.entry[1].resource.code"
    ]
    assert await count(client, "ServiceRequest") == 2
    assert await count(client, "ServiceRequest", identifier="ACC-9002") == 0


async def test_a_batch_entry_honours_if_none_exist(client: httpx.AsyncClient) -> None:
    existing = await create(client, facility(npi="1215930367"))
    condition = f"identifier={NPI_SYSTEM}|1215930367"
    entries = [post_entry(facility(npi="1215930367", name="Again"), ifNoneExist=condition)]
    response = await client.post("", json=bundle("batch", *entries))
    assert response.status_code == 200, response.text
    assert statuses(response) == ["200 OK"]
    assert response.json()["entry"][0]["resource"]["id"] == existing["id"]
    assert await count(client, "Organization") == 1


async def test_a_batch_entry_cannot_reference_another_entry(client: httpx.AsyncClient) -> None:
    managed = {**registered_patient(), "managingOrganization": {"reference": FACILITY_URN}}
    entries = [post_entry(facility(), FACILITY_URN), post_entry(managed)]
    response = await client.post("", json=bundle("batch", *entries))
    assert response.status_code == 200, response.text
    assert [s.split()[0] for s in statuses(response)] == ["201", "400"]
    outcome = response.json()["entry"][1]["response"]["outcome"]
    assert outcome["issue"][0]["expression"] == ["Bundle.entry[1].resource.managingOrganization"]
    assert await count(client, "Organization") == 1
    assert await count(client, "Patient") == 0


async def test_only_transaction_and_batch_bundles_are_processed(
    client: httpx.AsyncClient,
) -> None:
    for bundle_type in ("collection", "searchset", None):
        body = bundle("transaction", post_entry(registered_patient()))
        body["type"] = bundle_type
        response = await client.post("", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["issue"][0]["expression"] == ["Bundle.type"]
    not_a_bundle = await client.post("", json=registered_patient())
    assert not_a_bundle.status_code == 400
    assert await count(client, "Patient") == 0
