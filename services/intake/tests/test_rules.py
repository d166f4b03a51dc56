"""Intake's business rules: what makes an imaging order and its study acceptable.

A refused write answers 422 with an OperationOutcome naming the element at fault, and
stores nothing.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.intake.tests.builders import (
    ACCESSION_SYSTEM,
    accession,
    facility_extension,
    order,
    ordering_setup,
    placer,
    registered_patient,
    study,
    typed_identifier,
)
from tests.support.rest import count, create, put


async def assert_refused(
    client: httpx.AsyncClient, resource: dict[str, Any], expression: str
) -> dict[str, Any]:
    """POST `resource`; expect 422 naming `expression`, and nothing of its type stored."""
    resource_type = resource["resourceType"]
    before = await count(client, resource_type)
    response = await client.post(f"/{resource_type}", json=resource)
    assert response.status_code == 422, response.text
    outcome: dict[str, Any] = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert issue["severity"] == "error"
    assert issue["code"] == "business-rule"
    assert expression in issue["expression"]
    assert await count(client, resource_type) == before
    return outcome


# -- ServiceRequest --------------------------------------------------------------------


async def test_a_complete_order_is_accepted_with_priority_routine_unless_given(
    client: httpx.AsyncClient,
) -> None:
    patient_ref, facility_ref = await ordering_setup(client)
    stored = await create(client, order(patient_ref, facility_ref))
    assert stored["priority"] == "routine"
    read = (await client.get(f"/ServiceRequest/{stored['id']}")).json()
    assert read["priority"] == "routine"
    assert await count(client, "ServiceRequest", priority="routine") == 1

    stat = await create(client, order(patient_ref, facility_ref, "ACC-STAT", priority="stat"))
    assert stat["priority"] == "stat"


async def test_an_order_with_only_a_placer_number_is_accepted(client: httpx.AsyncClient) -> None:
    patient_ref, facility_ref = await ordering_setup(client)
    stored = await create(client, order(patient_ref, facility_ref, identifier=[placer("P-77")]))
    assert stored["identifier"] == [placer("P-77")]


async def test_an_order_without_accession_or_placer_number_is_refused(
    client: httpx.AsyncClient, subtests: pytest.Subtests
) -> None:
    patient_ref, facility_ref = await ordering_setup(client)
    without = {
        "no-identifier": None,
        "typed-neither-acsn-nor-plac": [typed_identifier("MR", ACCESSION_SYSTEM, "ACC-1")],
        "untyped": [{"system": ACCESSION_SYSTEM, "value": "ACC-1"}],
        "no-system": [{k: v for k, v in accession("ACC-1").items() if k != "system"}],
        "no-value": [{k: v for k, v in accession("ACC-1").items() if k != "value"}],
    }
    for case, identifiers in without.items():
        with subtests.test(case):
            resource = order(patient_ref, facility_ref, identifier=identifiers)
            await assert_refused(client, resource, "ServiceRequest.identifier")


async def test_an_order_whose_subject_is_not_a_patient_is_refused(
    client: httpx.AsyncClient, subtests: pytest.Subtests
) -> None:
    # (An order with no subject at all is structurally invalid: 400, not this rule.)
    _, facility_ref = await ordering_setup(client)
    for case, subject in {
        "group": {"reference": "Group/ward-3"},
        "display-only": {"display": "Ana Rivera"},
    }.items():
        with subtests.test(case):
            resource = order("Patient/unused", facility_ref, subject=subject)
            await assert_refused(client, resource, "ServiceRequest.subject")


async def test_an_order_without_exam_code_is_refused(client: httpx.AsyncClient) -> None:
    patient_ref, facility_ref = await ordering_setup(client)
    await assert_refused(client, order(patient_ref, facility_ref, code=None), "ServiceRequest.code")


async def test_an_order_without_ordering_facility_is_refused(
    client: httpx.AsyncClient, subtests: pytest.Subtests
) -> None:
    patient_ref, _ = await ordering_setup(client)
    for case, requester in {
        "no-requester": None,
        "requester-practitioner": {"reference": "Practitioner/dr-lee"},
    }.items():
        with subtests.test(case):
            resource = order(patient_ref, "Organization/unused", requester=requester)
            await assert_refused(client, resource, "ServiceRequest.requester")


async def test_the_ordering_facility_may_come_in_the_extension(client: httpx.AsyncClient) -> None:
    patient_ref, facility_ref = await ordering_setup(client)
    resource = order(
        patient_ref,
        facility_ref,
        requester={"reference": "Practitioner/dr-lee"},
        extension=facility_extension(facility_ref),
    )
    stored = await create(client, resource)
    assert stored["extension"] == facility_extension(facility_ref)
    assert await count(client, "ServiceRequest", facility=facility_ref) == 1


async def test_an_order_naming_an_unknown_patient_is_refused_and_reserves_no_accession(
    client: httpx.AsyncClient,
) -> None:
    patient_ref, facility_ref = await ordering_setup(client)
    await assert_refused(
        client, order("Patient/no-such-patient", facility_ref), "ServiceRequest.subject"
    )
    # The refused order's accession number is still free for the corrected order.
    stored = await create(client, order(patient_ref, facility_ref))
    assert stored["subject"] == {"reference": patient_ref}


async def test_a_revoked_or_completed_order_cannot_be_reactivated(
    client: httpx.AsyncClient, subtests: pytest.Subtests
) -> None:
    patient_ref, facility_ref = await ordering_setup(client)
    for final_status in ("revoked", "completed"):
        with subtests.test(final_status):
            number = f"ACC-{final_status}"
            stored = await create(client, order(patient_ref, facility_ref, number))
            finished = await put(client, {**stored, "status": final_status})
            assert finished.status_code == 200, finished.text

            reactivated = await put(client, {**finished.json(), "status": "active"})
            assert reactivated.status_code == 422, reactivated.text
            assert "ServiceRequest.status" in reactivated.json()["issue"][0]["expression"]
            current = (await client.get(f"/ServiceRequest/{stored['id']}")).json()
            assert current["status"] == final_status
            assert current["meta"]["versionId"] == "2"


async def test_any_order_may_be_marked_entered_in_error_and_then_stays_so(
    client: httpx.AsyncClient, subtests: pytest.Subtests
) -> None:
    patient_ref, facility_ref = await ordering_setup(client)
    for status in ("active", "revoked", "completed"):
        with subtests.test(status):
            resource = order(patient_ref, facility_ref, f"ACC-{status}", status=status)
            stored = await create(client, resource)
            corrected = await put(client, {**stored, "status": "entered-in-error"})
            assert corrected.status_code == 200, corrected.text
            assert corrected.json()["status"] == "entered-in-error"

            revived = await put(client, {**corrected.json(), "status": "active"})
            assert revived.status_code == 422, revived.text
            assert "ServiceRequest.status" in revived.json()["issue"][0]["expression"]


async def test_an_update_is_held_to_the_same_rules_as_a_create(client: httpx.AsyncClient) -> None:
    patient_ref, facility_ref = await ordering_setup(client)
    stored = await create(client, order(patient_ref, facility_ref))
    without_code = {k: v for k, v in stored.items() if k != "code"}
    response = await put(client, without_code)
    assert response.status_code == 422, response.text
    assert "ServiceRequest.code" in response.json()["issue"][0]["expression"]
    current = (await client.get(f"/ServiceRequest/{stored['id']}")).json()
    assert current["code"] == stored["code"]


# -- ImagingStudy ----------------------------------------------------------------------


async def test_a_study_based_on_a_known_order_is_accepted(client: httpx.AsyncClient) -> None:
    patient_ref, facility_ref = await ordering_setup(client)
    order_ref = f"ServiceRequest/{(await create(client, order(patient_ref, facility_ref)))['id']}"
    await create(client, study(order_ref, patient_ref))
    assert await count(client, "ImagingStudy", basedon=order_ref) == 1


async def test_a_study_not_based_on_a_known_order_is_refused(
    client: httpx.AsyncClient, subtests: pytest.Subtests
) -> None:
    patient_ref, facility_ref = await ordering_setup(client)
    await create(client, order(patient_ref, facility_ref, "ACC-KNOWN"))
    refused = {
        "unknown-order": (
            study("ServiceRequest/no-such-order", patient_ref),
            "ImagingStudy.basedOn[0]",
        ),
        "no-order": (study(None, patient_ref), "ImagingStudy.basedOn"),
        "unknown-accession-number": (
            study(None, patient_ref, basedOn=[{"identifier": accession("ACC-UNKNOWN")}]),
            "ImagingStudy.basedOn[0].identifier",
        ),
    }
    for case, (resource, expression) in refused.items():
        with subtests.test(case):
            await assert_refused(client, resource, expression)


async def test_a_study_based_on_the_accession_number_gets_the_order_reference(
    client: httpx.AsyncClient,
) -> None:
    patient_ref, facility_ref = await ordering_setup(client)
    stored_order = await create(client, order(patient_ref, facility_ref, "ACC-3003"))
    order_ref = f"ServiceRequest/{stored_order['id']}"
    resource = study(None, patient_ref, basedOn=[{"identifier": accession("ACC-3003")}])
    stored = await create(client, resource)
    assert stored["basedOn"] == [{"identifier": accession("ACC-3003"), "reference": order_ref}]
    assert await count(client, "ImagingStudy", basedon=order_ref) == 1


async def test_a_cancelled_study_is_not_reactivated_but_may_be_entered_in_error(
    client: httpx.AsyncClient,
) -> None:
    patient_ref, facility_ref = await ordering_setup(client)
    order_ref = f"ServiceRequest/{(await create(client, order(patient_ref, facility_ref)))['id']}"
    stored = await create(client, study(order_ref, patient_ref, status="cancelled"))

    reactivated = await put(client, {**stored, "status": "available"})
    assert reactivated.status_code == 422, reactivated.text
    assert "ImagingStudy.status" in reactivated.json()["issue"][0]["expression"]
    assert (await client.get(f"/ImagingStudy/{stored['id']}")).json()["status"] == "cancelled"

    corrected = await put(client, {**stored, "status": "entered-in-error"})
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["status"] == "entered-in-error"


async def test_a_patient_without_mrn_is_stored_as_sent(client: httpx.AsyncClient) -> None:
    # No MRN means no re-send key: two such patients are two resources.
    anonymous = {k: v for k, v in registered_patient().items() if k != "identifier"}
    first = await create(client, anonymous)
    second = await create(client, anonymous)
    assert first["id"] != second["id"]
