"""AuditEvents in the shape of IHE Basic Audit Log Patterns (BALP) for RESTful activity:
https://profiles.ihe.net/ITI/BALP/ (Read, Query, Create, Update, Delete and their Patient
variants; failures as in http://hl7.org/fhir/R4/security.html#AccessDenied).

- type `rest`, subtype the restful-interaction, action C/R/U/D/E, outcome 0/4/8 with a
  description that is only the HTTP status (never request data: no PHI);
- agents: the client (DICOM "Source Role ID": client_id, role, network address), the user
  when there is one ("information recipient": fhirUser and subject), and this service
  ("Destination Role ID");
- entities: each resource read or written (versioned), the search (base64, BALP `query`),
  each patient concerned (one event may name several: see docs/security.md), and the W3C
  traceparent of the request, to find its logs and spans.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Any
from uuid import uuid4

from shared.audit.trail import Access
from shared.auth import Principal
from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.service import format_instant

CLIENT_ID_SYSTEM = f"{CANONICAL_BASE}/sid/client-id"
USER_SUBJECT_SYSTEM = f"{CANONICAL_BASE}/sid/user-subject"
SERVICE_SYSTEM = f"{CANONICAL_BASE}/sid/service"
ROLE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/principal-role"
_DCM = "http://dicom.nema.org/resources/ontology/DCM"
_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
_BALP_ENTITY_TYPE = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"

_ACTIONS = {
    "create": "C",
    "read": "R",
    "vread": "R",
    "history-instance": "R",
    "history-type": "R",
    "update": "U",
    "patch": "U",
    "delete": "D",
}  # searches, operations, transactions and batches execute: "E"


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who asked, from where, of which service: the same for every event of a request."""

    principal: Principal | None  # None: not authenticated
    address: str | None  # the client's network address
    service: str
    fhir_base: str
    traceparent: str | None


def outcome_code(status: int) -> str:
    """BALP outcome: 0 success, 4 minor failure (refused, invalid), 8 serious (server)."""
    return "0" if status < 400 else "4" if status < 500 else "8"


def audit_event(
    access: Access, context: RequestContext, *, status: int, recorded: datetime
) -> dict[str, Any]:
    """The AuditEvent of one interaction, ready to store (id and meta set)."""
    moment = format_instant(recorded)
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(uuid4()),
        "meta": {"versionId": "1", "lastUpdated": moment},
        "type": _coding(
            "http://terminology.hl7.org/CodeSystem/audit-event-type", "rest", "RESTful Operation"
        ),
        "subtype": [_coding("http://hl7.org/fhir/restful-interaction", access.interaction)],
        "action": _ACTIONS.get(access.interaction, "E"),
        "recorded": moment,
        "outcome": outcome_code(status),
    }
    if status >= 400:
        event["outcomeDesc"] = f"HTTP {status} {_phrase(status)}"
    event["agent"] = _agents(context)
    event["source"] = {
        "observer": _service(context.service),
        "type": [_coding("http://terminology.hl7.org/CodeSystem/security-source-type", "4")],
    }
    entities = _entities(access, context.traceparent)
    if entities:
        event["entity"] = entities
    return event


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown status"


def _service(name: str) -> dict[str, Any]:
    return {"identifier": {"system": SERVICE_SYSTEM, "value": name}, "display": f"{name} service"}


def _agents(context: RequestContext) -> list[dict[str, Any]]:
    principal = context.principal
    has_user = principal is not None and bool(principal.fhir_user or principal.user)
    client: dict[str, Any] = {
        "type": {"coding": [_coding(_DCM, "110153", "Source Role ID")]},
        "who": {"display": "unknown client (not authenticated)"},
        "requestor": not has_user,
    }
    if principal is not None:
        client["who"] = {"identifier": {"system": CLIENT_ID_SYSTEM, "value": principal.client_id}}
        client["altId"] = principal.client_id
        client["role"] = [{"coding": [_coding(ROLE_SYSTEM, principal.role)]}]
    if context.address:
        client["network"] = {"address": context.address, "type": "2"}  # IP address
    agents = [client]
    if principal is not None and has_user:
        who: dict[str, Any] = {}
        if principal.fhir_user:
            who["reference"] = principal.fhir_user
        if principal.user:
            who["identifier"] = {"system": USER_SUBJECT_SYSTEM, "value": principal.user}
        user: dict[str, Any] = {
            "type": {
                "coding": [
                    _coding(
                        "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                        "IRCP",
                        "information recipient",
                    )
                ]
            },
            "who": who,
            "requestor": True,
        }
        if principal.user:
            user["altId"] = principal.user
        agents.append(user)
    agents.append(
        {
            "type": {"coding": [_coding(_DCM, "110152", "Destination Role ID")]},
            "who": _service(context.service),
            "requestor": False,
            "network": {"address": context.fhir_base, "type": "5"},  # URI
        }
    )
    return agents


def _entities(access: Access, traceparent: str | None) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = [
        {
            "what": {"reference": path},
            "type": _coding(_ENTITY_TYPE, "2", "System Object"),
            "role": _coding(_OBJECT_ROLE, "4", "Domain Resource"),
        }
        for path in access.objects
    ]
    if access.query is not None:
        entities.append(
            {
                "type": _coding(_ENTITY_TYPE, "2", "System Object"),
                "role": _coding(_OBJECT_ROLE, "24", "Query"),
                "query": base64.b64encode(access.query.encode()).decode(),
            }
        )
    entities += [
        {
            "what": {"reference": patient},
            "type": _coding(_ENTITY_TYPE, "1", "Person"),
            "role": _coding(_OBJECT_ROLE, "1", "Patient"),
        }
        for patient in sorted(access.patients)
    ]
    if traceparent:
        entities.append(
            {
                "what": {"identifier": {"value": traceparent}},
                "type": _coding(_BALP_ENTITY_TYPE, "Traceparent"),
            }
        )
    return entities
