"""The breach predictor: every SLA_SWEEP_SECONDS each replica predicts every open order's
completion (services.sla.prediction) and climbs its escalation ladder (docs/sla.md,
"Breach prediction"):

1. alert -- DetectedIssue `breach-predicted` (topic sla-breach-predicted);
2. re-assign -- assignment's `POST Task/{id}/$reroute`, asked outside any transaction (a
   call held inside one would hold SQLite's only write lock, or a PostgreSQL row lock, for
   as long as assignment takes); its answer is recorded;
3. operations notified -- DetectedIssue `escalated` (topic sla-escalated) and a warning log
   line (ids, codes and numbers only: no patient data); also at once when the re-route
   found nobody sooner, or there was no read to move;

and records `breached` as soon as the deadline passes with the clock still running.

Each step is taken once per order, whichever replica sweeps: the order's `order_ladder`
row is locked while stepping (FOR UPDATE SKIP LOCKED on PostgreSQL: a replica skips an
order another is stepping; SQLite takes one writer at a time), and each step's time is
written in the same transaction as its DetectedIssue. A re-route is claimed before it is
asked; a claim left without an answer (a replica stopped mid-call, assignment unreachable)
is asked again after REROUTE_LEASE.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol

from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.breaches import sla_issue
from services.sla.facts import order_facts
from services.sla.prediction import ClockFacts, Prediction, Shares, Step, due_steps, predict
from services.sla.tables import order_ladder, task_status
from shared.events.consumer import ConsumerContext, service_context
from shared.fhir.service import now_utc
from shared.peers import PeerUnavailable
from shared.workers import periodically

log = logging.getLogger("teleradiology.sla")
REROUTE_LEASE = timedelta(minutes=2)  # a claimed re-route unanswered this long is asked again
_CHUNK = 500  # order ids per IN (...) query
# A read Task closed without the report: the order is no longer read (e.g. revoked).
_CLOSED_READ = frozenset({"cancelled", "failed", "entered-in-error"})
_COLUMN = {
    Step.ALERT: "alerted_at",
    Step.REROUTE: "reroute_asked_at",
    Step.ESCALATE: "escalated_at",
    Step.BREACHED: "breached_at",
}


class LadderFacts(ClockFacts, Protocol):
    """What the ladder needs of an order besides its clock (OrderFacts has it)."""

    @property
    def task(self) -> str | None: ...


def shares_of(settings: Any) -> Shares:
    return Shares(
        alert=settings.sla_alert_budget_share,
        reroute=settings.sla_reroute_budget_share,
        operations=settings.sla_operations_budget_share,
    )


def steps_done(row: Any, now: datetime) -> set[Step]:
    """The steps an `order_ladder` row records as taken (a re-route claimed within its
    lease counts as taken)."""
    if row is None:
        return set()
    done = {step for step, column in _COLUMN.items() if getattr(row, column) is not None}
    asked = row.reroute_asked_at
    if row.rerouted_at is None and asked is not None and now - asked >= REROUTE_LEASE:
        done.discard(Step.REROUTE)
    return done


async def sweep(app_state: Any, *, now: datetime | None = None) -> list[tuple[str, Step]]:
    """One sweep over every open order; the steps taken, as (order id, step)."""
    async with app_state.database.transaction() as session:
        orders = await order_facts(session, open_only=True)
    return await climb(app_state, orders, now=now or now_utc())


async def climb(
    app_state: Any, orders: Iterable[LadderFacts], *, now: datetime
) -> list[tuple[str, Step]]:
    """Take the ladder's due steps of `orders` (see the module doc)."""
    settings = app_state.settings
    shares = shares_of(settings)
    predicted: list[tuple[LadderFacts, Prediction]] = []
    for facts in orders:
        prediction = predict(facts, now, accept_wait=settings.sla_accept_wait_minutes)
        if prediction is not None:
            predicted.append((facts, prediction))
    if not predicted:
        return []
    ladders, closed = await _ladders(app_state, [facts.order_id for facts, _ in predicted])
    due = [
        (facts, prediction)
        for facts, prediction in predicted
        if facts.order_id not in closed
        and due_steps(
            prediction, now, shares=shares, done=steps_done(ladders.get(facts.order_id), now)
        )
    ]
    if due:
        await _make_ladders(app_state, [f.order_id for f, _ in due if f.order_id not in ladders])
    taken: list[tuple[str, Step]] = []
    for facts, prediction in due:
        steps = await _step(app_state, facts, prediction, now, shares)
        taken += [(facts.order_id, step) for step in steps]
    return taken


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


async def _ladders(app_state: Any, order_ids: list[str]) -> tuple[dict[str, Any], set[str]]:
    """The orders' ladder rows (lock-free: a preview; a step reads its row again, locked),
    and the orders whose read Task was closed without a report -- cancelled with its
    order, failed or entered in error: their clock no longer runs for the ladder."""
    ladders: dict[str, Any] = {}
    latest: dict[str, tuple[datetime, str]] = {}
    async with app_state.database.transaction() as session:
        for chunk in _chunks(order_ids):
            rows = await session.execute(
                select(order_ladder).where(order_ladder.c.order_id.in_(chunk))
            )
            ladders.update((row.order_id, row) for row in rows)
            versions = await session.execute(
                select(task_status.c.order_id, task_status.c.at, task_status.c.status).where(
                    task_status.c.order_id.in_(chunk)
                )
            )
            for version in versions:
                seen = latest.get(version.order_id)
                if seen is None or version.at >= seen[0]:
                    latest[version.order_id] = (version.at, version.status)
    closed = {order for order, (_, status) in latest.items() if status in _CLOSED_READ}
    return ladders, closed


