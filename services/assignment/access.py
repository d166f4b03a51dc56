"""Who may see assignment's records (shared/fhir/access.py).

A read Task is seen by the ordering facility (its `requester`: the status of its orders'
reads) and by whoever it is assigned to: the radiologist behind the owning PractitionerRole
(`Practitioner/<id>`) and the group that role reads for, or the partner vendor owning it
(`Organization/<id>`). The roster is
seen by the radiologist it describes and by the organizations it names (the reading group,
the facility granting privileges); a contract by both of its parties. Operations (admin)
sees everything.
"""

from __future__ import annotations

from typing import Any

from shared.fhir.access import relative
from shared.fhir.registry import ResourceRules, WriteContext
from shared.fhir.storage.repository import FhirRepository
from shared.follow_up import is_follow_up
from shared.orders import ordering_facility


async def owner_labels(owner: Any, repository: FhirRepository) -> set[str]:
    """The labels of whoever a Task `owner` reference names: the vendor Organization, the
    Practitioner itself, or the Practitioner behind a PractitionerRole with the group it
    reads for (so that a vendor keeps the reads it hands to its own radiologists)."""
    direct = relative(owner, "Organization") or relative(owner, "Practitioner")
    if direct:
        return {direct}
    role = relative(owner, "PractitionerRole")
    stored = await repository.current("PractitionerRole", role.split("/", 1)[1]) if role else None
    if stored is None or stored.deleted:
        return set()
    found = stored.resource()
    labels = (
        relative(found.get("practitioner"), "Practitioner"),
        relative(found.get("organization"), "Organization"),
    )
    return {label for label in labels if label}


class TaskAccess(ResourceRules):
    """A Task is seen by the ordering facility (its requester, or the ordering-facility
    extension of a follow-up, whose requester is the radiologist) and by its owner; a
    follow-up also by the radiologist who asked for it."""

    async def access_labels(self, resource: dict[str, Any], *, context: WriteContext) -> set[str]:
        labels = set()
        facility = relative(ordering_facility(resource), "Organization")
        if facility:
            labels.add(facility)
        repository = context.repository.unconfined()
        labels |= await owner_labels(resource.get("owner"), repository)
        if is_follow_up(resource):
            labels |= await owner_labels(resource.get("requester"), repository)
        return labels


class PractitionerAccess(ResourceRules):
    """A radiologist sees their own record."""

    async def access_labels(self, resource: dict[str, Any], *, context: WriteContext) -> set[str]:
        return {f"Practitioner/{resource['id']}"}


class PractitionerRoleAccess(ResourceRules):
    """A role is seen by its radiologist and by the organization it is held at."""

    async def access_labels(self, resource: dict[str, Any], *, context: WriteContext) -> set[str]:
        found = (
            relative(resource.get("practitioner"), "Practitioner"),
            relative(resource.get("organization"), "Organization"),
        )
        return {label for label in found if label}


class AffiliationAccess(ResourceRules):
    """A contract is seen by both of its parties."""

    async def access_labels(self, resource: dict[str, Any], *, context: WriteContext) -> set[str]:
        found = (
            relative(resource.get("organization"), "Organization"),
            relative(resource.get("participatingOrganization"), "Organization"),
        )
        return {label for label in found if label}
