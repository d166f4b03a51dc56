"""Reporting's rules: a report is written for an order's read Task, only by its owner.

The Task lives in assignment; reporting asks for it over FHIR (`Task?focus=` the order) at
write time, so the check uses the current owner. The writer is the report's
`resultsInterpreter`, which must name the owner (its PractitionerRole or that role's
Practitioner); when the caller's token names a user (`fhirUser`), that user must be the
owner as well. Assignment hears of the final report through its subscription and completes
the Task.
"""

from __future__ import annotations

from typing import Any

from shared.fhir.outcomes import business_rule, forbidden, unavailable
from shared.fhir.references import referenced_id
from shared.fhir.registry import ResourceRules, WriteContext
from shared.fhir.search.reference import parse
from shared.peers import Peers

# Reads that can no longer take a report (a completed read still takes amendments).
_DEAD_TASK_STATUSES = frozenset({"cancelled", "rejected", "failed", "entered-in-error"})


class DiagnosticReportRules(ResourceRules):
    async def prepare(
        self,
        resource: dict[str, Any],
        *,
        previous: dict[str, Any] | None,
        context: WriteContext,
    ) -> None:
        orders = [referenced_id(e, "ServiceRequest") for e in resource.get("basedOn") or []]
        order_ids = [o for o in orders if o]
        if len(order_ids) != 1:
            raise business_rule(
                "A report is basedOn exactly one ServiceRequest (the order it reads)",
                "DiagnosticReport.basedOn",
            )
        if context.peers is None:
            raise unavailable("Reports cannot be checked against their Task here")
        task = await _live_task(context.peers, order_ids[0])
        owner = _task_owner(task)
        readers = {owner, *await _practitioner_of(context.peers, owner)}
        context.memo["task"], context.memo["readers"] = task, readers
        if owner.startswith("Organization/") and owner in context.principal.organizations:
            return  # a partner vendor's own radiologist reads the vendor's Task
        interpreters = {
            e.get("reference")
            for e in resource.get("resultsInterpreter") or []
            if isinstance(e, dict)
        }
        if not readers & {_relative(i) for i in interpreters if i}:
            raise business_rule(
                "resultsInterpreter must name the radiologist the order's Task is assigned to",
                "DiagnosticReport.resultsInterpreter",
            )
        user = context.principal.fhir_user
        if user is not None and _relative(user) not in readers:
            raise forbidden("Only the radiologist the read is assigned to may write its report")

    async def access_labels(self, resource: dict[str, Any], *, context: WriteContext) -> set[str]:
        """A report is seen by the ordering facility and by whoever its read is assigned
        to (the radiologist behind the owning role, or the partner vendor)."""
        task = context.memo["task"]
        facility = (task.get("requester") or {}).get("reference")
        return {_relative(label) for label in (facility, *context.memo["readers"]) if label}


def _relative(reference: str) -> str:
    """`Type/id` of a relative, absolute or versioned reference."""
    parsed = parse(reference)
    return f"{parsed[0]}/{parsed[1]}" if parsed and parsed[0] else reference


class ReportAttachedAccess(ResourceRules):
    """Signatures and communications about a report are seen by whoever sees the report."""

    def __init__(self, *paths: str) -> None:
        self.paths = paths

    async def access_labels(self, resource: dict[str, Any], *, context: WriteContext) -> set[str]:
        repository = context.repository.unconfined()
        pks = []
        for path in self.paths:
            for element in resource.get(path) or []:
                report_id = referenced_id(element, "DiagnosticReport")
                stored = (
                    await repository.current("DiagnosticReport", report_id) if report_id else None
                )
                if stored is not None:
                    pks.append(stored.pk)
        return await repository.labels(pks)


async def _live_task(peers: Peers, order_id: str) -> dict[str, Any]:
    """The order's live read Task."""
    tasks = await peers.search(
        "assignment", "Task", {"focus": f"ServiceRequest/{order_id}", "_count": "20"}
    )
    live = [t for t in tasks if t.get("status") not in _DEAD_TASK_STATUSES]
    if not live:
        raise business_rule(
            "The order has no read Task to report on (not assigned yet, or cancelled)",
            "DiagnosticReport.basedOn",
        )
    return live[0]


def _task_owner(task: dict[str, Any]) -> str:
    """The owner (`PractitionerRole/<id>`, or a vendor's `Organization/<id>`) of a Task."""
    owner = (task.get("owner") or {}).get("reference")
    if not owner:
        raise business_rule(
            "The order's read is not assigned to a radiologist yet", "DiagnosticReport.basedOn"
        )
    return _relative(owner)


async def _practitioner_of(peers: Peers, owner: str) -> set[str]:
    """The Practitioner behind an owning PractitionerRole (empty for other owners)."""
    if not owner.startswith("PractitionerRole/"):
        return set()
    role = await peers.read("assignment", owner)
    practitioner = referenced_id((role or {}).get("practitioner"), "Practitioner")
    return {f"Practitioner/{practitioner}"} if practitioner else set()