async def _make_ladders(app_state: Any, order_ids: list[str]) -> None:
    """Make the missing ladder rows (so that a step can lock one)."""
    if not order_ids:
        return
    async with app_state.database.transaction() as session:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        for order_id in order_ids:
            await session.execute(
                insert(order_ladder).values(order_id=order_id).on_conflict_do_nothing()
            )


async def _locked(session: AsyncSession, order_id: str, *, wait: bool = False) -> Any | None:
    """The order's ladder row, locked; None while another replica steps it (unless `wait`:
    then once it is done)."""
    statement = (
        select(order_ladder)
        .where(order_ladder.c.order_id == order_id)
        .with_for_update(skip_locked=not wait)
    )
    return (await session.execute(statement)).first()


async def _mark(session: AsyncSession, order_id: str, **values: Any) -> None:
    await session.execute(
        update(order_ladder).where(order_ladder.c.order_id == order_id).values(**values)
    )


async def _step(
    app_state: Any, facts: LadderFacts, prediction: Prediction, now: datetime, shares: Shares
) -> list[Step]:
    """Take the order's due steps: the issues and the re-route claim in one transaction,
    then the re-route itself outside it."""
    async with app_state.database.transaction() as session:
        row = await _locked(session, facts.order_id)
        if row is None:
            return []
        steps = due_steps(prediction, now, shares=shares, done=steps_done(row, now))
        context = service_context(app_state, session)
        asking = "asked" if Step.REROUTE in steps else None
        for step in steps:
            if step is not Step.REROUTE:
                reroute = row.reroute_outcome or asking
                await _raise(context, step, facts, prediction, now, reroute=reroute)
            await _mark(session, facts.order_id, **{_COLUMN[step]: now})
    if Step.REROUTE in steps:
        outcome = await _ask_reroute(app_state.peers, facts, prediction)
        if outcome is not None and await _answered(app_state, facts, prediction, now, outcome):
            steps.append(Step.ESCALATE)
    return steps


async def _ask_reroute(peers: Any, facts: LadderFacts, prediction: Prediction) -> str | None:
    """Ask assignment to re-route the order's read: rerouted | stayed | no-read (None: no
    answer; asked again once the claim's lease runs out)."""
    if facts.task is None:
        return "no-read"
    reason = f"predicted to miss its deadline by {prediction.minutes_late:.0f} min"
    body = {"resourceType": "Parameters", "parameter": [{"name": "reason", "valueString": reason}]}
    try:
        answer = await peers.post("assignment", f"{facts.task}/$reroute", body)
    except PeerUnavailable as error:
        log.warning(
            "re-route not answered",
            extra={"order": facts.order_id, "task": facts.task, "error": str(error)},
        )
        return None
    moved = any(
        p.get("name") == "rerouted" and p.get("valueBoolean") is True
        for p in answer.get("parameter") or []
    )
    return "rerouted" if moved else "stayed"


async def _answered(
    app_state: Any, facts: LadderFacts, prediction: Prediction, now: datetime, outcome: str
) -> bool:
    """Record the re-route's answer; when nobody would take the read sooner, tell
    operations at once (unless told already). Whether operations were told now."""
    async with app_state.database.transaction() as session:
        row = await _locked(session, facts.order_id, wait=True)
        if row is None:  # the row is gone (a restored database): nothing to record
            return False
        await _mark(session, facts.order_id, rerouted_at=now, reroute_outcome=outcome)
        if outcome == "rerouted" or row.escalated_at is not None:
            return False
        context = service_context(app_state, session)
        await _raise(context, Step.ESCALATE, facts, prediction, now, reroute=outcome)
        await _mark(session, facts.order_id, escalated_at=now)
        return True


async def _raise(
    context: ConsumerContext,
    step: Step,
    facts: LadderFacts,
    prediction: Prediction,
    now: datetime,
    *,
    reroute: str | None,
) -> None:
    """Write the step's DetectedIssue (one per order and code: a replay finds it)."""
    late = prediction.minutes_late
    used = f"{prediction.share:.0%} of the time budget used"
    if step is Step.ALERT:
        code, detail = "breach-predicted", f"Predicted {late:.0f} min past the deadline ({used})"
    elif step is Step.ESCALATE:
        code = "escalated"
        detail = f"Still predicted {late:.0f} min past the deadline ({used}); re-route: "
        detail += reroute or "not asked"
        log.warning(
            "sla escalated to operations",
            extra={
                "order": facts.order_id,
                "task": facts.task,
                "priority": facts.priority,
                "modality": facts.modality,
                "budget_share": round(prediction.share, 3),
                "minutes_late": round(late, 1),
                "reroute": reroute,
            },
        )
    else:
        past = (now - prediction.deadline).total_seconds() / 60
        code = "breached"
        detail = f"The deadline passed {past:.0f} min ago with the {facts.clock} clock running"
    await context.fhir.create("DetectedIssue", sla_issue(facts.order_id, code, detail))


def predicting(app: FastAPI) -> AbstractAsyncContextManager[None]:
    """Run the breach predictor while the app serves. A sweep may take a while (many orders
    stepping at once); stopping mid-sweep is safe: each step is its own transaction and an
    unanswered re-route claim lapses."""
    return periodically(
        "breach prediction", lambda: sweep(app.state), every=app.state.settings.sla_sweep_seconds
    )
