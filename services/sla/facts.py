"""What sla knows of each order, in one shape for everyone who judges turnaround: the
breach predictor, compliance reports, metrics, the dashboard and `$turnaround`.

An order's facts come from sla's own tables (services.sla.tables), filled from the events
sla consumes: the timeline's milestones, who and what the read is (facility, modality,
stroke, read Task, owner, contract, radiologist), the read Task's holds, and the contract's
terms. The clock, its target and the effective deadline follow services.sla.clocks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.clocks import (
    TASK_DEADLINE_CLOCK,
    Pause,
    Term,
    clock_ends,
    default_clock,
    pauses,
    term_for,
)
from services.sla.tables import contract_term, order_clock, order_milestone, task_status
from services.sla.timeline import MILESTONES
from shared.fhir.references import referenced_id
from shared.fhir.service import now_utc

_CHUNK = 500  # order ids per IN (...) query
_STOPS = ("preliminary", "final")  # every clock stops at one of these


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """One order's read, clock and timeline as sla knows them now."""

    order_id: str
    facility: str | None  # "Organization/<id>", the ordering facility
    contract: str | None  # "OrganizationAffiliation/<id>" the read ran under (None: unknown)
    modality: str | None  # DICOM modality, e.g. "CT"
    priority: str  # routine | urgent | asap | stat (stroke: stat + stroke=True)
    stroke: bool
    radiologist: str | None  # "Practitioner/<id>" who signed the final report
    owner: str | None  # the read Task's current owner reference
    task: str | None  # "Task/<id>" of the read
    clock: str  # the interval that counts, e.g. "ordered-to-final"
    started_at: datetime | None  # the clock's start milestone time
    stopped_at: datetime | None  # the clock's stop milestone time (None while running)
    deadline: datetime | None  # started_at + target + paused time (the effective deadline)
    target_minutes: float | None
    paused_minutes: float  # hold time inside the clock so far (a running hold up to now)
    on_hold: bool
    milestones: Mapping[str, datetime]
    task_deadline: datetime | None = None  # the read Task's restriction.period.end
    pauses: tuple[Pause, ...] = field(default=())

    def paused_until(self, now: datetime) -> float:
        """Minutes the clock was paused between its start and `now` (or its stop)."""
        if self.started_at is None:
            return 0.0
        end = self.stopped_at or now
        return sum(p.minutes_within(self.started_at, end) for p in self.pauses)

    def elapsed_minutes(self, now: datetime) -> float | None:
        """Clock time so far (up to the stop, once stopped), pauses taken out."""
        if self.started_at is None:
            return None
        end = self.stopped_at or now
        return (end - self.started_at).total_seconds() / 60 - self.paused_until(now)

    def budget_share(self, now: datetime) -> float | None:
        """The share of the target used so far (1.0: the target is spent)."""
        elapsed = self.elapsed_minutes(now)
        if elapsed is None or not self.target_minutes:
            return None
        return elapsed / self.target_minutes

    @property
    def met(self) -> bool | None:
        """Whether the clock stopped by the effective deadline; None while it runs or while
        the deadline is unknown."""
        if self.stopped_at is None or self.deadline is None:
            return None
        return self.stopped_at <= self.deadline


def facts_of(
    row: Any,
    milestones: Mapping[str, datetime],
    versions: Iterable[tuple[datetime, str, str]],
    terms: Mapping[str, Term],
    *,
    now: datetime,
) -> OrderFacts:
    """An order's facts from its order_clock row, milestones, Task versions and contract terms."""
    priority = row.priority or "routine"
    stroke = bool(row.stroke)
    term = term_for(priority, stroke, terms)
    target: float | None
    if term is not None:
        clock, target = term.clock or default_clock(priority, stroke), term.target_minutes
    else:
        clock, target = TASK_DEADLINE_CLOCK, _task_budget(row.deadline, milestones)
    started, stopped = clock_ends(clock, milestones)
    holds = pauses(versions)
    paused = sum(p.minutes_within(started, stopped or now) for p in holds) if started else 0.0
    deadline = (
        started + timedelta(minutes=target + paused) if started and target is not None else None
    )
    return OrderFacts(
        order_id=row.order_id,
        facility=row.facility,
        contract=row.contract,
        modality=row.modality,
        priority=priority,
        stroke=stroke,
        radiologist=row.radiologist,
        owner=row.owner,
        task=row.task,
        clock=clock,
        started_at=started,
        stopped_at=stopped,
        deadline=deadline,
        target_minutes=target,
        paused_minutes=paused,
        on_hold=bool(holds) and holds[-1].end is None,
        milestones=MappingProxyType({m: milestones[m] for m in MILESTONES if m in milestones}),
        task_deadline=row.deadline,
        pauses=holds,
    )


