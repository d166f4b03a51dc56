"""The critical-result worker: every CRITICAL_SWEEP_SECONDS on each replica it opens the
loops of newly flagged reports, keeps each open loop's follow-up Task at assignment in
step, and escalates a loop whose acknowledgement is overdue (docs/reporting.md).

Why a sweep rather than a hook on the report write: opening a loop needs the order (from
intake) and makes a Task (at assignment), and no database transaction is ever held open
across a call to another service (on SQLite every transaction holds the write lock, and
assignment calls reporting). So each step is its own short transaction, and the calls to
other services come before or after it:

- a loop's Communications are made in reporting's database, each with a unique
  identifier (<report>/<category>/<level>): a replica that makes one again gets the one
  made (the unique claim waits for the other transaction on PostgreSQL; SQLite's single
  write lock serialises them), so a step is never made twice and its topic fires once;
- the follow-up Task is then created or updated at assignment (create is idempotent
  through the Task's own unique identifier). A crash between the two is repaired by the
  next sweep, which brings every open loop's Task in step with its latest Communication;
- the Task of a loop acknowledged meanwhile is closed here too (assignment also closes it
  when it hears critical-result-acknowledged), so a Task made after the acknowledgement
  never stays open.

Reports are looked at once each: a replica remembers where it got to (`since`, advanced
only when a whole pass succeeded; the first pass after a start looks at every flagged
report), less a margin for writes that committed late.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI

from services.reporting.critical import (
    ACR_CATEGORY_SYSTEM,
    COMMUNICATION_KIND_SYSTEM,
    CRITICAL_RESULT,
    READ_STATUSES,
    UNACKNOWLEDGED,
    Step,
    acknowledge_by,
    category_of,
    escalation,
    finding_category,
    first_recipient,
    follow_up_task,
    level_of,
    next_recipient,
    opening,
    token_value,
)
from services.reporting.settings import ReportingSettings
from shared.events.consumer import service_context
from shared.fhir.references import referenced_id
from shared.fhir.service import format_instant, now_utc
from shared.follow_up import FOLLOW_UP_STATUS_SYSTEM, acknowledged_follow_up, follow_up_status
from shared.workers import periodically

log = logging.getLogger("teleradiology.reporting")
# Writes commit a little after their lastUpdated (a report write waits on assignment).
_LATE_COMMIT = timedelta(minutes=2)
_CLOSED = frozenset({"completed", "cancelled", "failed", "entered-in-error"})


@dataclass
class SweepMemory:
    """What one replica remembers between sweeps (losing it costs a little work only)."""

    since: datetime | None = None  # flagged reports changed before this were looked at
    synced: dict[str, str] = field(default_factory=dict)  # opening id -> Task state pushed


@dataclass(frozen=True, slots=True)
class SweepResult:
    opened: int
    escalated: int


async def sweep(state: Any, memory: SweepMemory, *, now: datetime | None = None) -> SweepResult:
    """One sweep: open new loops, then follow up (and escalate) the open ones."""
    now = now or now_utc()
    opened = await open_loops(state, memory, now)
    escalated = await follow_up_loops(state, memory, now)
    return SweepResult(opened, escalated)


# -- opening ------------------------------------------------------------------------------


async def open_loops(state: Any, memory: SweepMemory, now: datetime) -> int:
    """Open a loop for each flagged report version that has none at its category (or
    only one at a less urgent category). A report that cannot be handled now (a service
    down) is logged and tried again by the next pass; the others go on."""
    started = now_utc()
    items = [
        ("actionable-finding", token_value(ACR_CATEGORY_SYSTEM)),
        ("status", ",".join(READ_STATUSES)),
    ]
    if memory.since is not None:
        items.append(("_lastUpdated", f"ge{format_instant(memory.since - _LATE_COMMIT)}"))
    opened, complete = 0, True
    for report in await _all(state, "DiagnosticReport", items):
        try:
            opened += await _open_loop(state, memory, report, now)
        except Exception as exc:  # this report waits for the next pass; the others go on
            complete = False
            log.error(
                "critical result not opened yet",
                extra={"report": report["id"], "error_type": type(exc).__name__},
            )
    if complete:
        memory.since = started
    return opened


async def _open_loop(state: Any, memory: SweepMemory, report: dict[str, Any], now: datetime) -> int:
    """Open the report's loop when it needs one; 1 when it did."""
    category = finding_category(report)
    if category is None or not await _needs_loop(state, report, category):
        return 0
    order_id = referenced_id((report.get("basedOn") or [None])[0], "ServiceRequest")
    order = await state.peers.read("intake", f"ServiceRequest/{order_id}") if order_id else None
    recipient = first_recipient(order) if order else None
    if order is None or recipient is None:
        log.error("critical result has nobody to tell", extra={"report": report["id"]})
        return 0
    window = timedelta(minutes=_settings(state).ack_minutes(category))
    made = await _create(
        state, opening(report, order, category, Step(0, recipient, now, now + window))
    )
    if made is None:
        return 0
    await sync_follow_up(state, memory, made, step_of(made))
    return 1


async def _needs_loop(state: Any, report: dict[str, Any], category: int) -> bool:
    """Whether no loop of this report is at `category` or a more urgent one."""
    loops = await _all(
        state,
        "Communication",
        [
            ("based-on", f"DiagnosticReport/{report['id']}"),
            ("category", token_value(COMMUNICATION_KIND_SYSTEM, CRITICAL_RESULT)),
        ],
    )
    categories = [c for c in (category_of(loop) for loop in loops) if c is not None]
    return not categories or category < min(categories)


# -- following up -------------------------------------------------------------------------


