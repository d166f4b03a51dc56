"""What assignment listens to: new orders (make the read Task), final reports (complete
it), revoked orders (cancel it) and acknowledged critical results (complete their
follow-up Task). Each handler is harmless when an event comes twice."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from services.assignment.flows import assign_new_order
from services.assignment.orders import exam_from_order
from services.assignment.tasks import CLOSED_STATUSES, READ_TASK_SYSTEM, business_status
from shared.events.consumer import ConsumerContext, Consumption
from shared.events.received import ReceivedEvent
from shared.events.topics import TOPIC_BASE
from shared.fhir.references import referenced_id
from shared.fhir.service import now_utc
from shared.fhir.storage.records import StoredResource
from shared.follow_up import FOLLOW_UP_TASK_SYSTEM, acknowledged_follow_up
from shared.peers import Peers

log = logging.getLogger("teleradiology.assignment")


async def order_patient(event: ReceivedEvent, peers: Peers) -> dict[str, Any]:
    """The order's Patient (where it was imaged), read from intake before the transaction."""
    patient_id = referenced_id((event.resource or {}).get("subject"), "Patient")
    return {"patient": await peers.read("intake", f"Patient/{patient_id}") if patient_id else None}


async def assign_order(event: ReceivedEvent, context: ConsumerContext) -> None:
    """Make the order's read Task, routed by the engine (or waiting, with the reason)."""
    order = event.resource
    if order is None or await _read_task(context, order["id"]) is not None:
        return
    gathered = context.gathered or await order_patient(event, context.peers)
    patient = gathered.get("patient")
    await assign_new_order(
        order=order,
        exam=exam_from_order(order, patient),
        fhir=context.fhir,
        session=context.session,
        now=now_utc(),
    )


async def complete_read(event: ReceivedEvent, context: ConsumerContext) -> None:
    """A final report completes its order's read Task (output: the report)."""
    report = event.resource
    if report is None:
        return
    for element in report.get("basedOn") or []:
        order_id = referenced_id(element, "ServiceRequest")
        output = {
            "type": {"text": "Final report"},
            "valueReference": {"reference": f"DiagnosticReport/{report['id']}"},
        }
        if order_id:
            await _close_read(
                context,
                order_id,
                "completed",
                business_status("reported", "Final report signed"),
                output,
            )


async def cancel_read(event: ReceivedEvent, context: ConsumerContext) -> None:
    """A revoked order cancels its read Task unless the read is already over."""
    if event.resource is not None:
        revoked = business_status("order-revoked", "The order was revoked")
        await _close_read(context, event.resource["id"], "cancelled", revoked)


async def _close_read(
    context: ConsumerContext,
    order_id: str,
    status: str,
    reason: dict[str, Any],
    output: dict[str, Any] | None = None,
) -> None:
    """Move the order's read Task to the closed `status`, unless it is closed already."""
    stored = await _read_task(context, order_id)
    if stored is None:
        return
    task = stored.resource()
    if task.get("status") in CLOSED_STATUSES:
        return
    task["status"] = status
    task["businessStatus"] = reason
    if output is not None:
        task["output"] = [output]
    await context.fhir.update("Task", stored.id, task)


async def close_follow_up(event: ReceivedEvent, context: ConsumerContext) -> None:
    """An acknowledged critical result completes its follow-up Task (if one was made;
    reporting makes it and also closes one made after the acknowledgement)."""
    communication = event.resource
    if communication is None:
        return
    query = f"identifier={FOLLOW_UP_TASK_SYSTEM}|{communication['id']}"
    matches = await context.fhir.match_ids("Task", query)
    if not matches:
        return
    task = matches[0].resource()
    if task.get("status") not in CLOSED_STATUSES:
        closed = acknowledged_follow_up(task, communication["id"])
        await context.fhir.update("Task", matches[0].id, closed)


async def _read_task(context: ConsumerContext, order_id: str) -> StoredResource | None:
    matches = await context.fhir.match_ids("Task", f"identifier={READ_TASK_SYSTEM}|{order_id}")
    return matches[0] if matches else None


def active_orders(peers: Peers) -> AsyncIterator[dict[str, Any]]:
    """Orders still to be read (the backlog of order-registered: orders accepted before
    assignment subscribed, e.g. at its first start, still get their Task)."""
    return peers.search_all("intake", "ServiceRequest", {"status": "active", "_count": "200"})


CONSUMPTIONS = (
    Consumption(
        name="order-registered",
        publisher="intake",
        topic=f"{TOPIC_BASE}/order-registered",
        handler=assign_order,
        description="assignment: a read Task for each new order",
        backlog=active_orders,
        gather=order_patient,
    ),
    Consumption(
        name="order-revoked",
        publisher="intake",
        topic=f"{TOPIC_BASE}/order-revoked",
        handler=cancel_read,
        description="assignment: cancel the read of a revoked order",
    ),
    Consumption(
        name="report-final",
        publisher="reporting",
        topic=f"{TOPIC_BASE}/report-final",
        handler=complete_read,
        description="assignment: a final report completes the read",
    ),
    Consumption(
        name="critical-result-acknowledged",
        publisher="reporting",
        topic=f"{TOPIC_BASE}/critical-result-acknowledged",
        handler=close_follow_up,
        description="assignment: an acknowledged critical result completes its follow-up",
    ),
)
