"""The rules of a read Task write: the lifecycle (services.assignment.lifecycle), hand-offs
only to an eligible reader, and the read_work mirror kept in the same transaction. A
critical result's follow-up Task has its own rules (services.assignment.follow_up)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.assignment import work
from services.assignment.access import TaskAccess
from services.assignment.engine.engine import Engine
from services.assignment.follow_up import check_follow_up, involves_follow_up
from services.assignment.lifecycle import check_reader_fields, check_transition, owner_changed
from services.assignment.state import EngineState, apply_row
from services.assignment.tasks import CLOSED_STATUSES, business_status
from shared.fhir.access import relative
from shared.fhir.outcomes import business_rule
from shared.fhir.registry import WriteContext
from shared.fhir.service import now_utc

# What a reader's move says in businessStatus (the service's own moves set theirs).
_READER_MOVES = {
    "accepted": ("accepted", "Accepted by the reader"),
    "in-progress": ("reading", "Being read"),
    "on-hold": ("on-hold", "On hold"),
    "rejected": ("declined", "Declined by the reader; being re-routed"),
}


class TaskRules(TaskAccess):
    """A Task names the order it assigns (focus); its lifecycle and hand-offs are checked,
    and every change is mirrored where the engine counts open reads."""

    async def prepare(
        self,
        resource: dict[str, Any],
        *,
        previous: dict[str, Any] | None,
        context: WriteContext,
    ) -> None:
        if involves_follow_up(resource, previous):
            check_follow_up(resource, previous, context.principal)
            return  # not a read: the engine and read_work never see it
        if not (resource.get("focus") or {}).get("reference"):
            raise business_rule("A Task names the order it assigns in focus", "Task.focus")
        if previous is None:
            return  # made by the service's routing (services.assignment.flows)
        check_transition(previous, resource, context.principal)
        check_reader_fields(previous, resource, context.principal)
        status = resource.get("status")
        if context.principal.role != "system" and status != previous.get("status"):
            code, text = _READER_MOVES.get(str(status), (str(status), str(status)))
            resource["businessStatus"] = business_status(code, text)
        state: EngineState | None = getattr(context.state, "assignment", None)
        if state is None:
            return  # outside the app (seeds): nothing to mirror
        session = context.repository.session
        async with state.locked(session) as (engine, clock):
            row = await work.row_of(session, _order_id(resource))
            now = now_utc()
            if owner_changed(previous, resource) and context.principal.role != "system":
                if row is None:
                    raise business_rule("This Task is not routed by the engine", "Task.owner")
                check_hand_off(engine, row, resource, context, now)
            if row is None:
                return  # a Task from before the engine: nothing to mirror
            values = mirrored(row, previous, resource, engine, now)
            await work.record(session, row.order_id, values, clock=clock)
            changed = await work.row_of(session, row.order_id)
            apply_row(engine.workload, changed)
        if status == "rejected":
            state.wake()


def _order_id(task: dict[str, Any]) -> str:
    return str((task.get("focus") or {}).get("reference", "")).rpartition("/")[2]


def mirrored(
    row: Any, previous: dict[str, Any], current: dict[str, Any], engine: Engine, now: datetime
) -> dict[str, Any]:
    """The read_work columns after this write."""
    status = str(current.get("status"))
    values: dict[str, Any] = {"status": status}
    if owner_changed(previous, current):
        owner = current.get("owner")
        role, vendor = relative(owner, "PractitionerRole"), relative(owner, "Organization")
        values["reader"] = role.split("/", 1)[1] if role else None
        values["vendor"] = vendor.split("/", 1)[1] if vendor else None
        values["assigned_at"] = now if owner else None
        values["started_at"] = None
    if status == "in-progress" and row.started_at is None:
        values["started_at"] = now
    if status in CLOSED_STATUSES:
        values["closed_at"] = now
    if status == "rejected" and row.reader:
        reader = engine.reader(row.reader)
        if reader is not None:  # a decliner is not offered the read again
            values["excluded"] = " ".join(sorted({*row.excluded.split(), reader.practitioner}))
    end = ((current.get("restriction") or {}).get("period") or {}).get("end")
    if end:
        values["deadline"] = datetime.fromisoformat(end.replace("Z", "+00:00"))
    return values


def check_hand_off(
    engine: Engine, row: Any, task: dict[str, Any], context: WriteContext, now: datetime
) -> None:
    """Operations may hand a read to any eligible reader; a vendor only to an eligible
    reader of its own roster (or back to itself). Never past a hard constraint."""
    owner = task.get("owner")
    principal = context.principal
    vendor = relative(owner, "Organization")
    role = relative(owner, "PractitionerRole")
    if principal.role == "vendor":
        own = set(principal.organizations)
        if vendor is not None:
            if vendor not in own:
                raise business_rule("A vendor hands reads only within its roster", "Task.owner")
            return
    if role is None:
        if principal.role == "admin" and vendor is not None:
            return  # operations send it to a vendor by hand
        raise business_rule("A read is handed to a reader's PractitionerRole", "Task.owner")
    reader_id = role.split("/", 1)[1]
    groups = None
    if principal.role == "vendor":
        groups = frozenset(o.rpartition("/")[2] for o in principal.organizations)
    candidate = next(
        (
            c
            for c in engine.evaluate(work.exam_of(row), now, groups=groups)
            if c.reader.id == reader_id
        ),
        None,
    )
    if candidate is None:
        raise business_rule(f"{role} is not a reader on the roster", "Task.owner")
    if candidate.failures:
        reasons = "; ".join(f.detail for f in candidate.failures)
        raise business_rule(f"{role} may not read this order: {reasons}", "Task.owner")
