"""Roster resources in the representation of docs/assignment.md, for tests: membership
roles and contracts. Each builder returns a fresh dict and stores nothing."""

from __future__ import annotations

from typing import Any

from services.assignment import codes


def extension(url: str, **value: Any) -> dict[str, Any]:
    """One extension, e.g. extension(url, valueCode="CT")."""
    return {"url": url, **value}


def complex_extension(url: str, *parts: tuple[str, str, Any]) -> dict[str, Any]:
    """A complex extension from (url, value[x] name, value) parts."""
    return {"url": url, "extension": [{"url": u, kind: v} for u, kind, v in parts]}


def timezone(name: str) -> dict[str, Any]:
    return extension(codes.TIMEZONE_EXTENSION, valueCode=name)


def read_modality(code: str) -> dict[str, Any]:
    return extension(codes.READ_MODALITY_EXTENSION, valueCode=code)


def capacity(tasks: Any = None, rvu: Any = None) -> dict[str, Any]:
    parts = []
    if tasks is not None:
        parts.append((codes.MAX_OPEN_TASKS, "valueInteger", tasks))
    if rvu is not None:
        parts.append((codes.MAX_RVU_PER_HOUR, "valueDecimal", rvu))
    return complex_extension(codes.READING_CAPACITY_EXTENSION, *parts)


def subspecialty(code: str) -> dict[str, Any]:
    return {"coding": [{"system": codes.SUBSPECIALTY_SYSTEM, "code": code}]}


def shift(days: list[str], start: str | None, end: str | None, **more: Any) -> dict[str, Any]:
    available: dict[str, Any] = {"daysOfWeek": days, **more}
    if start:
        available["availableStartTime"] = start
    if end:
        available["availableEndTime"] = end
    return available


def membership(
    practitioner: str = "Practitioner/p",
    group: str = "Organization/group",
    *,
    zone: str | None = "America/Chicago",
    shifts: list[dict[str, Any]] | None = None,
    extensions: list[dict[str, Any]] | None = None,
    **more: Any,
) -> dict[str, Any]:
    """A membership PractitionerRole (code radiologist): by default reads CT on weekdays
    08:00-18:00 in `zone`."""
    role: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "extension": ([timezone(zone)] if zone else [])
        + (extensions if extensions is not None else [read_modality("CT")]),
        "active": True,
        "practitioner": {"reference": practitioner},
        "organization": {"reference": group},
        "code": [{"coding": [{"system": codes.READING_ROLE_SYSTEM, "code": codes.RADIOLOGIST}]}],
        "availableTime": shifts
        if shifts is not None
        else [shift(["mon", "tue", "wed", "thu", "fri"], "08:00:00", "18:00:00")],
    }
    role.update(more)
    return {k: v for k, v in role.items() if v is not None}  # None: leave the element out


def sla_target(
    priority: str, value: Any, unit: str = "min", *, clock: str | None = None
) -> dict[str, Any]:
    duration = {"value": value, "unit": unit, "system": codes.UCUM_SYSTEM, "code": unit}
    parts = [
        (codes.PRIORITY_PART, "valueCode", priority),
        (codes.TURNAROUND_PART, "valueDuration", duration),
    ]
    if clock is not None:
        parts.append((codes.CLOCK_PART, "valueCode", clock))
    return complex_extension(codes.SLA_TARGET_EXTENSION, *parts)


def subspecialist_exam(cpt: str, required: str) -> dict[str, Any]:
    return complex_extension(
        codes.SUBSPECIALIST_EXAM_EXTENSION,
        (codes.EXAM_PART, "valueCoding", {"system": codes.CPT_SYSTEM, "code": cpt}),
        (codes.SUBSPECIALTY_PART, "valueCode", required),
    )


def coverage_hours(days: list[str], start: str | None, end: str | None) -> dict[str, Any]:
    parts = [(codes.DAYS_OF_WEEK_PART, "valueCode", day) for day in days]
    if start:
        parts.append((codes.START_PART, "valueTime", start))
    if end:
        parts.append((codes.END_PART, "valueTime", end))
    return complex_extension(codes.COVERAGE_HOURS_EXTENSION, *parts)


def contract(
    facility: str = "Organization/facility",
    group: str = "Organization/group",
    *,
    kind: str | None = codes.PRIMARY,
    extensions: list[dict[str, Any]] | None = None,
    **more: Any,
) -> dict[str, Any]:
    """An OrganizationAffiliation: `group` reads for `facility` (primary by default)."""
    affiliation: dict[str, Any] = {
        "resourceType": "OrganizationAffiliation",
        "extension": extensions if extensions is not None else [sla_target("stat", 60)],
        "active": True,
        "organization": {"reference": facility},
        "participatingOrganization": {"reference": group},
    }
    if kind:
        affiliation["code"] = [{"coding": [{"system": codes.CONTRACT_KIND_SYSTEM, "code": kind}]}]
    affiliation.update(more)
    return {k: v for k, v in affiliation.items() if v is not None}  # None: leave it out