def _task_budget(deadline: datetime | None, milestones: Mapping[str, datetime]) -> float | None:
    """The Task deadline's minutes from the order (assignment's target for it)."""
    ordered = milestones.get("ordered")
    if deadline is None or ordered is None:
        return None
    return (deadline - ordered).total_seconds() / 60


async def order_facts(
    session: AsyncSession,
    *,
    stopped_from: datetime | None = None,
    stopped_to: datetime | None = None,
    open_only: bool = False,
    limit: int | None = None,
) -> list[OrderFacts]:
    """The facts of the orders sla knows, by order id: those whose clock stopped in
    [stopped_from, stopped_to) when either is given, only running clocks when `open_only`,
    at most `limit`."""
    query = select(order_clock).order_by(order_clock.c.order_id)
    if open_only:
        query = query.where(~_has_milestone("final"))
    if stopped_from is not None or stopped_to is not None:
        query = query.where(_has_milestone(*_STOPS, since=stopped_from, until=stopped_to))
    rows = list((await session.execute(query)).all())
    found = [
        f
        for f in await _facts_of_rows(session, rows)
        if _wanted(f, open_only, stopped_from, stopped_to)
    ]
    return found[:limit] if limit is not None else found


async def facts_of_order(session: AsyncSession, order_id: str) -> OrderFacts | None:
    """One order's facts; None when sla has heard nothing of it."""
    row = (
        await session.execute(select(order_clock).where(order_clock.c.order_id == order_id))
    ).first()
    if row is None:
        return None
    return (await _facts_of_rows(session, [row]))[0]


def _wanted(
    facts: OrderFacts, open_only: bool, since: datetime | None, until: datetime | None
) -> bool:
    if open_only and facts.stopped_at is not None:
        return False
    if since is None and until is None:
        return True
    stopped = facts.stopped_at
    return (
        stopped is not None
        and (since is None or stopped >= since)
        and (until is None or stopped < until)
    )


def _has_milestone(
    *names: str, since: datetime | None = None, until: datetime | None = None
) -> Any:
    """SQL: the order has one of the milestones `names` (in [since, until) when given)."""
    conditions = [
        order_milestone.c.order_id == order_clock.c.order_id,
        order_milestone.c.milestone.in_(names),
    ]
    if since is not None:
        conditions.append(order_milestone.c.occurred_at >= since)
    if until is not None:
        conditions.append(order_milestone.c.occurred_at < until)
    return exists().where(and_(*conditions))


async def _facts_of_rows(session: AsyncSession, rows: Sequence[Any]) -> list[OrderFacts]:
    now = now_utc()
    order_ids = [row.order_id for row in rows]
    milestones: dict[str, dict[str, datetime]] = {o: {} for o in order_ids}
    versions: dict[str, list[tuple[datetime, str, str]]] = {o: [] for o in order_ids}
    for chunk in _chunks(order_ids):
        for m in await session.execute(
            select(order_milestone).where(order_milestone.c.order_id.in_(chunk))
        ):
            milestones[m.order_id][m.milestone] = m.occurred_at
        for v in await session.execute(
            select(task_status).where(task_status.c.order_id.in_(chunk))
        ):
            versions[v.order_id].append((v.at, v.source, v.status))
    terms = await _contract_terms(session, {row.contract for row in rows if row.contract})
    return [
        facts_of(
            row,
            milestones[row.order_id],
            versions[row.order_id],
            terms.get(row.contract or "", {}),
            now=now,
        )
        for row in rows
    ]


async def _contract_terms(session: AsyncSession, contracts: set[str]) -> dict[str, dict[str, Term]]:
    """Each contract's (by reference) terms per priority."""
    ids = {referenced_id({"reference": c}, "OrganizationAffiliation"): c for c in contracts}
    found: dict[str, dict[str, Term]] = {c: {} for c in contracts}
    for chunk in _chunks([i for i in ids if i]):
        for t in await session.execute(
            select(contract_term).where(contract_term.c.contract_id.in_(chunk))
        ):
            found[ids[t.contract_id]][t.priority] = Term(t.target_minutes, t.clock)
    return found


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
