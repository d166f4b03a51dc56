"""What a request touched, gathered for its AuditEvents (`request.state.audit`).

The endpoints note each interaction once it has succeeded -- the resources read or written
and the patients they concern -- and, before trying it, the patients a request names (a
submitted resource, a search's patient parameter), so that a refused request still names
whom it was about. `shared.audit.log` turns the notes into AuditEvents and writes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

from shared.fhir.search import reference as reference_search

if TYPE_CHECKING:
    from shared.fhir.search.execute import SearchResult
    from shared.fhir.storage.records import StoredResource

# The elements through which a resource names the patient it is about: ServiceRequest,
# ImagingStudy, DiagnosticReport, Communication, MeasureReport (subject), Task (for),
# DetectedIssue (patient), Coverage (beneficiary).
PATIENT_ELEMENTS = ("subject", "for", "patient", "beneficiary")
# Search parameters whose values name a patient (`patient=<id>` names Patient/<id>).
PATIENT_PARAMS = ("patient", "subject", "for", "beneficiary")


@dataclass(slots=True)
class Access:
    """One audited interaction: a request, or one entry of a Bundle."""

    interaction: str  # a http://hl7.org/fhir/restful-interaction code
    resource_type: str | None
    objects: list[str] = field(default_factory=list)  # "Type/id[/_history/vid]"
    patients: set[str] = field(default_factory=set)  # "Patient/<id>"
    query: str | None = None  # a search, as "Type?parameters"
    status: int | None = None  # its own HTTP status (a batch entry); else the request's


@dataclass(slots=True)
class AuditTrail:
    """The audit notes of one request."""

    pending: list[Access] = field(default_factory=list)  # noted, not yet written
    named_patients: set[str] = field(default_factory=set)  # named by the request itself
    bundle_type: str | None = None  # transaction | batch, once the Bundle is parsed
    written: bool = False


def trail_of(request: Request) -> AuditTrail:
    """The request's audit trail (made on first use)."""
    trail = getattr(request.state, "audit", None)
    if trail is None:
        trail = AuditTrail()
        request.state.audit = trail
    return trail


def patients_of(resource: Any) -> set[str]:
    """The patients a resource is about: a Patient itself, else its subject/for/patient."""
    if not isinstance(resource, dict):
        return set()
    if resource.get("resourceType") == "Patient":
        return {f"Patient/{resource['id']}"} if isinstance(resource.get("id"), str) else set()
    found = set()
    for name in PATIENT_ELEMENTS:
        value = resource.get(name)
        for element in value if isinstance(value, list) else [value]:
            text = element.get("reference") if isinstance(element, dict) else None
            parsed = reference_search.parse(text) if isinstance(text, str) else None
            if parsed is not None and parsed[0] == "Patient":
                found.add(f"Patient/{parsed[1]}")
    return found


def patients_in_query(resource_type: str, items: Iterable[tuple[str, str]]) -> set[str]:
    """The patients a search names: `patient=`, `subject=Patient/..`, or Patient `_id`."""
    found = set()
    for key, text in items:
        name = key.partition(":")[0]
        if name not in PATIENT_PARAMS and not (resource_type == "Patient" and name == "_id"):
            continue
        for value in text.split(","):
            parsed = reference_search.parse(value.strip())
            if parsed is None:
                continue
            target, patient_id = parsed
            if target == "Patient" or (target is None and name in ("patient", "_id")):
                found.add(f"Patient/{patient_id}")
    return found


def name_patients(request: Request, resources: Iterable[Any]) -> None:
    """Note the patients submitted resources are about, before the write is tried."""
    trail = trail_of(request)
    for resource in resources:
        trail.named_patients |= patients_of(resource)


def name_query_patients(
    request: Request, resource_type: str, items: Iterable[tuple[str, str]]
) -> None:
    """Note the patients a search names, before it is tried."""
    trail_of(request).named_patients |= patients_in_query(resource_type, items)


def accessed(
    interaction: str,
    resource_type: str | None,
    stored: Sequence[StoredResource | None] = (),
    *,
    object_path: str | None = None,
    status: int | None = None,
) -> Access:
    """An interaction on `stored` resource versions (None: nothing was there, e.g. a delete
    of a deleted resource; `object_path` then names what was asked for)."""
    access = Access(interaction, resource_type, status=status)
    for version in stored:
        if version is None:
            continue
        access.objects.append(version.versioned_path)
        access.patients |= patients_of(version.resource())
    if not access.objects and object_path:
        access.objects.append(object_path)
    return access


def searched(
    resource_type: str, result: SearchResult, items: Sequence[tuple[str, str]], query: str
) -> Access:
    """A search: its query and the patients of everything it returned (not each resource,
    as IHE BALP records a query)."""
    access = Access("search-type", resource_type, query=f"{resource_type}?{query}")
    access.patients = patients_in_query(resource_type, items)
    for stored in (*result.matches, *result.included):
        access.patients |= patients_of(stored.resource())
    return access


def note(request: Request, *accesses: Access) -> None:
    """Add interactions that took place to the request's audit trail."""
    trail_of(request).pending.extend(accesses)
