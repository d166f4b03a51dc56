"""What sla listens to: every event that marks a milestone of an order's timeline.

sla subscribes to the other services' topics like any subscriber; each event's resource
(full-resource payload) marks milestones (see services.sla.timeline), recorded once. What
a handler needs from another service is gathered before its transaction opens: the contract
a read Task names (its terms, services.sla.terms), the practitioner behind its owning role
and behind the role that signed a final report (services.sla.readers), the order a
Communication's report is for. A final report after the
deadline also records the breach as a DetectedIssue (topic sla-breached); a read waiting
unassigned is recorded as one too (topic sla-unassigned).

Reporting's Communication topics (critical-result, critical-result-acknowledged,
report-delivered) are subscribed like the others: until the publisher offers a topic, its
subscription is retried in the background (shared.events.bootstrap) and start-up is not held.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.sla.breaches import record_breach, record_unassigned
from services.sla.communications import communication_marks, communication_orders
from services.sla.details import is_read_task
from services.sla.readers import owner_practitioner, record_owner, record_signer, report_signer
from services.sla.terms import record_terms, task_contract
from services.sla.timeline import record
from shared.events.consumer import ConsumerContext, Consumption, Gather
from shared.events.received import ReceivedEvent
from shared.events.topics import TOPIC_BASE
from shared.fhir.references import referenced_id
from shared.peers import Peers


async def record_milestones(event: ReceivedEvent, context: ConsumerContext) -> None:
    """Record the milestones the event's resource marks (and a breach, on a late final)."""
    resource = event.resource
    if resource is None:
        return
    marks = await record(context.session, resource)
    gathered = context.gathered
    if is_read_task(resource):
        await record_terms(context.session, resource, gathered.get("contract"))
        await record_owner(context.session, resource, gathered.get("owner_practitioner"))
    if gathered.get("signer"):
        orders = {mark.order_id for mark in marks if mark.milestone == "final"}
        await record_signer(context.session, orders, gathered["signer"])
    # A breach needs the clock's stop (a report) and the deadline (the Task, its contract),
    # which come from two publishers in either order: look when either arrives.
    orders = {mark.order_id for mark in marks if mark.milestone in ("preliminary", "final")}
    if resource.get("resourceType") == "Task":
        orders.update(o for o in [referenced_id(resource.get("focus"), "ServiceRequest")] if o)
    for order_id in orders:
        await record_breach(context, order_id)


def communication_milestone(milestone: str) -> Callable[..., Awaitable[None]]:
    """A handler recording `milestone` for the orders the event's Communication is about."""

    async def handle(event: ReceivedEvent, context: ConsumerContext) -> None:
        if event.resource is None:
            return
        orders = list(context.gathered.get("orders") or [])
        also = communication_marks(event.resource, milestone, orders)
        await record(context.session, event.resource, also=also)

    return handle


async def alert_unassigned(event: ReceivedEvent, context: ConsumerContext) -> None:
    """A read waiting unassigned is an SLA risk: record it (topic sla-unassigned)."""
    if event.resource is not None:
        await record_unassigned(context, event.resource)


async def read_task_context(event: ReceivedEvent, peers: Peers) -> dict[str, Any]:
    """What a read Task event needs from assignment: its contract and its owner's
    practitioner."""
    return {**await task_contract(event, peers), **await owner_practitioner(event, peers)}


def _consume(
    publisher: str,
    topic: str,
    *,
    gather: Gather | None = None,
    handler: Callable[[ReceivedEvent, ConsumerContext], Awaitable[None]] = record_milestones,
) -> Consumption:
    return Consumption(
        name=topic,
        publisher=publisher,
        topic=f"{TOPIC_BASE}/{topic}",
        handler=handler,
        description=f"sla: timelines ({topic})",
        gather=gather,
    )


def _about_orders(milestone: str, topic: str) -> Consumption:
    return _consume(
        "reporting",
        topic,
        gather=communication_orders,
        handler=communication_milestone(milestone),
    )


CONSUMPTIONS = (
    _consume("intake", "order-registered"),
    _consume("intake", "imaging-study-available"),
    _consume("assignment", "task-created", gather=read_task_context),
    _consume("assignment", "task-status-changed", gather=read_task_context),
    _consume("reporting", "report-preliminary"),
    _consume("reporting", "report-final", gather=report_signer),
    _about_orders("critical-communicated", "critical-result"),
    _about_orders("acknowledged", "critical-result-acknowledged"),
    _about_orders("delivered", "report-delivered"),
    Consumption(
        name="task-unassigned",
        publisher="assignment",
        topic=f"{TOPIC_BASE}/task-unassigned",
        handler=alert_unassigned,
        description="sla: alert on reads nobody eligible can take",
    ),
)
