"""Contracts in FHIR, read into the engine's model: an OrganizationAffiliation between a
client facility (`organization`) and the reading group or partner vendor reading for it
(`participatingOrganization`), documented in docs/assignment.md."""

from __future__ import annotations

from datetime import timedelta
from types import MappingProxyType
from typing import Any

from services.assignment.codes import (
    CONTRACT_KIND_SYSTEM,
    CONTRACT_KINDS,
    COVERAGE_HOURS_EXTENSION,
    COVERED_MODALITY_EXTENSION,
    COVERED_PRIORITY_EXTENSION,
    CPT_SYSTEM,
    DAYS_OF_WEEK,
    DAYS_OF_WEEK_PART,
    END_PART,
    EXAM_PART,
    START_PART,
    SUBSPECIALIST_EXAM_EXTENSION,
    SUBSPECIALTY_PART,
    TIMEZONE_EXTENSION,
)
from services.assignment.engine.model import Contract, Shift
from services.assignment.fhir_values import (
    extension_values,
    extensions,
    parts,
    span,
    wall_time,
    zone,
)
from shared.fhir.references import referenced_id
from shared.sla_terms import sla_terms


def contract_kind(affiliation: dict[str, Any]) -> str | None:
    """The contract-kind code of the affiliation (primary | overflow), if it has one."""
    return next(
        (
            coding["code"]
            for concept in affiliation.get("code") or []
            for coding in concept.get("coding") or []
            if coding.get("system") == CONTRACT_KIND_SYSTEM and coding.get("code") in CONTRACT_KINDS
        ),
        None,
    )


def _first(found: dict[str, list[dict[str, Any]]], name: str, value: str) -> Any:
    return next((p[value] for p in found.get(name, []) if p.get(value) is not None), None)


def coverage_hours(affiliation: dict[str, Any]) -> tuple[Shift, ...]:
    """The weekly hours covered, wall clock in the affiliation's zone: an end at or before
    the start runs past midnight (00:00 to 00:00 is the whole day)."""
    hours = []
    for extension in extensions(affiliation, COVERAGE_HOURS_EXTENSION):
        found = parts(extension)
        days = frozenset(
            DAYS_OF_WEEK[p["valueCode"]]
            for p in found.get(DAYS_OF_WEEK_PART, [])
            if p.get("valueCode") in DAYS_OF_WEEK
        )
        start = _first(found, START_PART, "valueTime")
        end = _first(found, END_PART, "valueTime")
        if start and end:
            hours.append(Shift(days, wall_time(start), wall_time(end)))
    return tuple(hours)


def sla_targets(affiliation: dict[str, Any]) -> dict[str, timedelta]:
    """Turnaround per priority (and "stroke") from the `sla-target` extensions."""
    return {priority: term.target for priority, term in sla_terms(affiliation).items()}


def subspecialist_exams(affiliation: dict[str, Any]) -> dict[str, str]:
    """CPT code -> the subspecialty required to read it, from `subspecialist-exam`."""
    exams = {}
    for extension in extensions(affiliation, SUBSPECIALIST_EXAM_EXTENSION):
        found = parts(extension)
        exam = _first(found, EXAM_PART, "valueCoding") or {}
        subspecialty = _first(found, SUBSPECIALTY_PART, "valueCode")
        if exam.get("system") == CPT_SYSTEM and exam.get("code") and subspecialty:
            exams[exam["code"]] = subspecialty
    return exams


def contract_from_fhir(affiliation: dict[str, Any]) -> Contract | None:
    """The Contract of a stored OrganizationAffiliation (with its id); None when it lacks
    a party or a known kind, so that a contract nobody can read covers nothing."""
    facility = referenced_id(affiliation.get("organization"), "Organization")
    group = referenced_id(affiliation.get("participatingOrganization"), "Organization")
    kind = contract_kind(affiliation)
    if not (facility and group and kind):
        return None
    zone_names = extension_values(affiliation, TIMEZONE_EXTENSION, "valueCode")
    tz = zone(zone_names[0]) if zone_names else zone("UTC")
    hours = coverage_hours(affiliation)
    return Contract(
        id=str(affiliation["id"]),
        facility=facility,
        group=group,
        kind=kind,
        span=span(affiliation.get("period")),
        # Hours in a zone nobody knows (stored before validation) cover nothing.
        active=affiliation.get("active") is not False and not (hours and tz is None),
        modalities=frozenset(
            extension_values(affiliation, COVERED_MODALITY_EXTENSION, "valueCode")
        ),
        priorities=frozenset(
            extension_values(affiliation, COVERED_PRIORITY_EXTENSION, "valueCode")
        ),
        hours=hours,
        timezone=tz.key if tz else "UTC",
        targets=MappingProxyType(sla_targets(affiliation)),
        subspecialist_exams=MappingProxyType(subspecialist_exams(affiliation)),
    )
