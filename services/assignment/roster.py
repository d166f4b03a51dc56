"""Who may read for whom: licences (Da Vinci Plan-Net practitioner-qualification) and
facility privileges (PractitionerRole with `organization` = the facility).

A licence counts on a day when its Plan-Net `status` is active, its `whereValid` names the
state (USPS code) and its `period` covers the day. A privilege counts when the role is
active and its `period` covers the day. See ../shared/docs/domain.md ("Hard constraints").
"""

from __future__ import annotations

import calendar
from datetime import date
from typing import Any

PLAN_NET_QUALIFICATION = (
    "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/practitioner-qualification"
)
USPS_SYSTEM = "https://www.usps.com/"


def _covers(period: dict[str, Any] | None, day: date) -> bool:
    """Whether a FHIR Period covers `day` (open ends are unbounded; dates compare by day,
    and a partial date such as "2027" or "2027-06" stands for all of that year or month)."""
    start = (period or {}).get("start")
    end = (period or {}).get("end")
    if start and _day(start, last=False) > day:
        return False
    return not (end and _day(end, last=True) < day)


def _day(text: str, *, last: bool) -> date:
    """The first (or `last`) day a FHIR date or dateTime `text` can mean."""
    parts = [int(p) for p in text[:10].split("-")]
    year, month, day_of_month = [*parts, 0, 0][:3]
    if not month:
        return date(year, 12, 31) if last else date(year, 1, 1)
    if not day_of_month:
        return (
            date(year, month, calendar.monthrange(year, month)[1]) if last else date(year, month, 1)
        )
    return date(year, month, day_of_month)


def _plan_net(qualification: dict[str, Any]) -> dict[str, Any]:
    """The sub-extensions of a qualification's Plan-Net extension, by url."""
    for extension in qualification.get("extension") or []:
        if extension.get("url") == PLAN_NET_QUALIFICATION:
            return {e.get("url"): e for e in extension.get("extension") or []}
    return {}


def licensed_states(practitioner: dict[str, Any], day: date) -> frozenset[str]:
    """The states (USPS codes) where `practitioner` holds an active licence on `day`."""
    if practitioner.get("active") is False:
        return frozenset()
    states: set[str] = set()
    for qualification in practitioner.get("qualification") or []:
        parts = _plan_net(qualification)
        if (parts.get("status") or {}).get("valueCode") != "active":
            continue
        if not _covers(qualification.get("period"), day):
            continue
        where = (parts.get("whereValid") or {}).get("valueCodeableConcept") or {}
        states.update(
            c["code"]
            for c in where.get("coding") or []
            if c.get("system") == USPS_SYSTEM and c.get("code")
        )
    return frozenset(states)


def privileged(role: dict[str, Any], day: date) -> bool:
    """Whether a facility PractitionerRole grants privileges on `day`."""
    return role.get("active") is not False and _covers(role.get("period"), day)


def patient_state(patient: dict[str, Any]) -> str | None:
    """The patient's state: the home address's, else the first address that has one."""
    addresses = patient.get("address") or []
    ordered = sorted(addresses, key=lambda a: a.get("use") != "home")
    return next((a["state"] for a in ordered if a.get("state")), None)
