"""Facts about an imaging order (ServiceRequest) that more than one service reads."""

from __future__ import annotations

from typing import Any

from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.references import referenced_id

# The platform's extension naming the ordering facility when the requester is not it
# (documented in docs/fhir.md).
ORDERING_FACILITY_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/ordering-facility"


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
