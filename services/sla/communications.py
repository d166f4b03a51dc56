"""Milestones from reporting's Communications: which order a Communication is about, and
which milestone its topic stands for.

A Communication names the report it is about (`basedOn` / `about` = DiagnosticReport), and
the report names its order (`basedOn` = ServiceRequest). The report lives in reporting, so
sla asks for it in the consumption's `gather`, before the event's transaction opens. A
Communication naming a ServiceRequest itself needs no question.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.sla.details import orders_of
from services.sla.timeline import Mark, version_source, version_time
from shared.events.received import ReceivedEvent
from shared.fhir.references import referenced_id
from shared.peers import Peers


def _referenced(communication: dict[str, Any]) -> list[dict[str, Any]]:
    return [*(communication.get("basedOn") or []), *(communication.get("about") or [])]


async def communication_orders(event: ReceivedEvent, peers: Peers) -> dict[str, Any]:
    """The ids of the orders the event's Communication is about (through its reports)."""
    communication = event.resource or {}
    elements = _referenced(communication)
    orders = set(orders_of(elements))
    reports = {r for r in (referenced_id(e, "DiagnosticReport") for e in elements) if r}
    for report_id in sorted(reports):
        report = await peers.read("reporting", f"DiagnosticReport/{report_id}")
        orders.update(orders_of((report or {}).get("basedOn")))
    return {"orders": sorted(orders)}


# Milestones whose time is the Communication's `sent` (when the thing happened, e.g. the
# subscriber's answer to a delivery), not when the record of it was stored.
_AT_SENT = frozenset({"delivered"})


def communication_marks(
    communication: dict[str, Any], milestone: str, orders: list[str]
) -> tuple[Mark, ...]:
    """The `milestone` of each order, at the Communication version's time -- for a
    delivery, its `sent`."""
    at = version_time(communication)
    sent = communication.get("sent")
    if milestone in _AT_SENT and isinstance(sent, str):
        at = datetime.fromisoformat(sent.replace("Z", "+00:00"))
    source = version_source(communication)
    return tuple(Mark(order, milestone, at, source) for order in orders)
