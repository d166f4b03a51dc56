"""`POST [base]/Task/{id}/$reroute`: route a read again now, to a reader who finishes it
clearly sooner (OperationDefinition: OPERATION.definition).

https://hl7.org/fhir/R4/operations.html -- an instance operation on the read Task. sla asks
it when an order is predicted to miss its deadline (services/sla/predictor.py); operations
may ask it too. Body: Parameters with an optional `reason` (string, why it is asked; it
becomes the re-routed Task's businessStatus text). Answer: Parameters `rerouted` (boolean),
`owner` (the Task's owner afterwards) and `reason` (why it moved or stayed).

A read moves only while nobody reads it: requested, received, accepted or ready, not
started, held by a radiologist (a vendor routes within its own roster). It goes to the
engine's best pick among the eligible readers -- never its current one -- who would finish
it sooner than its reader by at least the engine's patience (EngineSettings.
rebalance_after, a third of it for STAT and stroke); nobody such, it stays: 200 with
rerouted=false. The decision is taken under the decision lock and recorded for audit like
every routing (services.assignment.decisions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from services.assignment import work
from services.assignment.engine.engine import Engine
from services.assignment.engine.model import Candidate
from services.assignment.engine.reading import is_stat
from services.assignment.flows import engine_state, reroute
from services.assignment.tables import read_work
from services.assignment.tasks import READ_TASK_SYSTEM
from shared.audit.trail import accessed, note
from shared.auth import CurrentPrincipal
from shared.events.consumer import service_context
from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.http import read_body, respond
from shared.fhir.outcomes import bad_request, business_rule, forbidden
from shared.fhir.registry import Operation
from shared.fhir.service import now_utc
from shared.fhir.storage.records import StoredResource
from shared.fhir.validation import parse_json

OPERATION = Operation(
    name="reroute",
    definition=f"{CANONICAL_BASE}/OperationDefinition/reroute",
    documentation="Route an unstarted read again now, to a reader who would finish it clearly "
    "sooner (POST Task/{id}/$reroute; the platform and operations)",
)
CALLERS = frozenset({"system", "admin"})
MOVABLE = frozenset({"requested", "received", "accepted", "ready"})
DEFAULT_REASON = "asked to re-route"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a read should move now, and why; `exclude`: practitioners it must not go to
    this time (its reader, and those who would not finish it clearly sooner)."""

    move: bool
    reason: str
    exclude: frozenset[str] = frozenset()


def _own_completion(engine: Engine, row: Any, now: datetime) -> datetime | None:
    """When the read's own reader is predicted to finish it (None: nobody holds it)."""
    if row.reader is None:
        return None
    minutes = next(
        (wait for queued, wait in engine.waits(row.reader, now) if queued.order_id == row.order_id),
        engine.busy_for(row.reader, now),  # not queued (e.g. caps): after all they hold
    )
    pace = engine.workload.pace(row.reader)
    return now + timedelta(minutes=minutes + row.read_minutes * pace)


def _patience(engine: Engine, row: Any) -> timedelta:
    """How much sooner another reader must finish to be worth a move."""
    after = engine.settings.rebalance_after or timedelta(0)
    work_now = engine.workload.get(row.order_id)
    return after / 3 if work_now is not None and is_stat(work_now) else after


def _finishes_by(candidate: Candidate, need_by: datetime | None) -> bool:
    """Whether an eligible candidate finishes by `need_by` (None: any time will do)."""
    if candidate.score is None:
        return False
    return need_by is None or candidate.score.predicted_completion <= need_by


def judge_reroute(engine: Engine, row: Any, now: datetime) -> Verdict:
    """Whether `row`'s read should move now (see the module doc); changes nothing."""
    if row.status == "rejected":
        return Verdict(False, "The read was declined: the sweeper routes it to the next reader")
    if row.status not in MOVABLE or row.started_at is not None:
        return Verdict(False, f"The read is {row.status}: it stays with its reader")
    if row.vendor is not None:
        return Verdict(False, "A partner vendor holds the read and routes it in its roster")
    holder = engine.reader(row.reader) if row.reader else None
    own = _own_completion(engine, row, now)
    need_by = None if own is None else own - _patience(engine, row)
    leave_out = {holder.practitioner} if holder else set()
    held = engine.workload.remove(row.order_id)  # judged as if unassigned: caps, queue
    try:
        explained = engine.choose(work.exam_of(row), now, explain=True)
        leave_out |= {
            c.reader.practitioner
            for c in explained.candidates
            if c.reader.id == row.reader or not _finishes_by(c, need_by)
        }
        decision = engine.choose(work.exam_of(row, exclude=frozenset(leave_out)), now)
    finally:
        if held is not None:
            engine.workload.add(held)
    if decision.reader is None or decision.score is None:
        return Verdict(False, "No other eligible reader would finish the read clearly sooner")
    return Verdict(True, "another reader finishes it sooner", frozenset(leave_out))


