"""The Task that assigns one order: what it says, and the codes it uses.

One read Task per order, identified by READ_TASK_SYSTEM | <order id> (kept unique, so a
redelivered order event finds the Task already made). The deadline is the order's
registration time plus the default turnaround of its priority until contracts define their
own (the assignment-engine issue); the values follow the field figures in domain.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.service import format_instant
from shared.orders import ordering_facility

READ_TASK_SYSTEM = f"{CANONICAL_BASE}/NamingSystem/read-task"
BUSINESS_STATUS_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/assignment-status"
TASK_CODE_SYSTEM = "http://hl7.org/fhir/CodeSystem/task-code"
DEFAULT_TURNAROUND = {
    "stat": timedelta(hours=1),  # emergent final <= 1 h (Canadian Wait Time Alliance)
    "asap": timedelta(hours=4),
    "urgent": timedelta(hours=12),
    "routine": timedelta(hours=24),
}
OPEN_STATUSES = ("requested", "received", "accepted", "ready", "in-progress", "on-hold")
CLOSED_STATUSES = frozenset({"completed", "cancelled", "rejected", "failed", "entered-in-error"})


def read_task_identifiers(task: dict[str, Any]) -> list[tuple[str, str]]:
    """The unique keys of a Task: its identifiers in READ_TASK_SYSTEM."""
    return [
        (READ_TASK_SYSTEM, i["value"])
        for i in task.get("identifier") or []
        if i.get("system") == READ_TASK_SYSTEM and i.get("value")
    ]


def sla_deadline(order: dict[str, Any]) -> datetime:
    """When the order's read is due: registration time plus its priority's turnaround."""
    registered = (order.get("meta") or {}).get("lastUpdated") or order.get("authoredOn")
    start = datetime.fromisoformat(str(registered).replace("Z", "+00:00"))
    return start + DEFAULT_TURNAROUND.get(
        order.get("priority", "routine"), DEFAULT_TURNAROUND["routine"]
    )


def business_status(code: str, text: str) -> dict[str, Any]:
    return {"coding": [{"system": BUSINESS_STATUS_SYSTEM, "code": code}], "text": text}


def read_task(
    order: dict[str, Any], *, owner: str | None, reason: str | None, authored: datetime
) -> dict[str, Any]:
    """The Task assigning `order` to the PractitionerRole `owner` -- or, with no one
    eligible, left unassigned (no owner) with `reason`, visible in the unassigned queue."""
    task: dict[str, Any] = {
        "resourceType": "Task",
        "identifier": [{"system": READ_TASK_SYSTEM, "value": order["id"]}],
        "status": "requested",
        "intent": "order",
        "priority": order.get("priority", "routine"),
        "code": {"coding": [{"system": TASK_CODE_SYSTEM, "code": "fulfill"}]},
        "focus": {"reference": f"ServiceRequest/{order['id']}"},
        "for": order["subject"],
        "authoredOn": format_instant(authored),
        "restriction": {"period": {"end": format_instant(sla_deadline(order))}},
    }
    facility = ordering_facility(order)
    if facility:
        task["requester"] = facility  # the ordering facility follows its orders' reads
    if owner:
        task["owner"] = {"reference": owner}
        task["businessStatus"] = business_status("assigned", "Assigned to a radiologist")
    else:
        task["businessStatus"] = business_status("unassigned", "Waiting for an eligible reader")
        task["statusReason"] = {"text": reason or "No eligible radiologist"}
    return task
