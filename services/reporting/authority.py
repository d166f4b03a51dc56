"""Who may write a report (docs/reporting.md, "Who may write").

The read Task's owner writes the report: reporting asks assignment (over FHIR, at write
time) for the order's live read Task, and the writer must be its owner -- the owning
PractitionerRole or that role's Practitioner (or, for a partner vendor's Task, one of the
vendor's own users). The writer is the user the token names (`fhirUser`) or, for a system
client writing on a radiologist's behalf, the last `resultsInterpreter`.

A co-signer is someone else who may sign an existing report: e.g. the attending
finalising a resident's preliminary read, or a colleague amending a final report when
its reader is gone. Co-signing is safe only when the co-signer could have been given the
read: they belong to the same reading group as the owning role (a membership
PractitionerRole whose organization is the owning role's organization) AND assignment's
`$eligibility` for the order finds that role on the roster with none of the hard
constraints that make a reading lawful failed -- active, licence (the patient's state),
privileges (the facility), modality, subspecialty. Shift, capacity, contract and conflict
do not matter for signing. A co-signer signs only final, amended, corrected or appended
versions of a report that exists, and is added to `resultsInterpreter`; the owner stays
named there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.reporting.lifecycle import SIGNED
from shared.fhir.outcomes import FhirError, business_rule, forbidden, unavailable
from shared.fhir.references import referenced_id
from shared.fhir.registry import WriteContext
from shared.fhir.search.reference import parse
from shared.peers import Peers

# Reads that can no longer take a report (a completed read still takes amendments).
_DEAD_TASK_STATUSES = frozenset({"cancelled", "rejected", "failed", "entered-in-error"})
# The `$eligibility` failures that make a co-signature unlawful (assignment-constraint codes).
SIGNING_CONSTRAINTS = frozenset({"active", "licence", "privileges", "modality", "subspecialty"})
_INTERPRETER = "DiagnosticReport.resultsInterpreter"


@dataclass(frozen=True, slots=True)
class Writer:
    """Who writes this version: `acting` as named (role or practitioner) and the
    Practitioner who signs it (`signer`)."""

    acting: str
    signer: str


def relative(reference: str) -> str:
    """`Type/id` of a relative, absolute or versioned reference."""
    parsed = parse(reference)
    return f"{parsed[0]}/{parsed[1]}" if parsed and parsed[0] else reference


def interpreters(resource: dict[str, Any]) -> list[str]:
    return [
        relative(e["reference"])
        for e in resource.get("resultsInterpreter") or []
        if isinstance(e, dict) and isinstance(e.get("reference"), str)
    ]


async def authorised_writer(
    resource: dict[str, Any], *, previous: dict[str, Any] | None, context: WriteContext
) -> Writer:
    """The writer of `resource`, once they are found to be the owner or a permitted
    co-signer; memoises the Task and its readers for the access labels."""
    if context.peers is None:
        raise unavailable("Reports cannot be checked against their Task here")
    order_id = _the_order(resource)
    task = await _live_task(context.peers, order_id)
    owner = _task_owner(task)
    owner_role = await _role(context.peers, owner)
    readers = {owner, *_practitioner(owner_role)}
    context.memo["task"], context.memo["readers"] = task, readers
    context.memo["group"] = _group(owner_role)
    named = interpreters(resource)
    user = context.principal.fhir_user
    acting = relative(user) if user else (named[-1] if named else None)
    if owner.startswith("Organization/") and owner in context.principal.organizations:
        # A partner vendor's own radiologist reads the vendor's Task.
        return Writer(acting or owner, await _signer_of(context.peers, acting or owner))
    if acting in readers:
        if not readers & set(named):
            raise business_rule(
                "resultsInterpreter must name the radiologist the order's Task is assigned to",
                _INTERPRETER,
            )
        signer = acting if acting != owner else next(iter(_practitioner(owner_role)), acting)
        return Writer(acting, signer)
    refusal = _refusal(user is not None)
    if acting is None or previous is None or resource.get("status") not in SIGNED:
        raise refusal
    if not readers & set(named) or owner_role is None:
        raise refusal
    await _check_cosigner(context.peers, acting, owner_role, order_id, refusal)
    if acting not in named:
        resource.setdefault("resultsInterpreter", []).append({"reference": acting})
    signer = await _signer_of(context.peers, acting)
    context.memo["readers"] = readers | {acting, signer}  # the co-signer sees what they sign
    return Writer(acting, signer)


def _refusal(by_user: bool) -> FhirError:
    if by_user:
        return forbidden(
            "Only the radiologist the read is assigned to, or a permitted co-signer, may "
            "write its report"
        )
    return business_rule(
        "resultsInterpreter must name the radiologist the order's Task is assigned to "
        "(another radiologist may only co-sign an existing report: same reading group, "
        "eligible for the order)",
        _INTERPRETER,
    )


async def _check_cosigner(
    peers: Peers, acting: str, owner_role: dict[str, Any], order_id: str, refusal: FhirError
) -> None:
    """Refuse unless one of `acting`'s membership roles in the owner's reading group is on
    the order's roster with no signing constraint failed."""
    group = (owner_role.get("organization") or {}).get("reference")
    if not group:
        raise refusal
    group = relative(group)
    roles = await _roles_in_group(peers, acting, group)
    if not roles:
        raise refusal
    answer = await peers.get(
        "assignment", "$eligibility", params={"order": f"ServiceRequest/{order_id}"}
    )
    if answer is None or not any(_may_sign(answer, role) for role in roles):
        raise refusal