def _reason_in(body: Any) -> str:
    """The caller's `reason`, from a Parameters body (400 naming what is wrong)."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise bad_request("The body must be a Parameters resource", "Parameters")
    reasons: list[str] = []
    for index, parameter in enumerate(body.get("parameter") or []):
        if not isinstance(parameter, dict) or parameter.get("name") != "reason":
            continue
        value = parameter.get("valueString")
        if not isinstance(value, str) or not value.strip():
            raise bad_request(
                "reason is a non-empty string", f"Parameters.parameter[{index}].valueString"
            )
        reasons.append(value.strip())
    if len(reasons) > 1:
        raise bad_request("reason is given at most once", "Parameters.parameter")
    return reasons[0][:200] if reasons else DEFAULT_REASON


def reroute_parameters(
    *, rerouted: bool, owner: dict[str, Any] | None, reason: str
) -> dict[str, Any]:
    """The operation's answer."""
    parameters: list[dict[str, Any]] = [{"name": "rerouted", "valueBoolean": rerouted}]
    if owner is not None:
        parameters.append({"name": "owner", "valueReference": owner})
    parameters.append({"name": "reason", "valueString": reason})
    return {"resourceType": "Parameters", "parameter": parameters}


def _is_read_task(task: dict[str, Any]) -> bool:
    return any(i.get("system") == READ_TASK_SYSTEM for i in task.get("identifier") or [])


async def reroute_read(
    app_state: Any, task_id: str, *, why: str, now: datetime
) -> tuple[StoredResource, bool, str]:
    """Route the read Task `task_id` again if a reader finishes it clearly sooner, in one
    transaction under the decision lock: (the Task as it now stands, moved, reason)."""
    state = engine_state(app_state)
    async with app_state.database.transaction() as session:
        context = service_context(app_state, session)
        async with state.locked(session) as (engine, clock):
            rows = await work.rows_where(session, read_work.c.task_id == task_id)
            verdict = judge_reroute(engine, rows[0], now) if rows else None
            if verdict is not None and verdict.move:
                await reroute(
                    rows[0],
                    why=why,
                    exclude=verdict.exclude,
                    remember=False,
                    engine=engine,
                    clock=clock,
                    fhir=context.fhir,
                    session=session,
                    now=now,
                )
            stored = await context.fhir.read("Task", task_id)  # 404 / 410 when not there
    task = stored.resource()
    if verdict is None:  # no open read: finished (and forgotten), or not a read Task
        if not _is_read_task(task):
            raise business_rule("Only a read Task can be re-routed", "Task.identifier")
        return stored, False, f"The read is {task.get('status')}: it is no longer routed"
    if verdict.move:
        return stored, True, f"Re-routed ({why}): {verdict.reason}"
    return stored, False, verdict.reason


def reroute_router() -> APIRouter:
    router = APIRouter(tags=["assignment"])

    @router.post("/Task/{task_id}/$reroute", summary="Route a read again to a sooner reader")
    async def reroute_task(request: Request, principal: CurrentPrincipal, task_id: str) -> Response:
        if principal.role not in CALLERS:
            raise forbidden("Only the platform and operations may re-route a read")
        principal.require("Task", "u")
        limit = request.app.state.settings.max_request_bytes
        why = _reason_in(parse_json(await read_body(request, limit)))
        stored, moved, reason = await reroute_read(
            request.app.state, task_id, why=why, now=now_utc()
        )
        note(request, accessed("operation", "Task", [stored]))
        owner = stored.resource().get("owner")
        return respond(request, reroute_parameters(rerouted=moved, owner=owner, reason=reason))

    return router
