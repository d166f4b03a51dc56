"""Facts about an imaging order (ServiceRequest) that more than one service reads."""

from __future__ import annotations

from typing import Any

from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.references import referenced_id

# The platform's extension naming the ordering facility when the requester is not it
# (documented in docs/fhir.md).
ORDERING_FACILITY_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/ordering-facility"
# On the read Task: the contract (OrganizationAffiliation) the read runs under, set by
# assignment's routing and read by sla for the contract's clock (declared by assignment).
READ_CONTRACT_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/read-contract"
SNOMED = "http://snomed.info/sct"
DICOM_MODALITY_SYSTEM = "http://dicom.nema.org/resources/ontology/DCM"  # modality codes
# An order whose reasonCode names one of these is a stroke protocol: assignment gives it the
# contract's stroke target, sla its stroke clock.
STROKE_CODES = frozenset(
    {
        "230690007",  # Cerebrovascular accident
        "422504002",  # Ischemic stroke
        "230706003",  # Hemorrhagic stroke
        "432504007",  # Cerebral infarction
    }
)


def codes_of(concept: dict[str, Any] | None, system: str) -> list[str]:
    """The codes of `system` in a CodeableConcept."""
    return [
        c["code"]
        for c in (concept or {}).get("coding") or []
        if c.get("system") == system and c.get("code")
    ]


def is_stroke(order: dict[str, Any]) -> bool:
    """Whether the order is for a stroke (a reasonCode in STROKE_CODES)."""
    return any(
        code in STROKE_CODES
        for reason in order.get("reasonCode") or []
        for code in codes_of(reason, SNOMED)
    )


def ordering_facility(order: dict[str, Any]) -> dict[str, Any] | None:
    """The ordering facility (a Reference to an Organization): the requester when it is an
    Organization, else the ordering-facility extension."""
    requester = order.get("requester")
    if referenced_id(requester, "Organization"):
        return requester
    for extension in order.get("extension") or []:
        if extension.get("url") == ORDERING_FACILITY_EXTENSION:
            value = extension.get("valueReference")
            if referenced_id(value, "Organization"):
                return value
    return None


def report_facility(resource: dict[str, Any]) -> str | None:
    """The ordering facility (`Organization/<id>`) a resource names with the
    ordering-facility extension (a report, a critical-result Communication); None if none."""
    for extension in resource.get("extension") or []:
        if extension.get("url") == ORDERING_FACILITY_EXTENSION:
            organization = referenced_id(extension.get("valueReference"), "Organization")
            if organization:
                return f"Organization/{organization}"
    return None
