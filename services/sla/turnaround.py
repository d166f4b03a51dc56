"""`GET [base]/$turnaround?order=ServiceRequest/<id>`: one order's timeline and turnaround.

A system-level operation of this platform (OperationDefinition: OPERATION_URL): sla keeps
timelines, not orders, so the order is a parameter rather than the instance. The answer is
a Parameters resource: the order, its priority, the clock that counts for it (services.sla
.clocks: its code, the contract and target when known, the effective deadline -- clock start
plus target plus time on hold --, the read Task's own deadline, minutes on hold), each
milestone with its time, each interval between known milestones in minutes, and, once the
clock stopped, whether it stopped by the effective deadline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from services.sla.facts import OrderFacts, facts_of_order
from services.sla.timeline import intervals
from shared.audit.trail import accessed, note
from shared.auth import CurrentPrincipal
from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.http import respond
from shared.fhir.outcomes import bad_request, not_found
from shared.fhir.references import referenced_id
from shared.fhir.registry import Operation
from shared.fhir.service import format_instant, now_utc

OPERATION = Operation(
    name="turnaround",
    definition=f"{CANONICAL_BASE}/OperationDefinition/turnaround",
    documentation="One order's milestones and turnaround: ?order=ServiceRequest/<id>",
)


def _clock_parameters(found: OrderFacts, now: datetime) -> list[dict[str, Any]]:
    """The clock that counts for the order: its code, target, effective deadline, holds."""
    parameters: list[dict[str, Any]] = [
        {"name": "clock", "valueCode": found.clock},
        {"name": "paused-minutes", "valueDecimal": round(found.paused_until(now), 2)},
        {"name": "on-hold", "valueBoolean": found.on_hold},
    ]
    if found.contract:
        parameters.append({"name": "contract", "valueReference": {"reference": found.contract}})
    if found.target_minutes is not None:
        parameters.append(
            {"name": "target-minutes", "valueDecimal": round(found.target_minutes, 2)}
        )
    if found.deadline:
        parameters.append({"name": "deadline", "valueInstant": format_instant(found.deadline)})
    if found.task_deadline:
        parameters.append(
            {"name": "task-deadline", "valueInstant": format_instant(found.task_deadline)}
        )
    if found.met is not None:
        parameters.append({"name": "met-deadline", "valueBoolean": found.met})
    return parameters


def turnaround_parameters(found: OrderFacts, *, now: datetime) -> dict[str, Any]:
    """The operation's answer for one order's facts, holds counted up to `now`."""
    parameters: list[dict[str, Any]] = [
        {"name": "order", "valueReference": {"reference": f"ServiceRequest/{found.order_id}"}},
        {"name": "complete", "valueBoolean": "final" in found.milestones},
        {"name": "priority", "valueCode": found.priority},
        *_clock_parameters(found, now),
    ]
    for name, moment in found.milestones.items():
        parameters.append(
            {
                "name": "milestone",
                "part": [
                    {"name": "code", "valueCode": name},
                    {"name": "time", "valueInstant": format_instant(moment)},
                ],
            }
        )
    for name, minutes in intervals(found.milestones):
        parameters.append(
            {
                "name": "interval",
                "part": [
                    {"name": "code", "valueCode": name},
                    {"name": "minutes", "valueDecimal": round(minutes, 2)},
                ],
            }
        )
    return {"resourceType": "Parameters", "parameter": parameters}


def turnaround_router() -> APIRouter:
    router = APIRouter(tags=["sla"])

    @router.get("/$turnaround", summary="One order's timeline and turnaround")
    async def turnaround(
        request: Request, principal: CurrentPrincipal, order: str = ""
    ) -> Response:
        principal.require("ServiceRequest", "r")
        order_id = referenced_id({"reference": order}, "ServiceRequest")
        if order_id is None:
            raise bad_request("order must name a ServiceRequest, e.g. ServiceRequest/<id>", "order")
        unknown = not_found(f"No timeline is known for ServiceRequest/{order_id}")
        if principal.access_keys is not None and not await request.app.state.peers.readable_by(
            "intake", f"ServiceRequest/{order_id}", request.headers["authorization"]
        ):
            raise unknown  # another tenant's order reads like an unknown one
        async with request.app.state.database.transaction() as session:
            found = await facts_of_order(session, order_id)
        if found is None:
            raise unknown
        order_path = f"ServiceRequest/{order_id}"
        note(request, accessed("operation", "ServiceRequest", object_path=order_path))
        return respond(request, turnaround_parameters(found, now=now_utc()))

    return router
