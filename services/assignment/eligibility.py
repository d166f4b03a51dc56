"""`GET [base]/$eligibility?order=ServiceRequest/<id>`: who may read an order, and why.

A system-level operation of this platform (OperationDefinition: OPERATION.definition), as
`$turnaround` is: assignment keeps reads, not orders. It answers, for the order as it
stands now, with a Parameters resource:

- `order`, `deadline`, `outcome` (assigned | overflow | unassigned: what the engine would
  decide now) and `reason`;
- `chosen`: the reader (or vendor) it would pick, with each term of its score;
- one `candidate` per reader on the roster, eligible or not: `reader`, `eligible`, each
  failed hard constraint (`failure`: code from the assignment-constraint CodeSystem and a
  detail) or, for the eligible, the score terms and the predicted completion.

Nothing is changed. For an order already routed, the exam is the one its read carries
(with who declined it). Operations (admin), the platform and the ordering facility may ask.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from services.assignment import work
from services.assignment.engine.model import Candidate, Decision, Score
from services.assignment.flows import engine_state, outcome_of
from services.assignment.orders import exam_from_order
from shared.audit.trail import accessed, note
from shared.auth import CurrentPrincipal
from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.http import respond
from shared.fhir.outcomes import bad_request, forbidden, not_found
from shared.fhir.references import referenced_id
from shared.fhir.registry import Operation
from shared.fhir.service import format_instant, now_utc

OPERATION = Operation(
    name="eligibility",
    definition=f"{CANONICAL_BASE}/OperationDefinition/eligibility",
    documentation="Every reader of the roster for one order, eligible or not, with each "
    "failed constraint and the chosen one's score: ?order=ServiceRequest/<id>",
)
CONSTRAINT_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/assignment-constraint"
ASKERS = frozenset({"system", "admin", "facility"})


def _score_parts(score: Score) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [
        {
            "name": "predicted-completion",
            "valueInstant": format_instant(score.predicted_completion),
        },
        {"name": "total", "valueDecimal": round(score.total, 3)},
    ]
    parts += [
        {
            "name": "term",
            "part": [
                {"name": "name", "valueCode": name},
                {"name": "value", "valueDecimal": round(value, 3)},
            ],
        }
        for name, value in score.parts.items()
    ]
    return parts


def _candidate(candidate: Candidate) -> dict[str, Any]:
    reader = candidate.reader
    part: list[dict[str, Any]] = [
        {
            "name": "reader",
            "valueReference": {
                "reference": f"PractitionerRole/{reader.id}",
                "display": reader.name,
            },
        },
        {"name": "eligible", "valueBoolean": candidate.eligible},
    ]
    for failure in candidate.failures:
        part.append(
            {
                "name": "failure",
                "part": [
                    {
                        "name": "constraint",
                        "valueCoding": {
                            "system": CONSTRAINT_SYSTEM,
                            "code": failure.constraint.value,
                        },
                    },
                    {"name": "detail", "valueString": failure.detail},
                ],
            }
        )
    if candidate.score is not None:
        part += _score_parts(candidate.score)
    return {"name": "candidate", "part": part}


def eligibility_parameters(decision: Decision, candidates: list[Candidate]) -> dict[str, Any]:
    """The operation's answer."""
    parameters: list[dict[str, Any]] = [
        {
            "name": "order",
            "valueReference": {"reference": f"ServiceRequest/{decision.exam.order_id}"},
        },
        {"name": "deadline", "valueInstant": format_instant(decision.deadline)},
        {"name": "outcome", "valueCode": outcome_of(decision, rerouted=False)},
        {"name": "reason", "valueString": decision.reason},
    ]
    chosen: list[dict[str, Any]] = []
    if decision.reader is not None:
        chosen.append(
            {
                "name": "reader",
                "valueReference": {
                    "reference": f"PractitionerRole/{decision.reader.id}",
                    "display": decision.reader.name,
                },
            }
        )
    elif decision.contract is not None:
        chosen.append(
            {
                "name": "vendor",
                "valueReference": {"reference": f"Organization/{decision.contract.group}"},
            }
        )
    if decision.contract is not None:
        chosen.append(
            {
                "name": "contract",
                "valueReference": {"reference": f"OrganizationAffiliation/{decision.contract.id}"},
            }
        )
    if decision.score is not None:
        chosen += _score_parts(decision.score)
    if chosen:
        parameters.append({"name": "chosen", "part": chosen})
    parameters += [_candidate(c) for c in candidates]
    return {"resourceType": "Parameters", "parameter": parameters}


def eligibility_router() -> APIRouter:
    router = APIRouter(tags=["assignment"])

    @router.get("/$eligibility", summary="Who may read an order, and why")
    async def eligibility(
        request: Request, principal: CurrentPrincipal, order: str = ""
    ) -> Response:
        if principal.role not in ASKERS:
            raise forbidden("Operations, the platform and the ordering facility may ask this")
        principal.require("ServiceRequest", "r")
        order_id = referenced_id({"reference": order}, "ServiceRequest")
        if order_id is None:
            raise bad_request("order must name a ServiceRequest, e.g. ServiceRequest/<id>", "order")
        unknown = not_found(f"ServiceRequest/{order_id} is not known")
        peers = request.app.state.peers
        if principal.access_keys is not None and not await peers.readable_by(
            "intake", f"ServiceRequest/{order_id}", request.headers["authorization"]
        ):
            raise unknown  # another tenant's order reads like an unknown one
        found = await peers.read("intake", f"ServiceRequest/{order_id}")
        if found is None:
            raise unknown
        state = engine_state(request.app.state)
        now = now_utc()
        async with request.app.state.database.transaction() as session:
            row = await work.row_of(session, order_id)
        if row is not None:
            exam = work.exam_of(row)
        else:  # not routed yet: the exam from the order (no lock held across the call)
            patient_id = referenced_id(found.get("subject"), "Patient")
            patient = await peers.read("intake", f"Patient/{patient_id}") if patient_id else None
            exam = exam_from_order(found, patient)
        async with request.app.state.database.transaction() as session:
            engine = await state.current(session)
            decision = engine.choose(exam, now, explain=True)
        note(
            request,
            accessed("operation", "ServiceRequest", object_path=f"ServiceRequest/{order_id}"),
        )
        return respond(request, eligibility_parameters(decision, list(decision.candidates)))

    return router
