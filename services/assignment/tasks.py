"""The Task that assigns one order: what it says, and the codes it uses.

One read Task per order, identified by READ_TASK_SYSTEM | <order id> (kept unique, so a
redelivered order event finds the Task already made). It carries the decision: `owner`
(the radiologist's reading PractitionerRole, or a partner vendor's Organization on
overflow, or nobody), `restriction.period.end` (the deadline the engine judged against),
`businessStatus` (BUSINESS_STATUS_SYSTEM), the contract it runs under (extension
read-contract) and, when nobody holds it, `statusReason`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.assignment.engine.model import Decision
from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.service import format_instant
from shared.follow_up import FOLLOW_UP_TASK_SYSTEM
from shared.orders import READ_CONTRACT_EXTENSION, ordering_facility

READ_TASK_SYSTEM = f"{CANONICAL_BASE}/NamingSystem/read-task"
BUSINESS_STATUS_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/assignment-status"
TASK_CODE_SYSTEM = "http://hl7.org/fhir/CodeSystem/task-code"
OPEN_STATUSES = ("requested", "received", "accepted", "ready", "in-progress", "on-hold")
CLOSED_STATUSES = frozenset({"completed", "cancelled", "failed", "entered-in-error"})


def read_task_identifiers(task: dict[str, Any]) -> list[tuple[str, str]]:
    """The unique keys of a Task: its identifiers in READ_TASK_SYSTEM."""
    return [
        (READ_TASK_SYSTEM, i["value"])
        for i in task.get("identifier") or []
        if i.get("system") == READ_TASK_SYSTEM and i.get("value")
    ]


def task_identifiers(task: dict[str, Any]) -> list[tuple[str, str]]:
    """The unique keys of any Task: a read's READ_TASK_SYSTEM identifier, a follow-up's
    FOLLOW_UP_TASK_SYSTEM identifier (reporting re-sends it after a crash: one Task)."""
    follow_ups = [
        (FOLLOW_UP_TASK_SYSTEM, i["value"])
        for i in task.get("identifier") or []
        if i.get("system") == FOLLOW_UP_TASK_SYSTEM and i.get("value")
    ]
    return read_task_identifiers(task) + follow_ups


def business_status(code: str, text: str) -> dict[str, Any]:
    return {"coding": [{"system": BUSINESS_STATUS_SYSTEM, "code": code}], "text": text}


def owner_of(decision: Decision) -> dict[str, Any] | None:
    """The Task owner a decision names: the reader's role, else the overflow vendor."""
    if decision.reader is not None:
        return {
            "reference": f"PractitionerRole/{decision.reader.id}",
            "display": decision.reader.name,
        }
    if decision.contract is not None:
        return {"reference": f"Organization/{decision.contract.group}"}
    return None


def route(task: dict[str, Any], decision: Decision, *, rerouted: str | None = None) -> None:
    """Give `task` to whom `decision` names (status requested), or leave it waiting with
    the reason; `rerouted` says why it moved, when it did."""
    task["status"] = "requested"
    task.pop("statusReason", None)
    owner = owner_of(decision)
    if owner is None:
        task.pop("owner", None)
        task["businessStatus"] = business_status("unassigned", "Waiting for an eligible reader")
        task["statusReason"] = {"text": decision.reason}
    else:
        task["owner"] = owner
        code, text = (
            ("overflow", "Sent to a partner vendor")
            if decision.overflow
            else ("re-routed", f"Re-routed: {rerouted}")
            if rerouted
            else ("assigned", "Assigned to a radiologist")
        )
        task["businessStatus"] = business_status(code, text)
    task["restriction"] = {"period": {"end": format_instant(decision.deadline)}}
    _set_read_contract(task, decision)


def _set_read_contract(task: dict[str, Any], decision: Decision) -> None:
    """Name the contract the read now runs under (read-contract), or none while nobody
    holds it; sla counts that contract's clock."""
    others = [e for e in task.get("extension") or [] if e.get("url") != READ_CONTRACT_EXTENSION]
    if decision.contract is not None and owner_of(decision) is not None:
        reference = f"OrganizationAffiliation/{decision.contract.id}"
        others.append({"url": READ_CONTRACT_EXTENSION, "valueReference": {"reference": reference}})
    if others:
        task["extension"] = others
    else:
        task.pop("extension", None)


def read_task(order: dict[str, Any], decision: Decision, *, authored: datetime) -> dict[str, Any]:
    """The read Task of `order` as `decision` routes it."""
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
    }
    facility = ordering_facility(order)
    if facility:
        task["requester"] = facility  # the ordering facility follows its orders' reads
    route(task, decision)
    return task
