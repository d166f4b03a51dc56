"""AuditEvent as the platform serves it: read and search only, from the shared audit log.

The search parameters are R4's own (http://hl7.org/fhir/R4/auditevent.html#search), with
one difference: `source` is a token on `source.observer.identifier` (the service that
recorded the event, e.g. `source=intake`), because the observer is a service named by an
identifier, not a stored Device.
"""

from __future__ import annotations

from shared.fhir.registry import ResourceDefinition, date, reference, string, token

_SP = "http://hl7.org/fhir/SearchParameter/"

AUDIT_EVENT = ResourceDefinition(
    type="AuditEvent",
    search_params=(
        date(
            "date",
            "recorded",
            description="When the event was recorded",
            definition=_SP + "AuditEvent-date",
        ),
        token(
            "type",
            "type",
            description="Type of event (audit-event-type: rest)",
            definition=_SP + "AuditEvent-type",
        ),
        token(
            "subtype",
            "subtype",
            description="The REST interaction (restful-interaction: read, create, ...)",
            definition=_SP + "AuditEvent-subtype",
        ),
        token(
            "action",
            "action",
            description="C | R | U | D | E",
            definition=_SP + "AuditEvent-action",
        ),
        token(
            "outcome",
            "outcome",
            description="0 (success) | 4 (refused or invalid) | 8 (server failure)",
            definition=_SP + "AuditEvent-outcome",
        ),
        reference(
            "agent",
            "agent.who",
            targets=(),
            description="Who took part: the user's fhirUser, e.g. Practitioner/<id>",
            definition=_SP + "AuditEvent-agent",
        ),
        token(
            "altid",
            "agent.altId",
            description="The client's client_id, or the user's subject at their provider",
            definition=_SP + "AuditEvent-altid",
        ),
        token(
            "agent-role",
            "agent.role",
            description="The caller's role (system, admin, auditor, facility, vendor, radiologist)",
            definition=_SP + "AuditEvent-agent-role",
        ),
        string(
            "address",
            "agent.network.address",
            description="The client's network address (use :exact)",
            definition=_SP + "AuditEvent-address",
        ),
        reference(
            "entity",
            "entity.what",
            targets=(),
            description="A resource read or written, e.g. ServiceRequest/<id>",
            definition=_SP + "AuditEvent-entity",
        ),
        token(
            "entity-type",
            "entity.type",
            description="Kind of entity (audit-entity-type: 1 person, 2 system object)",
            definition=_SP + "AuditEvent-entity-type",
        ),
        token(
            "entity-role",
            "entity.role",
            description="Role of the entity (object-role: 1 patient, 4 resource, 24 query)",
            definition=_SP + "AuditEvent-entity-role",
        ),
        reference(
            "patient",
            "entity.what",
            targets=("Patient",),
            description="A patient whose data the event concerns",
            definition=_SP + "AuditEvent-patient",
        ),
        token(
            "source",
            "source.observer.identifier",
            description="The service that recorded the event (intake, assignment, ...)",
        ),
    ),
    interactions=frozenset({"read", "search-type"}),
    store="audit",
    default_sort="-date",
    documentation="Every access to the platform's FHIR API (IHE BALP): read and search "
    "only, by auditors; nothing can change or delete an AuditEvent.",
)
