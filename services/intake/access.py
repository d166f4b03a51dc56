"""Who may see intake's records (shared/fhir/access.py).

A facility's records carry its label, `Organization/<id>`: its orders (the ordering
facility), their studies, its patients (the managing facility and every facility that
ordered for them) and its DICOMweb endpoints. Every record of one order also carries the
order's label, which intake grants to whoever the order's read Task is assigned to -- a
radiologist or a partner vendor -- so that they see the order, its studies and its patient,
and nothing else.
"""

from __future__ import annotations

from typing import Any

from shared.fhir.access import order_label, relative
from shared.fhir.references import referenced_id
from shared.fhir.registry import ResourceRules, WriteContext
from shared.orders import ordering_facility


class OrganizationAccess(ResourceRules):
    """An organization sees its own record."""

    async def access_labels(self, resource: dict[str, Any], *, context: WriteContext) -> set[str]:
        return {f"Organization/{resource['id']}"}


class EndpointAccess(ResourceRules):
    """An endpoint belongs to the facility that runs it, and is seen by whoever may see a
    study whose images are there."""

    async def access_labels(self, resource: dict[str, Any], *, context: WriteContext) -> set[str]:
        managing = relative(resource.get("managingOrganization"), "Organization")
        repository = context.repository.unconfined()
        studies = await repository.referencing(
            "ImagingStudy", "endpoint", "Endpoint", resource["id"]
        )
        return ({managing} if managing else set()) | await repository.labels(studies)


class PatientAccess(ResourceRules):
    """A patient is seen by the facility managing the record -- the writing facility when
    none is named -- and by everyone who may see one of the patient's orders."""

    async def access_labels(self, resource: dict[str, Any], *, context: WriteContext) -> set[str]:
        managing = relative(resource.get("managingOrganization"), "Organization")
        labels = {managing} if managing else set(context.principal.organizations)
        repository = context.repository.unconfined()
        orders = await repository.referencing(
            "ServiceRequest", "patient", "Patient", resource["id"]
        )
        return labels | await repository.labels(orders)


async def order_labels(order: dict[str, Any], context: WriteContext) -> set[str]:
    """An order is seen by its ordering facility and through its own label; its patient is
    given the same labels, so whoever may see the order sees whom it is for."""
    labels = {order_label(order["id"])}
    facility = relative(ordering_facility(order), "Organization")
    if facility:
        labels.add(facility)
    patient_id = referenced_id(order.get("subject"), "Patient")
    if patient_id:
        repository = context.repository.unconfined()
        patient = await repository.current("Patient", patient_id)
        if patient is not None:
            await repository.add_labels(patient.pk, labels)
    return labels


async def study_labels(study: dict[str, Any], context: WriteContext) -> set[str]:
    """A study is seen by whoever may see the order it fulfils; the DICOMweb endpoints it
    names are given the same labels, so that its readers can fetch its images."""
    repository = context.repository.unconfined()
    pks = []
    for element in study.get("basedOn") or []:
        order_id = referenced_id(element, "ServiceRequest")
        order = await repository.current("ServiceRequest", order_id) if order_id else None
        if order is not None:
            pks.append(order.pk)
    labels = await repository.labels(pks)
    endpoints = [*(study.get("endpoint") or [])]
    for series in study.get("series") or []:
        endpoints += series.get("endpoint") or []
    for element in endpoints:
        endpoint_id = referenced_id(element, "Endpoint")
        endpoint = await repository.current("Endpoint", endpoint_id) if endpoint_id else None
        if endpoint is not None:
            await repository.add_labels(endpoint.pk, labels)
    return labels
