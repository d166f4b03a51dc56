"""`GET [base]/$turnaround?order=ServiceRequest/<id>`: one order's timeline and turnaround.

A system-level operation of this platform (OperationDefinition: OPERATION_URL): sla keeps
timelines, not orders, so the order is a parameter rather than the instance. The answer is
a Parameters resource: the order, its priority and deadline when known, each milestone with
its time, each interval between known milestones in minutes, and whether the final report
met the deadline.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from services.sla.timeline import Timeline, timeline
from shared.audit.trail import accessed, note
from shared.auth import CurrentPrincipal
from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.http import respond
from shared.fhir.outcomes import bad_request, not_found
from shared.fhir.references import referenced_id
from shared.fhir.registry import Operation
from shared.fhir.service import format_instant

OPERATION = Operation(
    name="turnaround",
    definition=f"{CANONICAL_BASE}/OperationDefinition/turnaround",
    documentation="One order's milestones and turnaround: ?order=ServiceRequest/<id>",
)


def turnaround_parameters(found: Timeline) -> dict[str, Any]:
    """The operation's answer for one timeline."""
    parameters: list[dict[str, Any]] = [
        {"name": "order", "valueReference": {"reference": f"ServiceRequest/{found.order_id}"}},
        {"name": "complete", "valueBoolean": "final" in found.milestones},
    ]
    if found.priority:
        parameters.append({"name": "priority", "valueCode": found.priority})
    if found.deadline:
        parameters.append({"name": "deadline", "valueInstant": format_instant(found.deadline)})
    if found.breached is not None:
        parameters.append({"name": "met-deadline", "valueBoolean": not found.breached})
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
    for name, minutes in found.intervals():
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
            found = await timeline(session, order_id)
        if found is None:
            raise unknown
        order_path = f"ServiceRequest/{order_id}"
        note(request, accessed("operation", "ServiceRequest", object_path=order_path))
        return respond(request, turnaround_parameters(found))

    return router
