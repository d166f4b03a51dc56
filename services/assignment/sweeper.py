"""The sweeper: what must happen to open reads without anyone asking, every
ASSIGNMENT_SWEEP_SECONDS on each replica (and at once when a read is declined):

- a declined read goes to the next best reader (never back to whoever declined);
- a read not accepted within ASSIGNMENT_ACCEPT_MINUTES (STAT and stroke: a third of it)
  goes to the next best, without the reader who let it wait;
- unstarted work of a reader gone off shift, unavailable or inactive is re-routed;
- reads waiting unassigned are tried again (a reader may have come on shift);
- a read not yet accepted moves when another reader would finish it clearly sooner (the
  engine's rebalance: e.g. its reader is stuck behind a long read);
- finished reads leave read_work once they no longer count for balance.

Each sweep is one transaction under the decision lock, so replicas sweep in turn and never
route one read twice; at most SWEEP_BATCH reads move per sweep.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import and_, or_

from services.assignment import work
from services.assignment.engine.engine import Engine
from services.assignment.engine.model import Work
from services.assignment.flows import engine_state, reroute
from services.assignment.tables import read_work
from services.assignment.tasks import OPEN_STATUSES
from shared.events.consumer import service_context
from shared.fhir.service import now_utc
from shared.workers import periodically

log = logging.getLogger("teleradiology.assignment")
SWEEP_BATCH = 200
REBALANCE_BUDGET = 50  # reads judged again for a better place per sweep (~130 ms at scale)


def accept_deadline(row: Any, accept_within: timedelta) -> datetime:
    """When a routed read must have been accepted."""
    urgent = row.priority == "stat" or row.stroke
    return row.assigned_at + (accept_within / 3 if urgent else accept_within)


@dataclass(frozen=True, slots=True)
class Move:
    """Why a read should be routed again now, and how."""

    why: str
    exclude: frozenset[str] = frozenset()  # practitioners not to offer it to this time
    remember: bool = True  # keep `exclude` for the read's later routings too
    only_if_someone: bool = False  # leave it where it is unless someone can take it


async def sweep(app_state: Any, *, now: datetime | None = None) -> int:
    """One sweep; returns how many reads moved."""
    now = now or now_utc()
    accept_within = timedelta(minutes=app_state.settings.assignment_accept_minutes)
    state = engine_state(app_state)
    moved = 0
    async with app_state.database.transaction() as session:
        context = service_context(app_state, session)
        async with state.locked(session) as (engine, clock):
            away = engine.stranded(now)
            stranded = {w.order_id: _stranded_reason(engine, w, now) for w in away}
            better = {w.order_id for w in engine.rebalance(now, limit=REBALANCE_BUDGET)}
            condition = _may_move(now, accept_within, {w.reader for w in away}, better)
            rows = await work.rows_where(session, condition)
            for row in sorted(rows, key=lambda r: r.deadline):
                if moved >= SWEEP_BATCH:
                    break
                move = _move(row, now, accept_within, stranded, better, engine)
                if move is None or (move.only_if_someone and not _someone(engine, row, move, now)):
                    continue
                await reroute(
                    row,
                    why=move.why,
                    exclude=move.exclude,
                    remember=move.remember,
                    engine=engine,
                    clock=clock,
                    fhir=context.fhir,
                    session=session,
                    now=now,
                )
                moved += 1
            horizon = now - max(state.settings.balance_window, timedelta(hours=24))
            await work.purge(session, closed_before=horizon)
    return moved


def _may_move(now: datetime, accept_within: timedelta, away: set[str], better: set[str]) -> Any:
    """The rows `_move` may move, and a few more: declined, waiting for a reader, routed at
    least the shortest acceptance time ago, held by a reader who is `away`, or better placed
    elsewhere. Reading only these, rather than every open read, keeps a sweep's time under
    the decision lock from growing with the backlog."""
    c = read_work.c
    return or_(
        c.status == "rejected",
        and_(
            c.status == "requested",
            c.vendor.is_(None),
            or_(c.reader.is_(None), c.assigned_at <= now - accept_within / 3),
        ),
        and_(c.status.in_(OPEN_STATUSES), c.reader.in_(sorted(away))),
        c.order_id.in_(sorted(better)),
    )


def _stranded_reason(engine: Engine, stranded: Work, now: datetime) -> str:
    """Why stranded work leaves its reader, in words (e.g. "Off shift: ...")."""
    failure = engine.why_stranded(stranded, now)
    return failure.detail if failure else "the reader can no longer take it"


def _someone(engine: Engine, row: Any, move: Move, now: datetime) -> bool:
    """Whether anyone (a reader or an overflow vendor) could take the read now."""
    decision = engine.choose(work.exam_of(row, exclude=move.exclude), now)
    return decision.reader is not None or decision.overflow


def _move(
    row: Any,
    now: datetime,
    accept_within: timedelta,
    stranded: dict[str, str],
    better: set[str],
    engine: Engine,
) -> Move | None:
    """Why `row` should be routed again now (None: it stays where it is)."""
    if row.status == "rejected":
        return Move("declined")  # the decliner is already excluded (task_rules)
    if row.vendor is not None:
        return None  # the vendor routes within its own roster
    if row.reader is None:
        return Move("tried again", only_if_someone=True) if row.status == "requested" else None
    if row.started_at is not None or row.status in ("in-progress", "on-hold"):
        return None
    if row.order_id in stranded:
        return Move(stranded[row.order_id])
    if row.status == "requested" and row.assigned_at and now >= accept_deadline(row, accept_within):
        reader = engine.reader(row.reader)
        leave_out = frozenset({reader.practitioner}) if reader else frozenset()
        # Someone else, if anyone can take it; the reader may still take it later.
        return Move("not accepted in time", leave_out, remember=False, only_if_someone=True)
    if row.status == "requested" and row.order_id in better:
        # Not accepted yet, and another reader would finish it clearly sooner.
        return Move("another reader will finish it sooner", only_if_someone=True)
    return None


def sweeping(app: FastAPI) -> AbstractAsyncContextManager[None]:
    """Run the sweeper while the app serves (at once after a decline wakes it)."""
    return periodically(
        "sweep",
        lambda: sweep(app.state),
        every=app.state.settings.assignment_sweep_seconds,
        wake=engine_state(app.state).woken,
        settle=0.2,  # let the write that woke it commit
    )