async def _roles_in_group(peers: Peers, acting: str, group: str) -> list[str]:
    """`acting`'s roles (itself, for a role) whose organization is `group`."""
    if acting.startswith("PractitionerRole/"):
        role = await peers.read("assignment", acting)
        org = ((role or {}).get("organization") or {}).get("reference")
        return [acting] if org and relative(org) == group else []
    practitioner = referenced_id({"reference": acting}, "Practitioner")
    if practitioner is None:
        return []
    found = await peers.search(
        "assignment",
        "PractitionerRole",
        {"practitioner": f"Practitioner/{practitioner}", "organization": group, "_count": "50"},
    )
    return [f"PractitionerRole/{r['id']}" for r in found if r.get("id")]


def _may_sign(eligibility: dict[str, Any], role: str) -> bool:
    """Whether `role` is a candidate of the `$eligibility` answer with no signing
    constraint failed."""
    for candidate in eligibility.get("parameter") or []:
        if candidate.get("name") != "candidate":
            continue
        parts = candidate.get("part") or []
        reader: dict[str, Any] = next((p for p in parts if p.get("name") == "reader"), {})
        if relative(str((reader.get("valueReference") or {}).get("reference"))) != role:
            continue
        failed = {
            part.get("valueCoding", {}).get("code")
            for failure in parts
            if failure.get("name") == "failure"
            for part in failure.get("part") or []
            if part.get("name") == "constraint"
        }
        return not failed & SIGNING_CONSTRAINTS
    return False


def _the_order(resource: dict[str, Any]) -> str:
    orders = [referenced_id(e, "ServiceRequest") for e in resource.get("basedOn") or []]
    order_ids = [o for o in orders if o]
    if len(order_ids) != 1:
        raise business_rule(
            "A report is basedOn exactly one ServiceRequest (the order it reads)",
            "DiagnosticReport.basedOn",
        )
    return order_ids[0]


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
    return relative(owner)


async def _role(peers: Peers, reference: str) -> dict[str, Any] | None:
    """The PractitionerRole `reference` names (None for other owners)."""
    if not reference.startswith("PractitionerRole/"):
        return None
    return await peers.read("assignment", reference)


def _group(role: dict[str, Any] | None) -> str | None:
    """The reading group a membership role reads for (its organization), as `Type/id`."""
    group = ((role or {}).get("organization") or {}).get("reference")
    return relative(group) if group else None


def _practitioner(role: dict[str, Any] | None) -> set[str]:
    """The Practitioner behind a PractitionerRole (empty without one)."""
    practitioner = referenced_id((role or {}).get("practitioner"), "Practitioner")
    return {f"Practitioner/{practitioner}"} if practitioner else set()


async def _signer_of(peers: Peers, acting: str) -> str:
    """The Practitioner who signs for `acting` (a role's practitioner; else `acting`)."""
    if acting.startswith("PractitionerRole/"):
        practitioner = _practitioner(await _role(peers, acting))
        return next(iter(practitioner), acting)
    return acting
