"""The read Task's lifecycle: which status may follow which, who may move it, and the
mirror of each change in read_work (services.assignment.work).

    requested --accept--> accepted --start--> in-progress --(final report)--> completed
        |  \\                 |  \\              |   ^
        |   start             |   decline       hold  resume
        |                     v                 v   |
        +--decline--> rejected --(re-routed by the service)--> requested ...
                              on-hold --> requested (re-routed)

Anything open can be cancelled (the order was revoked) by the service or operations. The
radiologist owning the Task (or the vendor owning it or its reader's) moves it through
accept, decline (with a reason), start, hold and resume; only the service completes it,
when the final report is signed; the owner changes only by the service's routing, by
operations (admin) to an eligible reader, or by a vendor within its own roster.
"""

from __future__ import annotations

from typing import Any

from services.assignment.tasks import CLOSED_STATUSES
from shared.auth import Principal
from shared.fhir.outcomes import business_rule

# status -> the statuses a write may move it to (besides staying).
TRANSITIONS: dict[str, frozenset[str]] = {
    "requested": frozenset({"accepted", "rejected", "in-progress", "cancelled"}),
    "received": frozenset({"accepted", "rejected", "in-progress", "cancelled"}),
    "ready": frozenset({"accepted", "rejected", "in-progress", "cancelled"}),
    "accepted": frozenset({"in-progress", "rejected", "on-hold", "cancelled", "requested"}),
    "in-progress": frozenset({"on-hold", "completed", "cancelled", "failed"}),
    "on-hold": frozenset({"in-progress", "cancelled", "requested"}),
    "rejected": frozenset({"requested", "cancelled"}),
}
# Moves only the service itself (the system role) makes.
SERVICE_ONLY = frozenset({"completed", "failed"})
# Moves the service and operations make.
OPERATIONS_ONLY = frozenset({"cancelled"})
# What a reader's write may change; everything else stays as the service wrote it.
READER_FIELDS = frozenset({"status", "statusReason", "note", "owner", "businessStatus"})
_META = frozenset({"id", "meta", "text"})


def check_transition(
    previous: dict[str, Any], current: dict[str, Any], principal: Principal
) -> None:
    """Refuse (422) a status change the lifecycle does not allow, or this writer may not make."""
    before, after = previous.get("status"), current.get("status")
    if after == "entered-in-error" and principal.role in ("system", "admin"):
        return
    if before in CLOSED_STATUSES:
        if after != before:
            raise business_rule(f"A {before} Task cannot become {after}", "Task.status")
        return
    if after == before:
        return
    if principal.role == "system" and after in CLOSED_STATUSES:
        return  # the report was signed, or the order revoked, whatever the read's state
    if after in SERVICE_ONLY and principal.role != "system":
        raise business_rule(
            "A read is completed by the service when its final report is signed",
            "Task.status",
        )
    if after in OPERATIONS_ONLY and principal.role not in ("system", "admin"):
        raise business_rule("Only operations cancel a read", "Task.status")
    if after not in TRANSITIONS.get(str(before), frozenset()):
        raise business_rule(f"A {before} Task cannot become {after}", "Task.status")
    if before == "rejected" and principal.role != "system":
        raise business_rule("A declined read is re-routed by the service", "Task.status")
    if after == "requested" and principal.role not in ("system", "admin"):
        raise business_rule("A read goes back to requested only when re-routed", "Task.status")
    if after == "rejected" and not current.get("statusReason"):
        raise business_rule("A decline gives its reason in statusReason", "Task.statusReason")


def check_reader_fields(
    previous: dict[str, Any], current: dict[str, Any], principal: Principal
) -> None:
    """A reader (radiologist or vendor) changes only the lifecycle fields of a Task."""
    if principal.role in ("system", "admin"):
        return
    allowed = READER_FIELDS | _META
    changed = sorted(
        key
        for key in set(previous) | set(current)
        if key not in allowed and previous.get(key) != current.get(key)
    )
    if changed:
        raise business_rule(
            f"A read's {', '.join(changed)} are set by the service; a reader changes its "
            "status, statusReason and note",
            f"Task.{changed[0]}",
        )
    if previous.get("owner") != current.get("owner") and principal.role != "vendor":
        raise business_rule("A reader does not hand a read on; decline it instead", "Task.owner")


def owner_changed(previous: dict[str, Any], current: dict[str, Any]) -> bool:
    before = (previous.get("owner") or {}).get("reference")
    return before != (current.get("owner") or {}).get("reference")
