"""What sla listens to: every event that marks a milestone of an order's timeline.

sla subscribes to the other services' topics like any subscriber; each event's resource
(full-resource payload) marks milestones (see services.sla.timeline), recorded once. A final
report after the deadline also records the breach as a DetectedIssue (topic sla-breached);
a read waiting unassigned is recorded as one too (topic sla-unassigned).
"""

from __future__ import annotations

from services.sla.breaches import record_breach, record_unassigned
from services.sla.timeline import record
from shared.events.consumer import ConsumerContext, Consumption
from shared.events.received import ReceivedEvent
from shared.events.topics import TOPIC_BASE
from shared.fhir.references import referenced_id


async def record_milestones(event: ReceivedEvent, context: ConsumerContext) -> None:
    """Record the milestones the event's resource marks (and a breach, on a late final)."""
    resource = event.resource
    if resource is None:
        return
    marks = await record(context.session, resource)
    # A breach needs the final report and the deadline (from the Task), which come from two
    # publishers in either order: look when either arrives, not on every event.
    orders = {mark.order_id for mark in marks if mark.milestone == "final"}
    if resource.get("resourceType") == "Task":
        orders.update(o for o in [referenced_id(resource.get("focus"), "ServiceRequest")] if o)
    for order_id in orders:
        await record_breach(context, order_id)


async def alert_unassigned(event: ReceivedEvent, context: ConsumerContext) -> None:
    """A read waiting unassigned is an SLA risk: record it (topic sla-unassigned)."""
    if event.resource is not None:
        await record_unassigned(context, event.resource)


def _consume(publisher: str, topic: str) -> Consumption:
    return Consumption(
        name=topic,
        publisher=publisher,
        topic=f"{TOPIC_BASE}/{topic}",
        handler=record_milestones,
        description=f"sla: timelines ({topic})",
    )


CONSUMPTIONS = (
    _consume("intake", "order-registered"),
    _consume("intake", "imaging-study-available"),
    _consume("assignment", "task-created"),
    _consume("assignment", "task-status-changed"),
    _consume("reporting", "report-preliminary"),
    _consume("reporting", "report-final"),
    Consumption(
        name="task-unassigned",
        publisher="assignment",
        topic=f"{TOPIC_BASE}/task-unassigned",
        handler=alert_unassigned,
        description="sla: alert on reads nobody eligible can take",
    ),
)
