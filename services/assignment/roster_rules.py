"""Write validation of the roster and contracts (docs/assignment.md, "Roster and contracts
in FHIR"): what the engine would misread is refused with 422 and the FHIRPath of each
offending element, all problems of one write at once. Extensions the representation does
not define are the client's business and pass (FHIR's rule for unknown extensions).

Messages are the server's own wording: no client value is echoed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from services.assignment.access import (
    AffiliationAccess,
    PractitionerAccess,
    PractitionerRoleAccess,
)
from services.assignment.codes import (
    CLOCK_PART,
    CLOCKS,
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
    MAX_OPEN_TASKS,
    MAX_RVU_PER_HOUR,
    MODALITIES,
    PLAN_NET_QUALIFICATION,
    PLAN_NET_STATUS,
    PLAN_NET_WHERE_VALID,
    PRIORITIES,
    PRIORITY_PART,
    READ_MODALITY_EXTENSION,
    READING_CAPACITY_EXTENSION,
    SLA_PRIORITIES,
    SLA_TARGET_EXTENSION,
    START_PART,
    SUBSPECIALIST_EXAM_EXTENSION,
    SUBSPECIALTIES,
    SUBSPECIALTY_PART,
    SUBSPECIALTY_SYSTEM,
    TIMEZONE_EXTENSION,
    TURNAROUND_PART,
    TURNAROUND_UNITS,
    UCUM_SYSTEM,
    USPS_STATES,
    USPS_SYSTEM,
)
from services.assignment.fhir_values import day_of, zone
from services.assignment.roster import is_membership
from services.assignment.roster_change import RosterChange
from shared.fhir.outcomes import FhirError, business_rule
from shared.fhir.registry import WriteContext

Problem = tuple[str, str]  # (diagnostics, FHIRPath expression)
_DAYS = ", ".join(DAYS_OF_WEEK)


def _indexed(element: dict[str, Any], url: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index in `extension`, extension) of each extension of `element` with `url`."""
    for index, extension in enumerate(element.get("extension") or []):
        if extension.get("url") == url:
            yield index, extension


def _parts(extension: dict[str, Any], url: str) -> list[tuple[int, dict[str, Any]]]:
    return list(_indexed(extension, url))


def _reversed(period: dict[str, Any] | None) -> bool:
    """Whether a Period starts after it ends (by instant when both carry a time, else by
    the days they can mean)."""
    start, end = (period or {}).get("start"), (period or {}).get("end")
    if not (isinstance(start, str) and isinstance(end, str)):
        return False
    if "T" in start and "T" in end:
        return _aware(start) > _aware(end)
    return day_of(start, last=False) > day_of(end, last=True)


def _aware(text: str) -> datetime:
    """A dateTime with a time; FHIR requires its offset, UTC is assumed without one."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _period_problems(period: Any, path: str) -> list[Problem]:
    return [("The period starts after it ends", path)] if _reversed(period) else []


def _timezone_problems(resource: dict[str, Any], root: str) -> tuple[bool, list[Problem]]:
    """(whether a time zone is given, problems): at most one, an IANA zone."""
    found = list(_indexed(resource, TIMEZONE_EXTENSION))
    problems = [
        ("The time zone must be an IANA zone, e.g. America/Chicago", f"{root}.extension[{i}]")
        for i, extension in found
        if zone(extension.get("valueCode")) is None
    ]
    if len(found) > 1:
        problems.append(("Give one time zone", f"{root}.extension[{found[1][0]}]"))
    return bool(found), problems


def _code_problems(
    resource: dict[str, Any], url: str, allowed: Any, message: str, root: str
) -> list[Problem]:
    return [
        (message, f"{root}.extension[{i}]")
        for i, extension in _indexed(resource, url)
        if extension.get("valueCode") not in allowed
    ]


def _days_problems(days: list[Any], path: str) -> list[Problem]:
    if not days:
        return [(f"Name the days of the week ({_DAYS})", path)]
    if any(day not in DAYS_OF_WEEK for day in days):
        return [(f"Days of the week are {_DAYS}", path)]
    return []


# -- Practitioner -------------------------------------------------------------------------


def practitioner_problems(practitioner: dict[str, Any]) -> list[Problem]:
    """Licences (Plan-Net qualifications) name their status and a USPS state."""
    problems = []
    for q, qualification in enumerate(practitioner.get("qualification") or []):
        path = f"Practitioner.qualification[{q}]"
        problems += _period_problems(qualification.get("period"), f"{path}.period")
        for i, plan_net in _indexed(qualification, PLAN_NET_QUALIFICATION):
            problems += _licence_problems(plan_net, f"{path}.extension[{i}]")
    return problems


def _licence_problems(plan_net: dict[str, Any], path: str) -> list[Problem]:
    problems = []
    if not any(p.get("valueCode") for _, p in _parts(plan_net, PLAN_NET_STATUS)):
        problems.append(("A licence names its status (e.g. active)", path))
    where = _parts(plan_net, PLAN_NET_WHERE_VALID)
    codings = [
        coding
        for _, part in where
        for coding in (part.get("valueCodeableConcept") or {}).get("coding") or []
        if coding.get("system") == USPS_SYSTEM
    ]
    if not codings:
        problems.append(("A licence names its state in whereValid (a USPS code)", path))
    elif any(coding.get("code") not in USPS_STATES for coding in codings):
        problems.append(("whereValid must be a USPS state or territory code", path))
    return problems


# -- PractitionerRole ---------------------------------------------------------------------


def role_problems(role: dict[str, Any]) -> list[Problem]:
    """A membership role's shifts, zone, modalities, subspecialties and capacity."""
    root = "PractitionerRole"
    has_zone, problems = _timezone_problems(role, root)
    problems += _period_problems(role.get("period"), f"{root}.period")
    membership_only = bool(
        role.get("availableTime")
        or list(_indexed(role, READ_MODALITY_EXTENSION))
        or list(_indexed(role, READING_CAPACITY_EXTENSION))
    )
    if is_membership(role):
        problems += [
            (f"A membership role names its {name}", f"{root}.{name}")
            for name in ("practitioner", "organization")
            if not role.get(name)
        ]
    elif membership_only:
        message = "Shifts, modalities and capacity belong on a membership role (code radiologist)"
        problems.append((message, f"{root}.code"))
    if role.get("availableTime") and not has_zone:
        message = "Shifts need the time zone they are worked in (timezone extension)"
        problems.append((message, f"{root}.availableTime"))
    for index, available in enumerate(role.get("availableTime") or []):
        problems += _shift_problems(available, f"{root}.availableTime[{index}]")
    for index, absence in enumerate(role.get("notAvailable") or []):
        path = f"{root}.notAvailable[{index}].during"
        problems += _period_problems(absence.get("during"), path)
    message = f"read-modality must be a DICOM modality code: {', '.join(MODALITIES)}"
    problems += _code_problems(role, READ_MODALITY_EXTENSION, MODALITIES, message, root)
    problems += _subspecialty_problems(role)
    problems += _capacity_problems(role)
    return problems


