"""The demo roster `make run` loads: at every hour of the year -- across every
daylight-saving change in Chicago, Zurich and Sydney -- each demo facility has a reader of
its reading group who is licensed in its state, privileged there, reads each demo
modality, is on shift and is covered by the facility's contract, so every demo order is
assigned whatever the time; the same for the subspecialist exams of the demo orders and
for the vendor's overflow hours. Loading it again changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.assignment.demo_roster import CONTRACTS, NIGHTWATCH, ROSTER
from services.assignment.engine.exams import exam_kind
from services.assignment.engine.model import Constraint, Contract, Exam, Reader, Roster, Shift
from services.assignment.resources import REGISTRY
from services.assignment.roster import roster_from_fhir
from services.assignment.seed import ORGANIZATION_NPIS, SEED_PRINCIPAL, seed
from services.assignment.state import EngineState
from services.intake.seed import EXAMS, FACILITIES
from shared.fhir.search.request import SearchLimits
from shared.fhir.service import FhirService
from tests.support.rest import count, entries, search

# Intake's demo organizations as intake would answer for them: NPI -> Organization/<id>.
ORGANIZATIONS = {npi: f"Organization/{uuid4()}" for npi in ORGANIZATION_NPIS.values()}
TODAY = date.today()
DEMO_MODALITIES = sorted({modality for _, _, modality in EXAMS})
DEMO_CODES = {code for code, _, _ in EXAMS}
# Weeks holding 2026's clock changes: US (8 Mar, 1 Nov), Europe (29 Mar, 25 Oct),
# Sydney (5 Apr, 4 Oct); and this week.
CLOCK_CHANGES = [date(2026, m, d) for m, d in ((3, 8), (3, 29), (4, 5), (10, 4), (10, 25), (11, 1))]
STEP = timedelta(minutes=30)


def _fhir(session: AsyncSession) -> FhirService:
    """FHIR semantics on the assignment database, as the seed acts."""
    return FhirService(
        session=session,
        registry=REGISTRY,
        principal=SEED_PRINCIPAL,
        limits=SearchLimits(20, 200),
        base_url="",
    )


def _org(key: str) -> str:
    return ORGANIZATIONS[ORGANIZATION_NPIS[key]].removeprefix("Organization/")


async def _roster(client: httpx.AsyncClient) -> Roster:
    """The stored roster, as the engine reads it."""
    found = [
        [e["resource"] for e in entries(await search(client, kind, {"_count": "200"}))]
        for kind in ("Practitioner", "PractitionerRole", "OrganizationAffiliation")
    ]
    return roster_from_fhir(*found)


def _within(shift: Shift, local: datetime) -> bool:
    moment, weekday = local.time(), local.weekday()
    if shift.start < shift.end:
        return weekday in shift.days and shift.start <= moment < shift.end
    # past midnight (or all day: 00:00 to 00:00)
    return (weekday in shift.days and moment >= shift.start) or (
        (weekday - 1) % 7 in shift.days and moment < shift.end
    )


def _on_shift(reader: Reader, at: datetime) -> bool:
    local = at.astimezone(ZoneInfo(reader.timezone))
    away = any(start <= at < end for start, end in reader.unavailable)
    return not away and any(_within(shift, local) for shift in reader.shifts)


def _covers(contract: Contract, modality: str, at: datetime) -> bool:
    local = at.astimezone(ZoneInfo(contract.timezone))
    return (
        contract.active
        and contract.span.covers(at.date())
        and (not contract.modalities or modality in contract.modalities)
        and (not contract.hours or any(_within(hours, local) for hours in contract.hours))
    )


def _may_read(
    reader: Reader, facility: str, state: str, modality: str, at: datetime, needs: str | None
) -> bool:
    day = at.date()
    return (
        reader.active
        and reader.span.covers(day)
        and any(lic.state == state and lic.span.covers(day) for lic in reader.licences)
        and any(p.facility == facility and p.span.covers(day) for p in reader.privileges)
        and modality in reader.modalities
        and (needs is None or needs in reader.subspecialties)
        and _on_shift(reader, at)
    )


def _gaps(roster: Roster, kind: str, start: date) -> list[str]:
    """Each (time, facility, exam) of the week from `start` nobody of a `kind` contract
    of the facility may read; exams are the demo modalities and the demo exam codes the
    contract reserves for a subspecialist."""
    gaps = []
    states = {_org(key): state for key, _, _, state, _ in FACILITIES}
    names = {_org(key): key for key, *_ in FACILITIES}
    at = datetime.combine(start, datetime.min.time(), UTC)
    while at < datetime.combine(start + timedelta(days=7), datetime.min.time(), UTC):
        for contract in (c for c in roster.contracts if c.kind == kind):
            wanted: list[tuple[str, str | None]] = [
                (m, None)
                for m in DEMO_MODALITIES
                if not contract.modalities or m in contract.modalities
            ]
            wanted += [
                (exam.modality, needs)
                for code, needs in contract.subspecialist_exams.items()
                if code in DEMO_CODES and (exam := exam_kind(code))
            ]
            for modality, needs in wanted:
                if not _covers(contract, modality, at):
                    continue
                readers = (r for r in roster.readers if r.group == contract.group)
                facility, state = contract.facility, states[contract.facility]
                if not any(_may_read(r, facility, state, modality, at, needs) for r in readers):
                    gaps.append(f"{at:%Y-%m-%d %H:%MZ} {names[facility]} {modality} {needs or ''}")
        at += STEP
    return gaps


@pytest.fixture
async def demo_roster(assignment_app: FastAPI, assignment: httpx.AsyncClient) -> Roster:
    await seed(assignment_app.state.settings, ORGANIZATIONS)
    return await _roster(assignment)


async def test_every_demo_exam_at_every_facility_has_a_reader_at_every_hour(
    demo_roster: Roster,
) -> None:
    assert {c.facility for c in demo_roster.contracts if c.kind == "primary"} == {
        _org(key) for key, *_ in FACILITIES
    }
    for week in [*CLOCK_CHANGES, TODAY]:
        start = week - timedelta(days=3)
        assert _gaps(demo_roster, "primary", start) == [], f"the week from {start}"


async def test_the_vendor_reads_its_overflow_contracts_at_every_hour_they_cover(
    demo_roster: Roster,
) -> None:
    overflow = [c for c in demo_roster.contracts if c.kind == "overflow"]
    assert {c.group for c in overflow} == {_org(NIGHTWATCH)}
    assert len(overflow) == sum(1 for terms in CONTRACTS if terms.kind == "overflow")
    for week in (CLOCK_CHANGES[0], CLOCK_CHANGES[-1], TODAY):
        assert _gaps(demo_roster, "overflow", week) == []


async def test_dr_chen_reads_for_three_demo_facilities_on_weekday_evenings(
    demo_roster: Roster,
) -> None:
    (chen,) = (r for r in demo_roster.readers if r.name == "Wei Chen")
    monday_evening = datetime(2026, 6, 1, 23, tzinfo=UTC)  # 18:00 in Chicago

    mine = {
        key
        for key, _, _, state, _ in FACILITIES
        if _may_read(chen, _org(key), state, "CT", monday_evening, None)
    }

    assert mine == {"mercy-dallas", "harbor-la", "hudson-albany"}
    assert chen.group == _org("meridian")


def _demo_exam(facility: str, state: str, at: datetime) -> Exam:
    """A routine head CT at `facility` for a patient of `state`, ordered at `at`."""
    return Exam(
        order_id="demo",
        facility=facility.removeprefix("Organization/"),
        state=state,
        code="70450",
        modality="CT",
        priority="routine",
        ordered_at=at,
        rvu=0.83,
        read_minutes=16.1,
    )


async def test_the_engine_routes_every_demo_facilitys_order_from_the_stored_roster(
    assignment_app: FastAPI,
) -> None:
    await seed(assignment_app.state.settings, ORGANIZATIONS)
    monday_evening = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)

    async with assignment_app.state.database.transaction() as session:
        engine = await EngineState().current(session)
    for key, _, _, state, npi in FACILITIES:
        # The demo's patients live in their facility's state.
        exam = _demo_exam(ORGANIZATIONS[npi], state, monday_evening)
        eligible = [c for c in engine.evaluate(exam, monday_evening) if c.eligible]
        assert len(eligible) >= 2, f"{key}: {len(eligible)} eligible readers"
        assert engine.choose(exam, monday_evening).reader is not None, key


async def test_privileges_without_a_current_licence_there_make_no_reader(
    assignment_app: FastAPI,
) -> None:
    await seed(assignment_app.state.settings, ORGANIZATIONS)
    dallas = ORGANIZATIONS[next(f for f in FACILITIES if f[0] == "mercy-dallas")[4]]
    now = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)

    async with assignment_app.state.database.transaction() as session:
        engine = await EngineState().current(session)
    unlicensed = {
        c.reader.name
        for c in engine.evaluate(_demo_exam(dallas, "TX", now), now)
        if any(f.constraint is Constraint.LICENCE for f in c.failures)
        and not any(f.constraint is Constraint.PRIVILEGES for f in c.failures)
    }

    # Rossi holds no Texas licence, Singh's has lapsed: privileged at Dallas, not readers.
    assert any("Rossi" in name for name in unlicensed)
    assert any("Singh" in name for name in unlicensed)


async def test_seeding_again_creates_nothing(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    settings = assignment_app.state.settings
    roles = len(ROSTER) + sum(len(reader.privileged) for reader in ROSTER)

    assert await seed(settings, ORGANIZATIONS) == len(ROSTER) + roles + len(CONTRACTS)
    assert await seed(settings, ORGANIZATIONS) == 0

    assert await count(assignment, "Practitioner") == len(ROSTER) == 22
    assert await count(assignment, "PractitionerRole") == roles
    assert await count(assignment, "OrganizationAffiliation") == len(CONTRACTS) == 9


async def test_an_organization_intake_does_not_know_stops_the_seed_before_it_writes(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    vendor = ORGANIZATION_NPIS[NIGHTWATCH]
    known = {npi: ref for npi, ref in ORGANIZATIONS.items() if npi != vendor}

    with pytest.raises(ValueError, match=vendor):
        await seed(assignment_app.state.settings, known)
    assert await count(assignment, "Practitioner") == 0
