"""The identifier and code systems of the audit trail's AuditEvents (docs/fhir.md)."""

from __future__ import annotations

from shared.audit.balp import CLIENT_ID_SYSTEM, ROLE_SYSTEM, SERVICE_SYSTEM, USER_SUBJECT_SYSTEM
from shared.fhir.conformance import (
    CodeSystemDefinition,
    Concept,
    Definition,
    NamingSystemDefinition,
)

CLIENT_ID = NamingSystemDefinition(
    value=CLIENT_ID_SYSTEM,
    title="Client id",
    description="The registered client (SMART client_id) that made a request.",
    usage="AuditEvent.agent.who.identifier of the client agent.",
)
USER_SUBJECT = NamingSystemDefinition(
    value=USER_SUBJECT_SYSTEM,
    title="User subject",
    description="The user's subject (sub) at the identity provider that signed them in.",
    usage="AuditEvent.agent.who.identifier of the user agent.",
)
SERVICE = NamingSystemDefinition(
    value=SERVICE_SYSTEM,
    title="Platform service",
    description="The platform service that recorded an event: intake, assignment, reporting, sla.",
    usage="AuditEvent.source.observer and the service's agent (AuditEvent.agent.who).",
)

PRINCIPAL_ROLE = CodeSystemDefinition(
    url=ROLE_SYSTEM,
    title="Principal role",
    description=(
        "The role of the caller behind a request: which tenant rules and role ceiling apply "
        "(docs/security.md, Tenants). On AuditEvent.agent.role of the client agent."
    ),
    concepts=(
        Concept("system", "System", "One of the platform's own services; no tenant."),
        Concept("admin", "Administrator", "Operations: roster, contracts, re-routing; no tenant."),
        Concept("auditor", "Auditor", "Reads the audit trail (AuditEvent only); no tenant."),
        Concept(
            "facility",
            "Client facility",
            "A client facility's EHR or RIS, confined to its own organizations.",
        ),
        Concept(
            "vendor",
            "Partner vendor",
            "A partner teleradiology group, confined to the Tasks assigned to its "
            "Organization and what reading them needs.",
        ),
        Concept(
            "radiologist",
            "Radiologist",
            "A radiologist signed in through the identity provider, confined to their own "
            "worklist.",
        ),
    ),
)

DEFINITIONS: tuple[Definition, ...] = (CLIENT_ID, USER_SUBJECT, SERVICE, PRINCIPAL_ROLE)