def _shift_problems(available: dict[str, Any], path: str) -> list[Problem]:
    problems = _days_problems(available.get("daysOfWeek") or [], f"{path}.daysOfWeek")
    if available.get("allDay"):
        return problems
    start, end = available.get("availableStartTime"), available.get("availableEndTime")
    if not (start and end):
        problems.append(("A shift gives its start and end times, or allDay", path))
    elif start == end:
        problems.append(("A shift that starts when it ends is allDay", path))
    return problems


def _subspecialty_problems(role: dict[str, Any]) -> list[Problem]:
    message = f"Subspecialties are {', '.join(SUBSPECIALTIES)}"
    return [
        (message, f"PractitionerRole.specialty[{s}].coding[{c}]")
        for s, concept in enumerate(role.get("specialty") or [])
        for c, coding in enumerate(concept.get("coding") or [])
        if coding.get("system") == SUBSPECIALTY_SYSTEM and coding.get("code") not in SUBSPECIALTIES
    ]


def _capacity_problems(role: dict[str, Any]) -> list[Problem]:
    found = list(_indexed(role, READING_CAPACITY_EXTENSION))
    problems = [
        ("Give one reading capacity", f"PractitionerRole.extension[{i}]") for i, _ in found[1:]
    ]
    for i, capacity in found:
        for name, value in ((MAX_OPEN_TASKS, "valueInteger"), (MAX_RVU_PER_HOUR, "valueDecimal")):
            for j, part in _parts(capacity, name):
                number = part.get(value)
                if not isinstance(number, int | float) or number <= 0:
                    path = f"PractitionerRole.extension[{i}].extension[{j}]"
                    problems.append((f"{name} is a positive {value}", path))
    return problems


# -- OrganizationAffiliation --------------------------------------------------------------


def affiliation_problems(affiliation: dict[str, Any]) -> list[Problem]:
    """A contract names both parties and its kind; its coverage, targets and subspecialist
    exams are in the representation's codes."""
    root = "OrganizationAffiliation"
    has_zone, problems = _timezone_problems(affiliation, root)
    problems += [
        (f"A contract names its {what}", f"{root}.{name}")
        for name, what in (
            ("organization", "client facility (organization)"),
            ("participatingOrganization", "reading group or vendor (participatingOrganization)"),
        )
        if not affiliation.get(name)
    ]
    problems += _kind_problems(affiliation)
    problems += _period_problems(affiliation.get("period"), f"{root}.period")
    message = f"covered-modality must be a DICOM modality code: {', '.join(MODALITIES)}"
    problems += _code_problems(affiliation, COVERED_MODALITY_EXTENSION, MODALITIES, message, root)
    message = f"covered-priority must be one of {', '.join(PRIORITIES)}"
    problems += _code_problems(affiliation, COVERED_PRIORITY_EXTENSION, PRIORITIES, message, root)
    hours = list(_indexed(affiliation, COVERAGE_HOURS_EXTENSION))
    if hours and not has_zone:
        message = "Coverage hours need the time zone they are in (timezone extension)"
        problems.append((message, f"{root}.extension[{hours[0][0]}]"))
    for i, extension in hours:
        problems += _hours_problems(extension, f"{root}.extension[{i}]")
    problems += _target_problems(affiliation)
    for i, extension in _indexed(affiliation, SUBSPECIALIST_EXAM_EXTENSION):
        problems += _exam_problems(extension, f"{root}.extension[{i}]")
    return problems


