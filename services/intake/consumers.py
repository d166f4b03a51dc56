"""What intake listens to: read Tasks being made, re-assigned and closed at assignment.

An order is opened to whoever its read Task is assigned to -- the radiologist behind the
owning PractitionerRole, or a partner vendor -- by granting them the order's label
(services/intake/access.py): they then see the order, its studies and its patient. The
grant follows the Task: a re-assignment moves it, a cancelled, rejected or failed read
withdraws it; a completed read keeps it (addenda are written later). Each event replaces
what the Task granted before, so redelivery and reordering within one Task are harmless.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from shared.events.consumer import ConsumerContext, Consumption
from shared.events.received import ReceivedEvent
from shared.events.topics import TOPIC_BASE
from shared.fhir.access import order_label, relative
from shared.fhir.references import referenced_id
from shared.peers import Peers

log = logging.getLogger("teleradiology.intake")

# Reads whose order is no longer open to the Task's owner.
_WITHDRAWN = frozenset({"cancelled", "rejected", "failed", "entered-in-error"})


async def grant_order_to_owner(event: ReceivedEvent, context: ConsumerContext) -> None:
    """Open the Task's order to its owner, or withdraw it, as the Task now says."""
    task = event.resource
    if task is None:
        return
    order_id = referenced_id(task.get("focus"), "ServiceRequest")
    gathered = context.gathered or await owner_role(event, context.peers)
    holders = _owner_labels(task.get("owner"), gathered.get("role"))
    grants = set()
    if order_id and task.get("status") not in _WITHDRAWN:
        grants = {(holder, order_label(order_id)) for holder in holders}
    await context.fhir.repository.set_grants(f"Task/{task['id']}", grants)
    log.info("order access follows its task", extra={"task": task["id"], "grants": len(grants)})


async def owner_role(event: ReceivedEvent, peers: Peers) -> dict[str, Any]:
    """The PractitionerRole owning the Task, asked of assignment (which keeps the roster)
    before the transaction opens."""
    role = relative((event.resource or {}).get("owner"), "PractitionerRole")
    return {"role": await peers.read("assignment", role) if role else None}


def _owner_labels(owner: object, role: dict[str, Any] | None) -> set[str]:
    """Who a Task's owner is, as access labels: a vendor's Organization, or the
    Practitioner behind a PractitionerRole and the group it reads for (a vendor keeps
    seeing what it handed to one of its radiologists)."""
    direct = relative(owner, "Organization") or relative(owner, "Practitioner")
    if direct:
        return {direct}
    found = role or {}
    labels = (
        relative(found.get(key), kind)
        for key, kind in (("practitioner", "Practitioner"), ("organization", "Organization"))
    )
    return {label for label in labels if label}


def assigned_tasks(peers: Peers) -> AsyncIterator[dict[str, Any]]:
    """Every read Task (the backlog of task-access-changed: Tasks made before intake
    subscribed still open their orders)."""
    return peers.search_all("assignment", "Task", {"_count": "200"})


CONSUMPTIONS = (
    Consumption(
        name="task-access-changed",
        publisher="assignment",
        topic=f"{TOPIC_BASE}/task-access-changed",
        handler=grant_order_to_owner,
        description="intake: open each order to whoever its read Task is assigned to",
        backlog=assigned_tasks,
        gather=owner_role,
    ),
)
