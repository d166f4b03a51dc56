"""SLA breaches as FHIR DetectedIssue resources, so that subscribers hear of them through
the `sla-breach-predicted` and `sla-breached` topics.

Codes come from this platform's code system SLA_EVENT_SYSTEM: `breach-predicted` (the
order will miss its deadline at the current pace -- raised by the breach predictor),
`breached` (the order's clock stopped after its effective deadline, services.sla.facts;
the predictor also records it when the deadline passes with the clock running) and `unassigned` (nobody eligible
can read the order now: assignment's read waits in the unassigned queue). One DetectedIssue per order and
code: its identifier (system SLA_EVENT_SYSTEM, value `<code>/<order id>`) is kept unique,
so a replayed event finds the one already written.
"""

from __future__ import annotations

from typing import Any

from services.sla.facts import facts_of_order
from shared.events.consumer import ConsumerContext
from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.references import referenced_id
from shared.fhir.service import format_instant, now_utc

SLA_EVENT_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/sla-event"


def breach_identifiers(issue: dict[str, Any]) -> list[tuple[str, str]]:
    """The unique keys of a DetectedIssue: its identifiers in SLA_EVENT_SYSTEM."""
    return [
        (SLA_EVENT_SYSTEM, i["value"])
        for i in issue.get("identifier") or []
        if i.get("system") == SLA_EVENT_SYSTEM and i.get("value")
    ]


def sla_issue(order_id: str, code: str, detail: str) -> dict[str, Any]:
    """A DetectedIssue of `code` about the order `order_id`."""
    return {
        "resourceType": "DetectedIssue",
        "identifier": [{"system": SLA_EVENT_SYSTEM, "value": f"{code}/{order_id}"}],
        "status": "final",
        "code": {"coding": [{"system": SLA_EVENT_SYSTEM, "code": code}]},
        "severity": "high",
        "identifiedDateTime": format_instant(now_utc()),
        "implicated": [{"reference": f"ServiceRequest/{order_id}"}],
        "detail": detail,
    }


async def record_breach(context: ConsumerContext, order_id: str) -> None:
    """Write the `breached` DetectedIssue when the order's clock stopped after its effective
    deadline."""
    found = await facts_of_order(context.session, order_id)
    if found is None or found.met is not False or not (found.deadline and found.stopped_at):
        return
    late = (found.stopped_at - found.deadline).total_seconds() / 60
    detail = (
        f"The {found.clock} clock stopped {late:.1f} minutes after the deadline "
        f"({'stroke' if found.stroke else found.priority})"
    )
    await context.fhir.create("DetectedIssue", sla_issue(order_id, "breached", detail))


async def record_unassigned(context: ConsumerContext, task: dict[str, Any]) -> None:
    """Write the `unassigned` DetectedIssue of the order a waiting read Task is for."""
    order_id = referenced_id(task.get("focus"), "ServiceRequest")
    if order_id is None:
        return
    why = (task.get("statusReason") or {}).get("text") or "no eligible reader"
    detail = f"The read waits unassigned: {why}"
    await context.fhir.create("DetectedIssue", sla_issue(order_id, "unassigned", detail))