def _kind_problems(affiliation: dict[str, Any]) -> list[Problem]:
    kinds = [
        coding.get("code")
        for concept in affiliation.get("code") or []
        for coding in concept.get("coding") or []
        if coding.get("system") == CONTRACT_KIND_SYSTEM
    ]
    if len(kinds) == 1 and kinds[0] in CONTRACT_KINDS:
        return []
    message = f"A contract has one kind in code: {' | '.join(CONTRACT_KINDS)} (contract-kind)"
    return [(message, "OrganizationAffiliation.code")]


def _hours_problems(extension: dict[str, Any], path: str) -> list[Problem]:
    days = [p.get("valueCode") for _, p in _parts(extension, DAYS_OF_WEEK_PART)]
    problems = _days_problems(days, path)
    start = [p.get("valueTime") for _, p in _parts(extension, START_PART)]
    end = [p.get("valueTime") for _, p in _parts(extension, END_PART)]
    if len(start) != 1 or len(end) != 1 or None in start + end:
        problems.append(("Coverage hours give one start and one end (valueTime)", path))
    return problems


def _target_problems(affiliation: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[Any] = set()
    for i, extension in _indexed(affiliation, SLA_TARGET_EXTENSION):
        path = f"OrganizationAffiliation.extension[{i}]"
        priority = [p.get("valueCode") for _, p in _parts(extension, PRIORITY_PART)]
        if len(priority) != 1 or priority[0] not in SLA_PRIORITIES:
            message = f"An SLA target names one priority: {', '.join(SLA_PRIORITIES)}"
            problems.append((message, path))
        elif priority[0] in seen:
            problems.append(("One SLA target per priority", path))
        seen.update(priority)
        durations = [p.get("valueDuration") for _, p in _parts(extension, TURNAROUND_PART)]
        if len(durations) != 1 or not _good_duration(durations[0]):
            message = "An SLA target's turnaround is one positive valueDuration in min or h (UCUM)"
            problems.append((message, path))
        clocks = [p.get("valueCode") for _, p in _parts(extension, CLOCK_PART)]
        if len(clocks) > 1 or any(c not in CLOCKS for c in clocks):
            message = f"An SLA target names at most one clock: {', '.join(CLOCKS)}"
            problems.append((message, path))
    return problems


def _good_duration(duration: Any) -> bool:
    if not isinstance(duration, dict):
        return False
    if duration.get("system") not in (None, UCUM_SYSTEM):
        return False
    unit = duration.get("code") or duration.get("unit")
    value = duration.get("value")
    return unit in TURNAROUND_UNITS and isinstance(value, int | float) and value > 0


def _exam_problems(extension: dict[str, Any], path: str) -> list[Problem]:
    problems = []
    exams = [p.get("valueCoding") or {} for _, p in _parts(extension, EXAM_PART)]
    if len(exams) != 1 or exams[0].get("system") != CPT_SYSTEM or not exams[0].get("code"):
        problems.append(("A subspecialist exam names one exam code (valueCoding, CPT)", path))
    subspecialty = [p.get("valueCode") for _, p in _parts(extension, SUBSPECIALTY_PART)]
    if len(subspecialty) != 1 or subspecialty[0] not in SUBSPECIALTIES:
        message = f"A subspecialist exam names one subspecialty: {', '.join(SUBSPECIALTIES)}"
        problems.append((message, path))
    return problems


# -- the rules ----------------------------------------------------------------------------


def refuse(problems: list[Problem]) -> None:
    """Raise one 422 OperationOutcome holding every problem, if there is any."""
    if not problems:
        return
    error: FhirError = business_rule(*problems[0])
    for diagnostics, expression in problems[1:]:
        error.issues += business_rule(diagnostics, expression).issues
    raise error


class PractitionerRules(PractitionerAccess, RosterChange):
    """A Practitioner's licences are readable (cooperative: other rules may follow)."""

    async def prepare(
        self, resource: dict[str, Any], *, previous: dict[str, Any] | None, context: WriteContext
    ) -> None:
        refuse(practitioner_problems(resource))
        await super().prepare(resource, previous=previous, context=context)


class PractitionerRoleRules(PractitionerRoleAccess, RosterChange):
    """A role's shifts, zone, modalities, subspecialties and capacity are readable."""

    async def prepare(
        self, resource: dict[str, Any], *, previous: dict[str, Any] | None, context: WriteContext
    ) -> None:
        refuse(role_problems(resource))
        await super().prepare(resource, previous=previous, context=context)


class AffiliationRules(AffiliationAccess, RosterChange):
    """A contract's parties, kind, coverage, targets and subspecialist exams are readable."""

    async def prepare(
        self, resource: dict[str, Any], *, previous: dict[str, Any] | None, context: WriteContext
    ) -> None:
        refuse(affiliation_problems(resource))
        await super().prepare(resource, previous=previous, context=context)
