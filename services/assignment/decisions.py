"""Every routing decision, kept for audit: an AuditEvent in the shared audit log
(AUDIT_DATABASE_URL) beside the request audit, written before the decision commits.

type: DECISION_SYSTEM#decision; subtype: assigned | re-routed | overflow | unassigned;
agent: the assignment engine (this service); entities: the Task version written, its
order, the chosen reader or vendor, and a detail `explanation` -- base64 JSON with the
deadline, the reason, the chosen candidate's score terms and, for every other reader, the
constraints it failed (or its score). Auditors search them like any AuditEvent
(e.g. `AuditEvent?entity=Task/<id>`).
"""

from __future__ import annotations

import base64
import json
from typing import Any
from uuid import uuid4

from services.assignment.engine.model import Candidate, Decision
from shared.audit.balp import SERVICE_SYSTEM
from shared.audit.resource import AUDIT_EVENT
from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.service import format_instant, now_utc
from shared.fhir.storage.repository import FhirRepository

DECISION_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/assignment-event"


def _candidate(candidate: Candidate) -> dict[str, Any]:
    entry: dict[str, Any] = {"reader": f"PractitionerRole/{candidate.reader.id}"}
    if candidate.failures:
        entry["failed"] = [f.constraint.value for f in candidate.failures]
    elif candidate.score is not None:
        entry["score"] = {k: round(v, 3) for k, v in candidate.score.parts.items()}
    return entry


def explanation(decision: Decision) -> dict[str, Any]:
    """The decision as plain data (no patient data: readers, codes and numbers)."""
    chosen: dict[str, Any] = {}
    if decision.reader is not None:
        chosen["reader"] = f"PractitionerRole/{decision.reader.id}"
    elif decision.contract is not None:
        chosen["vendor"] = f"Organization/{decision.contract.group}"
    if decision.contract is not None:
        chosen["contract"] = f"OrganizationAffiliation/{decision.contract.id}"
    if decision.score is not None:
        chosen["score"] = {k: round(v, 3) for k, v in decision.score.parts.items()}
        chosen["predictedCompletion"] = format_instant(decision.score.predicted_completion)
    return {
        "deadline": format_instant(decision.deadline),
        "reason": decision.reason,
        "chosen": chosen,
        "candidates": [_candidate(c) for c in decision.candidates],
    }


def decision_event(
    decision: Decision, *, outcome: str, task_path: str, service: str
) -> dict[str, Any]:
    """The AuditEvent recording one decision about the Task at `task_path` (versioned)."""
    moment = format_instant(now_utc())
    detail = base64.b64encode(json.dumps(explanation(decision)).encode()).decode()
    entities: list[dict[str, Any]] = [
        {
            "what": {"reference": task_path},
            "detail": [{"type": "explanation", "valueBase64Binary": detail}],
        },
        {"what": {"reference": f"ServiceRequest/{decision.exam.order_id}"}},
    ]
    if decision.reader is not None:
        entities.append({"what": {"reference": f"PractitionerRole/{decision.reader.id}"}})
    elif decision.contract is not None:
        entities.append({"what": {"reference": f"Organization/{decision.contract.group}"}})
    return {
        "resourceType": "AuditEvent",
        "id": str(uuid4()),
        "meta": {"versionId": "1", "lastUpdated": moment},
        "type": {"system": DECISION_SYSTEM, "code": "decision", "display": "Assignment decision"},
        "subtype": [{"system": DECISION_SYSTEM, "code": outcome}],
        "action": "E",
        "recorded": moment,
        "outcome": "0",
        "outcomeDesc": decision.reason,
        "agent": [
            {
                "who": {
                    "identifier": {"system": SERVICE_SYSTEM, "value": service},
                    "display": "assignment engine",
                },
                "requestor": True,
            }
        ],
        "source": {"observer": {"identifier": {"system": SERVICE_SYSTEM, "value": service}}},
        "entity": entities,
    }


async def record_decision(audit: Any, event: dict[str, Any]) -> None:
    """Store the decision's AuditEvent (raises if the audit log is unavailable, so that the
    decision is not committed unrecorded)."""
    async with audit.database.transaction() as session:
        await FhirRepository(session).insert(AUDIT_EVENT, event, last_updated=now_utc())
