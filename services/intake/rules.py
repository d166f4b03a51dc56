"""Intake's rules on top of the generic FHIR behaviour: what makes an imaging order whole."""

from __future__ import annotations

from typing import Any

from services.intake.access import order_labels, study_labels
from services.intake.codes import (
    DICOM_UID_SYSTEM,
    IDENTIFIER_TYPE_SYSTEM,
    NPI_SYSTEM,
    ORDER_IDENTIFIER_TYPES,
    ORDERING_FACILITY_EXTENSION,
)
from shared.fhir.outcomes import business_rule
from shared.fhir.registry import ResourceRules, WriteContext
from shared.fhir.search import reference as references
from shared.orders import ordering_facility

# Statuses an order or study never leaves, except to mark it entered in error.
_FINAL_ORDER_STATUSES = frozenset({"revoked", "completed"})
_FINAL_STUDY_STATUSES = frozenset({"cancelled"})


def _reference_type(element: Any) -> str | None:
    if isinstance(element, dict) and isinstance(element.get("reference"), str):
        parsed = references.parse(element["reference"])
        return parsed[0] if parsed else None
    return None


def check_status_change(
    resource_type: str, previous: str | None, new: str | None, final: frozenset[str]
) -> None:
    """A finished record stays finished (only entered-in-error may correct it)."""
    if previous == "entered-in-error" and new != previous:
        raise business_rule(
            f"A {resource_type} entered in error cannot change status", f"{resource_type}.status"
        )
    if previous in final and new not in (previous, "entered-in-error"):
        raise business_rule(
            f"A {previous} {resource_type} cannot become {new}", f"{resource_type}.status"
        )


class ServiceRequestRules(ResourceRules):
    """An imaging order needs an accession or placer number, the patient, the exam, a
    priority (routine unless given) and the ordering facility."""

    async def prepare(
        self,
        resource: dict[str, Any],
        *,
        previous: dict[str, Any] | None,
        context: WriteContext,
    ) -> None:
        if not order_identifiers(resource):
            raise business_rule(
                "An order needs an identifier typed ACSN (accession) or PLAC (placer) from "
                f"{IDENTIFIER_TYPE_SYSTEM}, with a system and a value",
                "ServiceRequest.identifier",
            )
        if _reference_type(resource.get("subject")) != "Patient":
            raise business_rule("The order's subject must be a Patient", "ServiceRequest.subject")
        if not resource.get("code"):
            raise business_rule("The order needs the exam code", "ServiceRequest.code")
        resource.setdefault("priority", "routine")
        if ordering_facility(resource) is None:
            raise business_rule(
                "The order needs its ordering facility: requester = Organization, or the "
                f"extension {ORDERING_FACILITY_EXTENSION}",
                "ServiceRequest.requester",
            )
        if previous is not None:
            check_status_change(
                "ServiceRequest",
                previous.get("status"),
                resource.get("status"),
                _FINAL_ORDER_STATUSES,
            )

    async def access_labels(self, resource: dict[str, Any], *, context: WriteContext) -> set[str]:
        return await order_labels(resource, context)


def _typed_identifiers(resource: dict[str, Any], types: frozenset[str]) -> list[tuple[str, str]]:
    """(system, value) of the identifiers whose v2-0203 type is one of `types`."""
    keys = []
    for identifier in resource.get("identifier") or []:
        codes = {
            c.get("code")
            for c in (identifier.get("type") or {}).get("coding") or []
            if c.get("system") == IDENTIFIER_TYPE_SYSTEM
        }
        if codes & types and identifier.get("system") and identifier.get("value"):
            keys.append((identifier["system"], identifier["value"]))
    return keys


def order_identifiers(order: dict[str, Any]) -> list[tuple[str, str]]:
    """An order's accession and placer numbers: re-sending one creates nothing new."""
    return _typed_identifiers(order, ORDER_IDENTIFIER_TYPES)


def medical_record_numbers(patient: dict[str, Any]) -> list[tuple[str, str]]:
    """A patient's MRNs (type MR): each facility's system keeps them unique."""
    return _typed_identifiers(patient, frozenset({"MR"}))


def national_provider_ids(organization: dict[str, Any]) -> list[tuple[str, str]]:
    """A facility's NPI: nationally unique, so a re-sent facility is the same one."""
    return [
        (i["system"], i["value"])
        for i in organization.get("identifier") or []
        if i.get("system") == NPI_SYSTEM and i.get("value")
    ]


def study_instance_uids(study: dict[str, Any]) -> list[tuple[str, str]]:
    """A study's DICOM Study Instance UID: one study, one resource."""
    return [
        (i["system"], i["value"])
        for i in study.get("identifier") or []
        if i.get("system") == DICOM_UID_SYSTEM and i.get("value")
    ]


class ImagingStudyRules(ResourceRules):
    """A study is based on a known order: by reference, or by the order's accession number
    (which is then resolved to a reference)."""

    async def prepare(
        self,
        resource: dict[str, Any],
        *,
        previous: dict[str, Any] | None,
        context: WriteContext,
    ) -> None:
        based_on = resource.get("basedOn") or []
        orders = 0
        for index, element in enumerate(based_on):
            if _reference_type(element) == "ServiceRequest":
                orders += 1
            elif not element.get("reference") and isinstance(element.get("identifier"), dict):
                identifier = element["identifier"]
                holder = await context.repository.identifier_owner(
                    "ServiceRequest",
                    [(identifier.get("system", ""), identifier.get("value", ""))],
                )
                if holder is None:
                    raise business_rule(
                        "No ServiceRequest has this identifier",
                        f"ImagingStudy.basedOn[{index}].identifier",
                    )
                element["reference"] = f"ServiceRequest/{holder}"
                orders += 1
        if not orders:
            raise business_rule(
                "A study must be basedOn the ServiceRequest it fulfils", "ImagingStudy.basedOn"
            )
        if previous is not None:
            check_status_change(
                "ImagingStudy",
                previous.get("status"),
                resource.get("status"),
                _FINAL_STUDY_STATUSES,
            )

    async def access_labels(self, resource: dict[str, Any], *, context: WriteContext) -> set[str]:
        return await study_labels(resource, context)
