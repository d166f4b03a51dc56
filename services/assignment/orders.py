"""What the engine needs of an order (services.assignment.engine.model.Exam), read from the
ServiceRequest and its Patient as intake stores them.

- exam code: the CPT coding of `code`; modality: the catalogue's for that code, else a DICOM
  modality coding in `code`, so an order with an unknown code still finds a reader;
- stroke: a `reasonCode` naming a stroke (shared.orders.is_stroke), which gives it the
  contract's stroke target and lets it bypass capacity caps like STAT;
- the clock starts when the order was registered here (meta.lastUpdated of its first
  version as delivered), not at the EHR's `authoredOn`, which may lie in the past.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.assignment.engine.exams import CPT_SYSTEM, DICOM_MODALITY_SYSTEM, cost, exam_kind
from services.assignment.engine.model import PRIORITIES, Exam
from services.assignment.roster import patient_state
from shared.fhir.references import referenced_id
from shared.orders import codes_of, is_stroke, ordering_facility


def registered_at(order: dict[str, Any]) -> datetime:
    moment = (order.get("meta") or {}).get("lastUpdated") or order.get("authoredOn")
    return datetime.fromisoformat(str(moment).replace("Z", "+00:00"))


def exam_from_order(order: dict[str, Any], patient: dict[str, Any] | None) -> Exam:
    """The Exam of `order` (with its Patient, for the state where it was imaged)."""
    code = next(iter(codes_of(order.get("code"), CPT_SYSTEM)), None)
    kind = exam_kind(code)
    modality = (
        kind.modality
        if kind
        else next(iter(codes_of(order.get("code"), DICOM_MODALITY_SYSTEM)), None)
    )
    rvu, read_minutes = cost(code, modality)
    priority = str(order.get("priority")) if order.get("priority") in PRIORITIES else "routine"
    return Exam(
        order_id=order["id"],
        facility=referenced_id(ordering_facility(order), "Organization"),
        state=patient_state(patient) if patient else None,
        code=code,
        modality=modality,
        priority=priority,
        ordered_at=registered_at(order),
        rvu=rvu,
        read_minutes=read_minutes,
        patient=referenced_id(order.get("subject"), "Patient"),
        stroke=is_stroke(order),
        subspecialty=kind.subspecialty if kind else None,
    )
