"""Writing the roster and contracts through the API: what the engine would misread is
refused with a 422 OperationOutcome naming the offending element (FHIRPath); resources in
the documented representation, and extensions nobody here defines, are accepted."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.assignment import codes
from services.assignment.tests.builders import facility_role, licence, radiologist
from services.assignment.tests.roster_builders import (
    capacity,
    contract,
    coverage_hours,
    extension,
    membership,
    read_modality,
    shift,
    sla_target,
    subspecialist_exam,
    subspecialty,
    timezone,
)
from tests.support.rest import assert_outcome, create, update

PLAN_NET = codes.PLAN_NET_QUALIFICATION
REVERSED = {"start": "2026-02-01", "end": "2026-01-31"}


def plan_net_licence(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"extension": [{"url": PLAN_NET, "extension": list(parts)}], "code": {"text": "Licence"}}


def where_valid(state: str) -> dict[str, Any]:
    return {
        "url": "whereValid",
        "valueCodeableConcept": {"coding": [{"system": codes.USPS_SYSTEM, "code": state}]},
    }


ACTIVE = {"url": "status", "valueCode": "active"}

REFUSED_PRACTITIONERS = [
    (radiologist(plan_net_licence(ACTIVE)), "Practitioner.qualification[0].extension[0]"),
    (
        radiologist(plan_net_licence(where_valid("TX"))),
        "Practitioner.qualification[0].extension[0]",
    ),
    (
        radiologist(plan_net_licence(ACTIVE, where_valid("XX"))),
        "Practitioner.qualification[0].extension[0]",
    ),
    (
        radiologist(licence("TX", start="2026-02-01", end="2026-01-31")),
        "Practitioner.qualification[0].period",
    ),
]
REFUSED_PRACTITIONER_IDS = ["no-where-valid", "no-status", "unknown-state", "reversed-period"]


@pytest.mark.parametrize(
    ("practitioner", "expression"), REFUSED_PRACTITIONERS, ids=REFUSED_PRACTITIONER_IDS
)
async def test_a_licence_the_engine_cannot_read_is_refused(
    assignment: httpx.AsyncClient, practitioner: dict[str, Any], expression: str
) -> None:
    response = await assignment.post("/Practitioner", json=practitioner)

    assert_outcome(response, 422, code="business-rule", expression=expression)


def _plain_role(**more: Any) -> dict[str, Any]:
    role = facility_role("Practitioner/p", "Organization/facility")
    role.update(more)
    return role


REFUSED_ROLES = {
    "unknown-zone": (membership(zone="America/Gotham"), "PractitionerRole.extension[0]"),
    "two-zones": (
        membership(extensions=[timezone("Europe/Zurich")]),
        "PractitionerRole.extension[1]",
    ),
    "shifts-without-zone": (membership(zone=None), "PractitionerRole.availableTime"),
    "unknown-day": (
        membership(shifts=[shift(["mon", "funday"], "08:00:00", "16:00:00")]),
        "PractitionerRole.availableTime[0].daysOfWeek",
    ),
    "no-days": (
        membership(shifts=[shift([], "08:00:00", "16:00:00")]),
        "PractitionerRole.availableTime[0].daysOfWeek",
    ),
    "start-equals-end": (
        membership(shifts=[shift(["mon"], "08:00:00", "08:00:00")]),
        "PractitionerRole.availableTime[0]",
    ),
    "no-end": (
        membership(shifts=[shift(["mon"], "08:00:00", None)]),
        "PractitionerRole.availableTime[0]",
    ),
    "unknown-modality": (
        membership(extensions=[read_modality("CT"), read_modality("XR")]),
        "PractitionerRole.extension[2]",
    ),
    "unknown-subspecialty": (
        membership(specialty=[subspecialty("neuro"), subspecialty("dermatology")]),
        "PractitionerRole.specialty[1].coding[0]",
    ),
    "no-open-tasks": (
        membership(extensions=[capacity(tasks=0)]),
        "PractitionerRole.extension[1].extension[0]",
    ),
    "negative-rvu": (
        membership(extensions=[capacity(tasks=4, rvu=-1.5)]),
        "PractitionerRole.extension[1].extension[1]",
    ),
    "two-capacities": (
        membership(extensions=[capacity(tasks=4), capacity(tasks=5)]),
        "PractitionerRole.extension[2]",
    ),
    "reversed-period": (membership(period=REVERSED), "PractitionerRole.period"),
    "reversed-absence": (
        membership(notAvailable=[{"description": "Leave", "during": REVERSED}]),
        "PractitionerRole.notAvailable[0].during",
    ),
    "membership-without-group": (
        membership(organization=None),
        "PractitionerRole.organization",
    ),
    "shifts-on-privileges": (
        _plain_role(availableTime=[shift(["mon"], "08:00:00", "16:00:00")]),
        "PractitionerRole.code",
    ),
    "modality-on-privileges": (
        _plain_role(extension=[read_modality("CT")]),
        "PractitionerRole.code",
    ),
}


@pytest.mark.parametrize(
    ("role", "expression"), list(REFUSED_ROLES.values()), ids=list(REFUSED_ROLES)
)
async def test_a_role_the_engine_would_misread_is_refused(
    assignment: httpx.AsyncClient, role: dict[str, Any], expression: str
) -> None:
    response = await assignment.post("/PractitionerRole", json=role)

    assert_outcome(response, 422, code="business-rule", expression=expression)


def _target(priority: str, value: Any, unit: str) -> dict[str, Any]:
    return sla_target(priority, value, unit)


REFUSED_CONTRACTS = {
    "no-vendor": (
        contract(participatingOrganization=None),
        "OrganizationAffiliation.participatingOrganization",
    ),
    "no-facility": (contract(organization=None), "OrganizationAffiliation.organization"),
    "no-kind": (contract(kind=None), "OrganizationAffiliation.code"),
    "unknown-kind": (contract(kind="exclusive"), "OrganizationAffiliation.code"),
    "reversed-period": (contract(period=REVERSED), "OrganizationAffiliation.period"),
    "zero-turnaround": (
        contract(extensions=[_target("stat", 0, "min")]),
        "OrganizationAffiliation.extension[0]",
    ),
    "turnaround-in-days": (
        contract(extensions=[_target("routine", 1, "d")]),
        "OrganizationAffiliation.extension[0]",
    ),
    "unknown-priority": (
        contract(extensions=[_target("emergency", 30, "min")]),
        "OrganizationAffiliation.extension[0]",
    ),
    "two-targets-for-stat": (
        contract(extensions=[_target("stat", 30, "min"), _target("stat", 1, "h")]),
        "OrganizationAffiliation.extension[1]",
    ),
    "unknown-clock": (
        contract(extensions=[sla_target("stat", 30, clock="ordered-to-lunch")]),
        "OrganizationAffiliation.extension[0]",
    ),
    "exam-without-code": (
        contract(
            extensions=[
                extension(
                    codes.SUBSPECIALIST_EXAM_EXTENSION,
                    extension=[{"url": "subspecialty", "valueCode": "neuro"}],
                )
            ]
        ),
        "OrganizationAffiliation.extension[0]",
    ),
    "exam-unknown-subspecialty": (
        contract(extensions=[subspecialist_exam("70551", "brain")]),
        "OrganizationAffiliation.extension[0]",
    ),
    "unknown-covered-modality": (
        contract(extensions=[extension(codes.COVERED_MODALITY_EXTENSION, valueCode="XRAY")]),
        "OrganizationAffiliation.extension[0]",
    ),
    "stroke-is-no-covered-priority": (
        contract(extensions=[extension(codes.COVERED_PRIORITY_EXTENSION, valueCode="stroke")]),
        "OrganizationAffiliation.extension[0]",
    ),
    "hours-without-zone": (
        contract(extensions=[coverage_hours(["mon"], "19:00:00", "07:00:00")]),
        "OrganizationAffiliation.extension[0]",
    ),
    "hours-unknown-day": (
        contract(
            extensions=[
                timezone("America/Denver"),
                coverage_hours(["noday"], "00:00:00", "00:00:00"),
            ]
        ),
        "OrganizationAffiliation.extension[1]",
    ),
    "hours-start-only": (
        contract(
            extensions=[timezone("America/Denver"), coverage_hours(["mon"], "19:00:00", None)]
        ),
        "OrganizationAffiliation.extension[1]",
    ),
}


@pytest.mark.parametrize(
    ("affiliation", "expression"), list(REFUSED_CONTRACTS.values()), ids=list(REFUSED_CONTRACTS)
)
async def test_a_contract_the_engine_would_misread_is_refused(
    assignment: httpx.AsyncClient, affiliation: dict[str, Any], expression: str
) -> None:
    response = await assignment.post("/OrganizationAffiliation", json=affiliation)

    assert_outcome(response, 422, code="business-rule", expression=expression)


async def test_every_problem_of_one_write_is_reported_at_once(
    assignment: httpx.AsyncClient,
) -> None:
    role = membership(zone="Nowhere/City", extensions=[read_modality("XR")], period=REVERSED)

    outcome = assert_outcome(await assignment.post("/PractitionerRole", json=role), 422)

    expressions = {e for issue in outcome["issue"] for e in issue["expression"]}
    assert expressions == {
        "PractitionerRole.extension[0]",
        "PractitionerRole.extension[1]",
        "PractitionerRole.period",
    }
    assert "Nowhere" not in str(outcome)  # the client's value is not echoed


async def test_an_update_is_checked_like_a_create(assignment: httpx.AsyncClient) -> None:
    stored = await create(assignment, contract())

    response = await assignment.put(
        f"/OrganizationAffiliation/{stored['id']}", json={**stored, "code": []}
    )

    assert_outcome(response, 422, code="business-rule", expression="OrganizationAffiliation.code")


async def test_the_representation_is_accepted_with_extensions_nobody_here_defines(
    assignment: httpx.AsyncClient,
) -> None:
    practitioner = await create(assignment, radiologist(licence("TX"), licence("PR")))
    reference = f"Practitioner/{practitioner['id']}"
    foreign = extension(
        "https://example.org/fhir/StructureDefinition/badge-colour", valueCode="red"
    )
    role = membership(
        reference,
        zone="Australia/Sydney",
        shifts=[
            shift(["mon", "tue"], "20:00:00", "08:00:00"),
            shift(["sat"], None, None, allDay=True),
        ],
        extensions=[read_modality("CT"), read_modality("MR"), capacity(10, 8.5), foreign],
        specialty=[subspecialty("neuro"), {"text": "Radiology"}],
        notAvailable=[{"description": "Leave", "during": {"start": "2026-01-05"}}],
        period={"start": "2024-01-01", "end": "2024-01-01"},
    )
    await create(assignment, role)
    await create(assignment, facility_role(reference, "Organization/facility"))
    affiliation = contract(
        extensions=[
            timezone("America/Chicago"),
            coverage_hours(["mon", "tue"], "19:00:00", "07:00:00"),
            coverage_hours(["sat", "sun"], "00:00:00", "00:00:00"),
            extension(codes.COVERED_MODALITY_EXTENSION, valueCode="CT"),
            extension(codes.COVERED_PRIORITY_EXTENSION, valueCode="stat"),
            sla_target("stat", 60, clock="images-to-preliminary"),
            sla_target("stroke", 20),
            sla_target("routine", 48, "h"),
            subspecialist_exam("70551", "neuro"),
            foreign,
        ],
        kind=codes.OVERFLOW,
    )
    stored = await create(assignment, affiliation)

    await update(assignment, {**stored, "active": False})
