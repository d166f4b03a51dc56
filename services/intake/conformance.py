"""The definitions of intake's resources: the ordering-facility extension and the
organization roles (docs/fhir.md)."""

from __future__ import annotations

from services.intake.codes import (
    ORDERING_FACILITY_EXTENSION,
    ORGANIZATION_ROLE_SYSTEM,
    READING_GROUP,
)
from shared.fhir.conformance import (
    CodeSystemDefinition,
    Concept,
    Definition,
    ExtensionDefinition,
    Value,
)

ORDERING_FACILITY = ExtensionDefinition(
    url=ORDERING_FACILITY_EXTENSION,
    title="Ordering facility",
    description=(
        "The client facility that placed the order, when ServiceRequest.requester is a "
        "person rather than the facility. Orders are searched by it (facility=) and the "
        "facility sees its orders through it. On a critical result's follow-up Task "
        "(whose requester is the radiologist) and its Communications it names the facility "
        "that follows it up."
    ),
    contexts=("ServiceRequest", "Task", "Communication"),
    value=Value(("Reference",), targets=("Organization",)),
)

ORGANIZATION_ROLE = CodeSystemDefinition(
    url=ORGANIZATION_ROLE_SYSTEM,
    title="Organization role",
    description=(
        "What an Organization is to the platform, beside HL7's organization-type codes "
        "(Organization.type)."
    ),
    concepts=(
        Concept(
            READING_GROUP,
            "Reading group",
            "A partner reading group: a vendor reading client facilities' studies under contract.",
        ),
    ),
)

DEFINITIONS: tuple[Definition, ...] = (ORDERING_FACILITY, ORGANIZATION_ROLE)
