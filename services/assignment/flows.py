"""Routing reads: a new order to its Task, and an open read to someone else when its reader
declines, does not accept in time, or goes off shift -- each decision taken under the
decision lock (services.assignment.work), written with its Task and recorded for audit.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.assignment import work
from services.assignment.decisions import decision_event, record_decision
from services.assignment.engine.engine import Engine
from services.assignment.engine.model import Decision, Exam
from services.assignment.state import EngineState, apply_row
from services.assignment.tasks import READ_TASK_SYSTEM, read_task, route
from shared.fhir.service import FhirService

log = logging.getLogger("teleradiology.assignment")


def engine_state(app_state: Any) -> EngineState:
    state: EngineState = app_state.assignment
    return state


def outcome_of(decision: Decision, *, rerouted: bool) -> str:
    if decision.reader is not None:
        return "re-routed" if rerouted else "assigned"
    return "overflow" if decision.overflow else "unassigned"


def routed_values(decision: Decision, now: datetime) -> dict[str, Any]:
    """The read_work columns a decision sets."""
    return {
        "status": "requested",
        "reader": decision.reader.id if decision.reader else None,
        "vendor": decision.contract.group if decision.overflow and decision.contract else None,
        "assigned_at": now if decision.reader or decision.overflow else None,
        "started_at": None,
        "reason": None if decision.reader or decision.overflow else decision.reason,
    }


async def _remember(
    session: AsyncSession,
    engine: Engine,
    order_id: str,
    values: dict[str, Any],
    clock: work.Clock,
) -> None:
    """Write the order's row and apply it to this replica's workload at once, so that the
    next decision in the same transaction counts it."""
    await work.record(session, order_id, values, clock=clock)
    row = await work.row_of(session, order_id)
    if row is not None:
        apply_row(engine.workload, row)


async def assign_new_order(
    *, order: dict[str, Any], exam: Exam, fhir: FhirService, session: AsyncSession, now: datetime
) -> None:
    """Make the order's read Task, routed by the engine (idempotent: a Task made before
    for the order is left alone)."""
    state = engine_state(fhir.state)
    async with state.locked(session) as (engine, clock):
        if await fhir.match_ids("Task", f"identifier={READ_TASK_SYSTEM}|{order['id']}"):
            return
        decision = engine.choose(exam, now, explain=True)
        result = await fhir.create("Task", read_task(order, decision, authored=now))
        stored = result.stored
        values = {
            "task_id": stored.id,
            **work.exam_values(exam, decision.deadline),
            **routed_values(decision, now),
        }
        await _remember(session, engine, order["id"], values, clock)
        await _record(fhir, decision, stored.id, stored.version_id, rerouted=False)
    log.info(
        "order routed",
        extra={"task": stored.id, "outcome": outcome_of(decision, rerouted=False)},
    )


async def reroute(
    row: Any,
    *,
    why: str,
    exclude: frozenset[str],
    remember: bool = True,
    engine: Engine,
    clock: work.Clock,
    fhir: FhirService,
    session: AsyncSession,
    now: datetime,
) -> Decision:
    """Route an open read again, without the practitioners in `exclude` (who declined or
    did not accept) -- for good when `remember`; called under the decision lock."""
    exam = work.exam_of(row, exclude=exclude)
    engine.workload.remove(row.order_id)  # its current holder no longer counts it
    decision = engine.choose(exam, now, explain=True)
    stored = await fhir.read("Task", row.task_id)
    task = stored.resource()
    route(task, decision, rerouted=why)
    result = await fhir.update("Task", row.task_id, task)
    kept = exam.excluded if remember else work.exam_of(row).excluded
    values = {**routed_values(decision, now), "excluded": " ".join(sorted(kept))}
    await _remember(session, engine, row.order_id, values, clock)
    await _record(fhir, decision, row.task_id, result.stored.version_id, rerouted=True)
    log.info(
        "read re-routed",
        extra={"task": row.task_id, "outcome": outcome_of(decision, rerouted=True), "why": why},
    )
    return decision


async def _record(
    fhir: FhirService, decision: Decision, task_id: str, version: int, *, rerouted: bool
) -> None:
    audit = getattr(fhir.state, "audit", None)
    if audit is None:  # no app (a seed or a unit test of the flow)
        return
    event = decision_event(
        decision,
        outcome=outcome_of(decision, rerouted=rerouted),
        task_path=f"Task/{task_id}/_history/{version}",
        service=fhir.state.settings.service_name,
    )
    await record_decision(audit, event)
