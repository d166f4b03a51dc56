"""The roster in FHIR, read into the engine's model (services.assignment.engine.model).

Who may read for whom: licences (Da Vinci Plan-Net practitioner-qualification) and
facility privileges (PractitionerRole with `organization` = the facility). A licence counts
on a day when its Plan-Net `status` is active, its `whereValid` names the state (USPS code)
and its `period` covers the day. A privilege counts when the role is active and its
`period` covers the day. See ../shared/docs/domain.md ("Hard constraints").

A Reader is one *membership* PractitionerRole: `code` reading-role#radiologist, with the
reading group or partner vendor as `organization`. Every other role of the radiologist that
names an organization is a facility privilege. The representation is documented in
docs/assignment.md, "Roster and contracts in FHIR"; contracts are read by
services.assignment.contracts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.assignment.codes import (
    DAYS_OF_WEEK,
    MAX_OPEN_TASKS,
    MAX_RVU_PER_HOUR,
    PLAN_NET_QUALIFICATION,
    RADIOLOGIST,
    READ_MODALITY_EXTENSION,
    READING_CAPACITY_EXTENSION,
    READING_ROLE_SYSTEM,
    SUBSPECIALTY_SYSTEM,
    TIMEZONE_EXTENSION,
    USPS_SYSTEM,
)
from services.assignment.contracts import contract_from_fhir
from services.assignment.engine.model import (
    Contract,
    Licence,
    Privilege,
    Reader,
    Roster,
    Shift,
)
from services.assignment.fhir_values import (
    day_of,
    extension_values,
    first_extension,
    parts,
    span,
    wall_time,
    zone,
)
from shared.fhir.references import referenced_id

__all__ = [
    "PLAN_NET_QUALIFICATION",
    "USPS_SYSTEM",
    "is_membership",
    "licences",
    "licensed_states",
    "patient_state",
    "privileged",
    "reader_from_fhir",
    "roster_from_fhir",
    "shifts",
    "span",
]
_EVER_BEFORE = datetime.min.replace(tzinfo=UTC)
_EVER_AFTER = datetime.max.replace(tzinfo=UTC)


def _covers(period: dict[str, Any] | None, day: date) -> bool:
    """Whether a FHIR Period covers `day` (open ends are unbounded; dates compare by day,
    and a partial date such as "2027" or "2027-06" stands for all of that year or month)."""
    return span(period).covers(day)


def _plan_net(qualification: dict[str, Any]) -> dict[str, Any]:
    """The sub-extensions of a qualification's Plan-Net extension, by url."""
    extension = first_extension(qualification, PLAN_NET_QUALIFICATION)
    return {e.get("url"): e for e in (extension or {}).get("extension") or []}


def licences(practitioner: dict[str, Any]) -> tuple[Licence, ...]:
    """The practitioner's active licences (Plan-Net status active), one per USPS state
    named in `whereValid`, each with its period; others are left out."""
    found = []
    for qualification in practitioner.get("qualification") or []:
        plan_net = _plan_net(qualification)
        if (plan_net.get("status") or {}).get("valueCode") != "active":
            continue
        where = (plan_net.get("whereValid") or {}).get("valueCodeableConcept") or {}
        days = span(qualification.get("period"))
        found += [
            Licence(coding["code"], days)
            for coding in where.get("coding") or []
            if coding.get("system") == USPS_SYSTEM and coding.get("code")
        ]
    return tuple(found)


def licensed_states(practitioner: dict[str, Any], day: date) -> frozenset[str]:
    """The states (USPS codes) where `practitioner` holds an active licence on `day`."""
    if practitioner.get("active") is False:
        return frozenset()
    return frozenset(lic.state for lic in licences(practitioner) if lic.span.covers(day))


def privileged(role: dict[str, Any], day: date) -> bool:
    """Whether a facility PractitionerRole grants privileges on `day`."""
    return role.get("active") is not False and _covers(role.get("period"), day)


def patient_state(patient: dict[str, Any]) -> str | None:
    """The patient's state: the home address's, else the first address that has one."""
    addresses = patient.get("address") or []
    ordered = sorted(addresses, key=lambda a: a.get("use") != "home")
    return next((a["state"] for a in ordered if a.get("state")), None)


# -- readers ------------------------------------------------------------------------------


def is_membership(role: dict[str, Any]) -> bool:
    """Whether a PractitionerRole is reading-group (or vendor) membership: code
    reading-role#radiologist. Any other role is a facility privilege."""
    return any(
        coding.get("system") == READING_ROLE_SYSTEM and coding.get("code") == RADIOLOGIST
        for concept in role.get("code") or []
        for coding in concept.get("coding") or []
    )


def shifts(role: dict[str, Any]) -> tuple[Shift, ...]:
    """The role's weekly shifts from `availableTime`, wall clock in the role's zone; allDay
    is 00:00 to 24:00, and an end before the start runs past midnight."""
    found = []
    for available in role.get("availableTime") or []:
        days = frozenset(
            DAYS_OF_WEEK[d] for d in available.get("daysOfWeek") or [] if d in DAYS_OF_WEEK
        )
        start, end = available.get("availableStartTime"), available.get("availableEndTime")
        if available.get("allDay"):
            found.append(Shift(days, time(0), time(0)))
        elif start and end and start != end:
            found.append(Shift(days, wall_time(start), wall_time(end)))
    return tuple(found)


