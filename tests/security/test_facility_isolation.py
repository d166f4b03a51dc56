"""Two facilities on one intake: each sees and changes only its own patients, orders,
studies and endpoints, whatever route it tries -- and the other's records read exactly like
records that do not exist (404, never 403).

Each test proves one way around the rules: reads, versions, history, search, includes,
paging, conditional interactions, Bundles, references, client-supplied labels.
"""

from __future__ import annotations

from typing import Any

import pytest

from services.intake.tests.builders import (
    accession,
    bundle,
    order,
    patient,
    post_entry,
    request_entry,
    study,
)
from tests.security.conftest import Facility
from tests.support.rest import assert_outcome, create, match_ids, searchset

pytestmark = pytest.mark.asyncio


def _ids(bundle_json: dict[str, Any], mode: str | None = None) -> set[str]:
    return {
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle_json.get("entry", [])
        if mode is None or e["search"]["mode"] == mode
    }


async def test_reads_of_another_facilitys_records_answer_404_like_unknown_ids(
    two: tuple[Facility, Facility],
) -> None:
    a, b = two
    for reference in (b.patient, b.order, b.study, b.organization):
        theirs = await a.client.get(f"/{reference}")
        unknown = await a.client.get(f"/{reference.split('/')[0]}/no-such-id")
        assert_outcome(theirs, 404, code="not-found")
        assert unknown.status_code == theirs.status_code
        assert (await b.client.get(f"/{reference}")).status_code == 200


async def test_versions_and_history_of_another_facilitys_records_are_not_found(
    two: tuple[Facility, Facility],
) -> None:
    a, b = two
    assert_outcome(await a.client.get(f"/{b.order}/_history/1"), 404)
    assert_outcome(await a.client.get(f"/{b.order}/_history"), 404)
    history = (await a.client.get("/ServiceRequest/_history")).json()
    assert _ids(history) == {a.order}
    assert history["total"] == 1


async def test_search_include_and_revinclude_return_only_the_callers_records(
    two: tuple[Facility, Facility],
) -> None:
    a, _ = two
    orders = searchset(await a.client.get("/ServiceRequest?_include=ServiceRequest:patient"))
    assert _ids(orders) == {a.order, a.patient}
    assert orders["total"] == 1
    patients = searchset(
        await a.client.get(
            "/Patient?_revinclude=ImagingStudy:patient&_revinclude=ServiceRequest:subject"
        )
    )
    assert _ids(patients) == {a.patient, a.order, a.study}
    by_their_accession = await a.client.get("/ServiceRequest?identifier=ACC-Birch")
    assert match_ids(searchset(by_their_accession)) == []
    count = (await a.client.get("/Patient?_summary=count")).json()
    assert count["total"] == 1


async def test_paging_links_never_lead_into_another_facility(
    two: tuple[Facility, Facility],
) -> None:
    a, b = two
    for number in range(3):
        await create(b.client, order(b.patient, b.organization, accession_number=f"ACC-B{number}"))
    await create(a.client, order(a.patient, a.organization, accession_number="ACC-A2"))
    seen: set[str] = set()
    page = searchset(await a.client.get("/ServiceRequest?_count=1&_sort=_lastUpdated"))
    assert page["total"] == 2
    while True:
        seen |= _ids(page)
        following = [link["url"] for link in page.get("link", []) if link["relation"] == "next"]
        if not following:
            break
        page = searchset(await a.client.get(following[0]))
    assert len(seen) == 2 and all(ref.startswith("ServiceRequest/") for ref in seen)
    assert b.order not in seen
    # B following A's paging link sees B's records only
    first = searchset(await a.client.get("/ServiceRequest?_count=1"))
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    assert a.order not in _ids(searchset(await b.client.get(next_url)))


async def test_writing_a_reference_to_another_facilitys_record_is_refused_as_unknown(
    two: tuple[Facility, Facility],
) -> None:
    a, b = two
    their_patient = await a.client.post(
        "/ServiceRequest", json=order(b.patient, a.organization, accession_number="ACC-X1")
    )
    assert_outcome(their_patient, 422, mentions="ServiceRequest.subject")
    as_their_facility = await a.client.post(
        "/ServiceRequest", json=order(a.patient, b.organization, accession_number="ACC-X2")
    )
    assert_outcome(as_their_facility, 422, mentions="ServiceRequest.requester")
    on_their_order = await a.client.post("/ImagingStudy", json=study(b.order, a.patient, uid="9.9"))
    assert_outcome(on_their_order, 422)
    by_their_accession = study(None, a.patient, uid="9.8")
    by_their_accession["basedOn"] = [{"identifier": accession("ACC-Birch")}]
    unknown_accession = study(None, a.patient, uid="9.7")
    unknown_accession["basedOn"] = [{"identifier": accession("ACC-NONE")}]
    theirs = await a.client.post("/ImagingStudy", json=by_their_accession)
    unknown = await a.client.post("/ImagingStudy", json=unknown_accession)
    assert theirs.status_code == unknown.status_code == 422
    assert theirs.json()["issue"][0]["diagnostics"] == unknown.json()["issue"][0]["diagnostics"]


