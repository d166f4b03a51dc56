"""Assignment resources for tests: the roster (licensed radiologists and their facility
roles) and the orders assignment hears of. Each builder returns a fresh dict and stores
nothing."""

from __future__ import annotations

from typing import Any

from services.assignment.roster import PLAN_NET_QUALIFICATION, USPS_SYSTEM

IN_FORCE = {"start": "2020-01-01", "end": "2099-12-31"}


def _period(start: str | None, end: str | None) -> dict[str, str]:
    return {k: v for k, v in (("start", start), ("end", end)) if v is not None}


def licence(
    state: str,
    *,
    status: str = "active",
    start: str | None = IN_FORCE["start"],
    end: str | None = IN_FORCE["end"],
    system: str = USPS_SYSTEM,
) -> dict[str, Any]:
    """A Plan-Net qualification: a medical licence in `state` (a USPS code)."""
    return {
        "extension": [
            {
                "url": PLAN_NET_QUALIFICATION,
                "extension": [
                    {"url": "status", "valueCode": status},
                    {
                        "url": "whereValid",
                        "valueCodeableConcept": {"coding": [{"system": system, "code": state}]},
                    },
                ],
            }
        ],
        "code": {"text": "Medical licence"},
        "period": _period(start, end),
    }


def radiologist(
    *qualifications: dict[str, Any], family: str = "Okafor", active: bool | None = True
) -> dict[str, Any]:
    """A Practitioner holding `qualifications` (see `licence`)."""
    practitioner: dict[str, Any] = {
        "resourceType": "Practitioner",
        "name": [{"family": family, "given": ["Ada"]}],
        "qualification": list(qualifications),
    }
    if active is not None:
        practitioner["active"] = active
    return practitioner


def facility_role(
    practitioner: str = "Practitioner/p",
    facility: str = "Organization/facility",
    *,
    active: bool | None = True,
    start: str | None = None,
    end: str | None = None,
) -> dict[str, Any]:
    """A PractitionerRole: privileges of `practitioner` at `facility` (references)."""
    role: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "practitioner": {"reference": practitioner},
        "organization": {"reference": facility},
    }
    if active is not None:
        role["active"] = active
    if start or end:
        role["period"] = _period(start, end)
    return role


def registered_order(
    order_id: str,
    *,
    patient: str = "Patient/patient-1",
    facility: str | None = "Organization/facility",
    priority: str = "stat",
    registered: str = "2024-05-01T10:00:00.000Z",
) -> dict[str, Any]:
    """A ServiceRequest as intake stored it (id and meta), as its event carries it."""
    order: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": order_id,
        "meta": {"versionId": "1", "lastUpdated": registered},
        "status": "active",
        "intent": "order",
        "priority": priority,
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "70450"}]},
        "subject": {"reference": patient},
    }
    if facility:
        order["requester"] = {"reference": facility}
    return order


def patient_in(state: str) -> dict[str, Any]:
    """A Patient (as intake serves it) whose home address is in `state`."""
    return {
        "resourceType": "Patient",
        "id": "patient-1",
        "address": [{"use": "home", "state": state}],
    }