def _instant(text: str, tz: ZoneInfo, *, last: bool) -> datetime:
    """The UTC instant a FHIR dateTime starts (or, with `last`, ends): a date alone is
    whole local days in the reader's zone."""
    if "T" in text:
        moment = datetime.fromisoformat(text)  # FHIR wants an offset; else the role's zone
        return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).astimezone(UTC)
    day = day_of(text, last=last) + timedelta(days=1 if last else 0)
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def unavailable(role: dict[str, Any], tz: ZoneInfo) -> tuple[tuple[datetime, datetime], ...]:
    """The windows of `notAvailable.during`, in UTC; an open end is unbounded."""
    windows = []
    for absence in role.get("notAvailable") or []:
        during = absence.get("during")
        if not during:
            continue  # a description alone says nothing the engine can use
        start, end = during.get("start"), during.get("end")
        windows.append(
            (
                _instant(start, tz, last=False) if start else _EVER_BEFORE,
                _instant(end, tz, last=True) if end else _EVER_AFTER,
            )
        )
    return tuple(windows)


def _capacity(role: dict[str, Any]) -> tuple[int | None, float | None]:
    found = parts(first_extension(role, READING_CAPACITY_EXTENSION))
    tasks = next(iter(found.get(MAX_OPEN_TASKS, [])), {}).get("valueInteger")
    rvu = next(iter(found.get(MAX_RVU_PER_HOUR, [])), {}).get("valueDecimal")
    return tasks, (float(rvu) if rvu is not None else None)


def _name(practitioner: dict[str, Any]) -> str:
    name: dict[str, Any] = next(iter(practitioner.get("name") or []), {})
    if name.get("text"):
        return str(name["text"])
    return " ".join([*name.get("given", []), name.get("family", "")]).strip()


def reader_from_fhir(
    role: dict[str, Any],
    practitioner: dict[str, Any],
    facility_roles: Iterable[dict[str, Any]] = (),
) -> Reader:
    """The Reader of one membership `role`, with its practitioner's licences and the
    privileges of its `facility_roles` (inactive ones left out)."""
    tz_name = extension_values(role, TIMEZONE_EXTENSION, "valueCode")
    tz = zone(tz_name[0]) if tz_name else ZoneInfo("UTC")
    max_open_tasks, max_rvu_per_hour = _capacity(role)
    privileges = (
        Privilege(facility, span(other.get("period")))
        for other in facility_roles
        if other.get("active") is not False
        and (facility := referenced_id(other.get("organization"), "Organization"))
    )
    return Reader(
        id=str(role["id"]),
        practitioner=str(practitioner["id"]),
        name=_name(practitioner),
        group=referenced_id(role.get("organization"), "Organization") or "",
        # An unknown zone (stored before validation) leaves no shift: never on shift.
        timezone=tz.key if tz else "UTC",
        licences=licences(practitioner),
        privileges=tuple(privileges),
        modalities=frozenset(extension_values(role, READ_MODALITY_EXTENSION, "valueCode")),
        subspecialties=frozenset(
            coding["code"]
            for concept in role.get("specialty") or []
            for coding in concept.get("coding") or []
            if coding.get("system") == SUBSPECIALTY_SYSTEM and coding.get("code")
        ),
        shifts=shifts(role) if tz else (),
        unavailable=unavailable(role, tz or ZoneInfo("UTC")),
        max_open_tasks=max_open_tasks,
        max_rvu_per_hour=max_rvu_per_hour,
        span=span(role.get("period")),
        active=role.get("active") is not False and practitioner.get("active") is not False,
    )


def roster_from_fhir(
    practitioners: Iterable[dict[str, Any]],
    roles: Iterable[dict[str, Any]],
    affiliations: Iterable[dict[str, Any]],
) -> Roster:
    """The engine's Roster from stored resources (each with its id): a Reader per
    membership role whose Practitioner is given, a Contract per affiliation naming both
    parties and a known contract kind."""
    by_id = {str(p["id"]): p for p in practitioners}
    memberships: list[tuple[dict[str, Any], str]] = []
    facility_roles: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for role in roles:
        practitioner = referenced_id(role.get("practitioner"), "Practitioner")
        if practitioner not in by_id:
            continue
        if is_membership(role):
            memberships.append((role, practitioner))
        elif role.get("organization"):
            facility_roles[practitioner].append(role)
    readers = tuple(
        reader_from_fhir(role, by_id[practitioner], facility_roles[practitioner])
        for role, practitioner in memberships
    )
    contracts: tuple[Contract, ...] = tuple(
        contract
        for affiliation in affiliations
        if (contract := contract_from_fhir(affiliation)) is not None
    )
    return Roster(readers=readers, contracts=contracts)
