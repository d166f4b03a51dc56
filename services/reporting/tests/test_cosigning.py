"""A co-signer -- e.g. the attending finalising a preliminary read -- may sign another
radiologist's report when they belong to the owning role's reading group and assignment's
`$eligibility` finds them lawful for the order (active, licensed in the patient's state,
privileged at the facility, reading the modality, a subspecialist where one is needed);
shift and capacity do not matter. They are added to resultsInterpreter and the version is
signed with their key. Anyone else is refused."""

from __future__ import annotations

from typing import Any

import pytest

from services.assignment.tests.routing_support import GROUP, add_contract, add_reader
from services.reporting.rules import DiagnosticReportRules
from services.reporting.tests.support import Services, new_order, refused, report
from shared.auth import Principal
from shared.fhir.outcomes import FhirError
from shared.fhir.registry import WriteContext
from tests.support.rest import create
from tests.support.tokens import bearer


async def _preliminary_by_owner(services: Services) -> tuple[dict[str, Any], str]:
    await add_contract(services.assignment)
    owner, _ = await add_reader(services.assignment, family="Resident")
    order = new_order()
    await services.read_task(order, owner)
    preliminary = await create(
        services.reporting, report(order, interpreter=owner, status="preliminary")
    )
    return preliminary, owner


async def _signer(services: Services, report_id: str) -> str:
    response = await services.reporting.get(
        "/Provenance", params={"target": f"DiagnosticReport/{report_id}"}
    )
    (entry,) = response.json()["entry"]
    return str(entry["resource"]["signature"][0]["who"]["reference"])


async def test_the_attending_of_the_same_group_finalises_the_preliminary(
    services: Services,
) -> None:
    preliminary, owner = await _preliminary_by_owner(services)
    attending, attending_practitioner = await add_reader(
        services.assignment,
        family="Attending",
        shifts=[],  # off shift: signing still allowed
    )

    response = await services.reporting.put(
        f"/DiagnosticReport/{preliminary['id']}",
        json={
            **preliminary,
            "status": "final",
            "resultsInterpreter": [{"reference": owner}, {"reference": attending}],
        },
    )

    assert response.status_code == 200, response.text
    assert await _signer(services, preliminary["id"]) == attending_practitioner


async def test_an_attending_named_as_practitioner_is_found_through_their_membership(
    services: Services,
) -> None:
    preliminary, owner = await _preliminary_by_owner(services)
    _, attending = await add_reader(services.assignment, family="Attending")

    response = await services.reporting.put(
        f"/DiagnosticReport/{preliminary['id']}",
        json={
            **preliminary,
            "status": "final",
            "resultsInterpreter": [{"reference": owner}, {"reference": attending}],
        },
    )

    assert response.status_code == 200, response.text
    assert await _signer(services, preliminary["id"]) == attending


async def test_the_attending_signed_in_as_themselves_opens_and_finalises_the_preliminary(
    services: Services,
) -> None:
    preliminary, _ = await _preliminary_by_owner(services)
    _, attending = await add_reader(services.assignment, family="Attending", shifts=[])
    as_attending = bearer(
        role="radiologist",
        scopes="user/DiagnosticReport.cruds",
        organizations={GROUP},  # the reading group's worklist client
        fhir_user=attending,
    )

    opened = await services.reporting.get(
        f"/DiagnosticReport/{preliminary['id']}", headers=as_attending
    )
    assert opened.status_code == 200, opened.text
    response = await services.reporting.put(
        f"/DiagnosticReport/{preliminary['id']}",
        json={**opened.json(), "status": "final"},
        headers=as_attending,
    )

    assert response.status_code == 200, response.text
    assert {"reference": attending} in response.json()["resultsInterpreter"]
    assert await _signer(services, preliminary["id"]) == attending


async def test_a_signed_in_radiologist_outside_the_read_is_forbidden(services: Services) -> None:
    preliminary, _ = await _preliminary_by_owner(services)
    _, stranger = await add_reader(services.assignment, family="Stranger", group="Organization/x")
    rules, peers = DiagnosticReportRules(), services.reporting_app.state.peers
    principal = Principal("reading-app", frozenset({"user/*.cruds"}), fhir_user=stranger)
    context = WriteContext(repository=None, principal=principal, peers=peers)  # type: ignore[arg-type]

    with pytest.raises(FhirError) as refusal:
        await rules.prepare(
            {**preliminary, "status": "final"}, previous=preliminary, context=context
        )

    assert refusal.value.status == 403


@pytest.mark.parametrize(
    "colleague",
    [
        {"states": ("CA",)},  # no licence in the patient's state
        {"facility": None},  # no privileges at the facility
        {"modalities": ("MR",)},  # does not read CT
        {"group": "Organization/another-group"},  # another reading group
    ],
    ids=["unlicensed", "unprivileged", "other-modality", "other-group"],
)
async def test_a_colleague_who_could_not_read_the_order_cannot_sign_it(
    services: Services, colleague: dict[str, Any]
) -> None:
    preliminary, owner = await _preliminary_by_owner(services)
    other, _ = await add_reader(services.assignment, family="Colleague", **colleague)

    response = await services.reporting.put(
        f"/DiagnosticReport/{preliminary['id']}",
        json={
            **preliminary,
            "status": "final",
            "resultsInterpreter": [{"reference": owner}, {"reference": other}],
        },
    )

    refused(response, 422, "DiagnosticReport.resultsInterpreter")


async def test_a_cosigner_signs_but_neither_creates_nor_edits_a_preliminary(
    services: Services,
) -> None:
    preliminary, owner = await _preliminary_by_owner(services)
    attending, _ = await add_reader(services.assignment, family="Attending", group=GROUP)
    interpreters = [{"reference": owner}, {"reference": attending}]
    order = preliminary["basedOn"][0]["reference"].split("/")[1]

    edit = await services.reporting.put(
        f"/DiagnosticReport/{preliminary['id']}",
        json={**preliminary, "resultsInterpreter": interpreters},
    )
    created = await services.reporting.post(
        "/DiagnosticReport",
        json={**report(order, interpreter=owner), "resultsInterpreter": interpreters},
    )

    refused(edit, 422, "DiagnosticReport.resultsInterpreter")
    refused(created, 422, "DiagnosticReport.resultsInterpreter")