async def test_updating_or_deleting_another_facilitys_record_changes_nothing(
    two: tuple[Facility, Facility],
) -> None:
    a, b = two
    stored = (await b.client.get(f"/{b.order}")).json()
    stolen = {**stored, "requester": {"reference": a.organization}, "status": "revoked"}
    update = await a.client.put(f"/{b.order}", json=stolen)
    unknown = await a.client.put("/ServiceRequest/no-such-id", json={**stolen, "id": "no-such-id"})
    assert update.status_code == unknown.status_code
    assert update.status_code in (404, 405)
    assert (await a.client.delete(f"/{b.order}")).status_code == 404
    assert (await a.client.delete("/ServiceRequest?identifier=ACC-Birch")).status_code == 204
    after = (await b.client.get(f"/{b.order}")).json()
    assert after["meta"]["versionId"] == stored["meta"]["versionId"]
    assert after["status"] == stored["status"]


async def test_moving_ones_own_order_to_another_facility_is_refused(
    two: tuple[Facility, Facility],
) -> None:
    a, b = two
    mine = (await a.client.get(f"/{a.order}")).json()
    moved = await a.client.put(
        f"/{a.order}", json={**mine, "requester": {"reference": b.organization}}
    )
    assert_outcome(moved, 422)
    assert (await b.client.get(f"/{a.order}")).status_code == 404


async def test_conditional_update_never_matches_another_facilitys_record(
    two: tuple[Facility, Facility],
) -> None:
    a, b = two
    body = order(a.patient, a.organization, accession_number="ACC-A9")
    response = await a.client.put("/ServiceRequest?identifier=ACC-Birch", json=body)
    assert response.status_code == 201  # nothing of A's matched: a new order of A's
    assert response.json()["id"] != b.order.split("/")[1]
    assert (await b.client.get(f"/{b.order}")).json()["meta"]["versionId"] == "1"


async def test_client_supplied_labels_ids_and_versions_move_nothing_across(
    two: tuple[Facility, Facility],
) -> None:
    a, b = two
    forged = patient(
        identifier=[{"system": "urn:test:forged", "value": "F-1"}],
        managingOrganization={"reference": a.organization},
        meta={
            "security": [{"system": "urn:tenant", "code": b.organization}],
            "tag": [{"code": b.organization}, {"code": "*"}],
            "versionId": "7",
        },
    )
    forged["id"] = b.patient.split("/")[1]
    created = await a.client.post("/Patient", json=forged)
    assert created.status_code == 201
    stored = created.json()
    assert stored["id"] != b.patient.split("/")[1]
    assert stored["meta"]["versionId"] == "1"
    assert (await b.client.get(f"/Patient/{stored['id']}")).status_code == 404
    assert (await b.client.get(f"/{b.patient}")).json()["meta"]["versionId"] == "1"


async def test_a_transaction_touching_another_facility_fails_whole_and_a_batch_hides_it(
    two: tuple[Facility, Facility],
) -> None:
    a, b = two
    mixed = bundle(
        "transaction",
        post_entry(patient(identifier=[{"system": "urn:test:t", "value": "T-1"}])),
        post_entry(order(b.patient, a.organization, accession_number="ACC-T1")),
    )
    assert_outcome(await a.client.post("", json=mixed), 422)
    assert (await a.client.get("/Patient?identifier=T-1")).json()["total"] == 0
    reads = bundle("batch", request_entry("GET", b.patient), request_entry("GET", a.patient))
    answer = (await a.client.post("", json=reads)).json()
    statuses = [entry["response"]["status"] for entry in answer["entry"]]
    assert statuses[0].startswith("404") and statuses[1].startswith("200")


async def test_a_patient_without_a_managing_facility_belongs_to_the_writing_facility(
    two: tuple[Facility, Facility],
) -> None:
    a, b = two
    stored = await create(a.client, patient(identifier=[{"system": "urn:t", "value": "U-1"}]))
    assert (await a.client.get(f"/Patient/{stored['id']}")).status_code == 200
    assert (await b.client.get(f"/Patient/{stored['id']}")).status_code == 404


async def test_chained_and_has_parameters_are_refused_not_answered(
    two: tuple[Facility, Facility],
) -> None:
    a, _ = two
    for query in (
        "subject.name=Birch",
        "subject:Patient.name=Birch",
        "_has:ServiceRequest:subject:status=active",
    ):
        resource_type = "Patient" if query.startswith("_has") else "ServiceRequest"
        assert_outcome(await a.client.get(f"/{resource_type}?{query}"), 400)


async def test_another_facilitys_identifier_clashes_without_showing_its_holder(
    two: tuple[Facility, Facility],
) -> None:
    a, b = two
    clash = await a.client.post(
        "/ServiceRequest", json=order(a.patient, a.organization, accession_number="ACC-Birch")
    )
    outcome = assert_outcome(clash, 409)
    assert b.order.split("/")[1] not in clash.text
    assert "Birch" not in str(outcome["issue"][0].get("diagnostics"))
