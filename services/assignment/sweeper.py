"""The sweeper: what must happen to open reads without anyone asking, every
ASSIGNMENT_SWEEP_SECONDS on each replica (and at once when a read is declined):

- a declined read goes to the next best reader (never back to whoever declined);
- a read not accepted within ASSIGNMENT_ACCEPT_MINUTES (STAT and stroke: a third of it)
  goes to the next best, without the reader who let it wait;
- unstarted work of a reader gone off shift, unavailable or inactive is re-routed;
- reads waiting unassigned are tried again (a reader may have come on shift);
- finished reads leave read_work once they no longer count for balance.

Each sweep is one transaction under the decision lock, so replicas sweep in turn and never
route one read twice; at most SWEEP_BATCH reads move per sweep. It reads only the rows that
may have to move (`_may_move`), not every open read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import and_, or_

from services.assignment import work
from services.assignment.flows import engine_state, reroute
from services.assignment.tables import read_work
from shared.events.consumer import service_context
from shared.fhir.service import now_utc

log = logging.getLogger("teleradiology.assignment")
SWEEP_BATCH = 200


def accept_deadline(row: Any, accept_within: timedelta) -> datetime:
    """When a routed read must have been accepted."""
    urgent = row.priority == "stat" or row.stroke
    return row.assigned_at + (accept_within / 3 if urgent else accept_within)


async def sweep(app_state: Any, *, now: datetime | None = None) -> int:
    """One sweep; returns how many reads moved."""
    now = now or now_utc()
    settings = app_state.settings
    accept_within = timedelta(minutes=settings.assignment_accept_minutes)
    state = engine_state(app_state)
    moved = 0
    async with app_state.database.transaction() as session:
        context = service_context(app_state, session)
        async with state.locked(session) as (engine, clock):
            away = engine.stranded(now)
            stranded = {w.order_id for w in away}
            condition = _may_move(now, accept_within, {w.reader for w in away})
            rows = await work.rows_where(session, condition)
            for row in sorted(rows, key=lambda r: r.deadline):
                if moved >= SWEEP_BATCH:
                    break
                why, exclude = _why(row, now, accept_within, stranded, engine)
                if why is None:
                    continue
                decision = await reroute(
                    row,
                    why=why,
                    exclude=exclude,
                    engine=engine,
                    clock=clock,
                    fhir=context.fhir,
                    session=session,
                    now=now,
                )
                moved += 1 if (decision.reader or decision.overflow or row.reader) else 0
            horizon = now - max(state.settings.balance_window, timedelta(hours=24))
            await work.purge(session, closed_before=horizon)
    return moved


def _may_move(now: datetime, accept_within: timedelta, away: set[str]) -> Any:
    """The rows `_why` may move, and a few more: declined, waiting for a reader, routed at
    least the shortest acceptance time ago, or held by a reader who is `away` (with
    unstarted work while off shift). Reading only these, rather than every open read, keeps
    a sweep's time under the decision lock from growing with the backlog."""
    c = read_work.c
    return or_(
        c.status == "rejected",
        and_(
            c.status == "requested",
            c.vendor.is_(None),
            or_(c.reader.is_(None), c.assigned_at <= now - accept_within / 3),
        ),
        and_(c.status.in_(work.OPEN_STATUSES), c.reader.in_(sorted(away))),
    )


def _why(
    row: Any, now: datetime, accept_within: timedelta, stranded: set[str], engine: Any
) -> tuple[str | None, frozenset[str]]:
    """Why `row` should be routed again now (None: it stays), and whom to leave out."""
    if row.status == "rejected":
        return "declined", frozenset()
    if row.vendor is not None:
        return None, frozenset()  # the vendor routes within its own roster
    if row.reader is None:
        return (
            ("still unassigned", frozenset()) if row.status == "requested" else (None, frozenset())
        )
    if row.started_at is not None or row.status in ("in-progress", "on-hold"):
        return None, frozenset()
    if row.order_id in stranded:
        return "the reader went off shift or is unavailable", frozenset()
    if row.status == "requested" and row.assigned_at and now >= accept_deadline(row, accept_within):
        reader = engine.reader(row.reader)
        leave_out = frozenset({reader.practitioner}) if reader else frozenset()
        return "not accepted in time", leave_out
    return None, frozenset()


@asynccontextmanager
async def sweeping(app: FastAPI) -> AsyncIterator[None]:
    """Run the sweeper while the app serves."""
    stop = asyncio.Event()
    task = asyncio.create_task(_run(app, stop))
    try:
        yield
    finally:
        stop.set()
        engine_state(app.state).wake()
        with suppress(asyncio.CancelledError):
            await task


async def _run(app: FastAPI, stop: asyncio.Event) -> None:
    interval = app.state.settings.assignment_sweep_seconds
    state = engine_state(app.state)
    while not stop.is_set():
        with suppress(TimeoutError):
            await asyncio.wait_for(state.woken.wait(), timeout=interval)
        state.woken.clear()
        if stop.is_set():
            return
        await asyncio.sleep(0.2)  # let the write that woke us commit
        try:
            await sweep(app.state)
        except Exception as exc:  # the next sweep tries again; never stop sweeping
            log.error("sweep failed", extra={"error_type": type(exc).__name__})