async def follow_up_loops(state: Any, memory: SweepMemory, now: datetime) -> int:
    """Escalate each open loop whose latest step is overdue; keep its Task in step."""
    openings = await _all(
        state,
        "Communication",
        [
            ("category", token_value(COMMUNICATION_KIND_SYSTEM, CRITICAL_RESULT)),
            ("status", "in-progress"),
        ],
    )
    escalated = 0
    for first in openings:
        try:
            escalated += await _follow_up_loop(state, memory, first, now)
        except Exception as exc:  # this loop waits for the next pass; the others go on
            log.error(
                "critical result not followed up yet",
                extra={"communication": first["id"], "error_type": type(exc).__name__},
            )
    return escalated


async def _follow_up_loop(
    state: Any, memory: SweepMemory, first: dict[str, Any], now: datetime
) -> int:
    """Escalate one open loop when its latest step is overdue (1 when it did) and bring
    its Task in step."""
    steps = await _all(state, "Communication", [("part-of", f"Communication/{first['id']}")])
    step = step_of(max([first, *steps], key=level_of))
    escalated = 0
    if now >= step.due:
        following = await _escalate(state, first, step, now)
        if following is not None:
            escalated, step = 1, following
    await sync_follow_up(state, memory, first, step, exhausted=now >= step.due)
    return escalated


async def _escalate(state: Any, first: dict[str, Any], overdue: Step, now: datetime) -> Step | None:
    """The next step of the ladder, made (None past its end)."""
    level = overdue.level + 1
    recipient = next_recipient(level, first, _settings(state).operations_organization)
    if recipient is None:
        return None
    category = category_of(first) or 1
    window = timedelta(minutes=_settings(state).ack_minutes(category))
    step = Step(level, recipient, now, now + window)
    made = await _create(state, escalation(first, step, overdue=overdue.due), still_open=first)
    return step_of(made) if made is not None else None


async def sync_follow_up(
    state: Any,
    memory: SweepMemory,
    first: dict[str, Any],
    step: Step,
    *,
    exhausted: bool = False,
) -> None:
    """Bring the loop's follow-up Task at assignment in step (made if missing)."""
    wanted = follow_up_task(first, step)
    if exhausted:
        wanted["businessStatus"] = follow_up_status(*UNACKNOWLEDGED)
    pushed = f"{_code(wanted)}@{step.due.isoformat()}"
    if memory.synced.get(first["id"]) == pushed:
        return
    stored = await state.peers.create("assignment", wanted)
    if stored.get("status") not in _CLOSED and (
        _code(stored) != _code(wanted) or stored.get("owner") != wanted["owner"]
    ):
        changed = {**stored, **{k: wanted[k] for k in ("businessStatus", "owner", "restriction")}}
        stored = await state.peers.update(
            "assignment", changed, version=(stored.get("meta") or {}).get("versionId")
        )
        if stored is None:
            return  # changed meanwhile (acknowledged?): the next sweep looks again
    if stored.get("status") not in _CLOSED and not await _still_open(state, first["id"]):
        await state.peers.update("assignment", acknowledged_follow_up(stored, first["id"]))
    memory.synced[first["id"]] = pushed


# -- helpers ------------------------------------------------------------------------------


def _settings(state: Any) -> ReportingSettings:
    settings: ReportingSettings = state.settings
    return settings


def _code(task: dict[str, Any]) -> str | None:
    codings = (task.get("businessStatus") or {}).get("coding") or []
    return next(
        (c.get("code") for c in codings if c.get("system") == FOLLOW_UP_STATUS_SYSTEM), None
    )


def step_of(communication: dict[str, Any]) -> Step:
    """The step a stored Communication of a loop stands for."""
    sent = datetime.fromisoformat(str(communication["sent"]).replace("Z", "+00:00"))
    return Step(
        level=level_of(communication),
        recipient=(communication.get("recipient") or [{}])[0],
        sent=sent,
        due=acknowledge_by(communication) or sent,
    )


async def _create(
    state: Any, communication: dict[str, Any], *, still_open: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """Make a step of a loop in one transaction (or get the one made with its identifier);
    an escalation only while its loop's opening is still unacknowledged (else None)."""
    async with state.database.transaction() as session:
        fhir = service_context(state, session).fhir
        if still_open is not None:
            current = (await fhir.read("Communication", still_open["id"])).resource()
            if current.get("status") != "in-progress":
                return None  # acknowledged meanwhile: nothing to escalate
        result = await fhir.create("Communication", communication)
        return result.stored.resource()


async def _still_open(state: Any, communication_id: str) -> bool:
    async with state.database.transaction() as session:
        fhir = service_context(state, session).fhir
        current = (await fhir.read("Communication", communication_id)).resource()
    return current.get("status") == "in-progress"


async def _all(
    state: Any, resource_type: str, items: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Every match of a search of reporting's own resources, page after page."""
    found: list[dict[str, Any]] = []
    page: str | None = None
    while True:
        async with state.database.transaction() as session:
            fhir = service_context(state, session).fhir
            query = [*items, ("_count", "100"), *((("_page", page),) if page else ())]
            result = await fhir.search(resource_type, query)
            found.extend(stored.resource() for stored in result.matches)
        page = result.next_page
        if page is None:
            return found


# -- the worker ---------------------------------------------------------------------------


def critical_sweeping(app: FastAPI) -> AbstractAsyncContextManager[None]:
    """Run the critical-result sweep while the app serves."""
    memory = SweepMemory()
    return periodically(
        "critical sweep",
        lambda: sweep(app.state, memory),
        every=_settings(app.state).critical_sweep_seconds,
    )
