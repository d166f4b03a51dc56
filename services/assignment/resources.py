"""What assignment serves: the roster (Practitioner, PractitionerRole), contracts
(OrganizationAffiliation) and the Task assigning each order."""

from __future__ import annotations

from typing import Any

from services.assignment.eligibility import OPERATION as ELIGIBILITY
from services.assignment.reroute_operation import OPERATION as REROUTE
from services.assignment.roster_rules import (
    AffiliationRules,
    PractitionerRoleRules,
    PractitionerRules,
)
from services.assignment.task_rules import TaskRules
from services.assignment.tasks import BUSINESS_STATUS_SYSTEM, task_identifiers
from shared.events.topics import status_changes, topic
from shared.fhir.registry import (
    Registry,
    ResourceDefinition,
    date,
    reference,
    string,
    token,
)

_SP = "http://hl7.org/fhir/SearchParameter/"


def owner_or_status_changes(
    previous: dict[str, Any] | None, current: dict[str, Any] | None
) -> bool:
    """Fires for a new Task and whenever its owner or status changes."""
    if current is None:
        return False
    before = previous or {}
    return before.get("owner") != current.get("owner") or before.get("status") != current.get(
        "status"
    )


def _business_code(task: dict[str, Any] | None) -> str | None:
    codings = ((task or {}).get("businessStatus") or {}).get("coding") or []
    return next((c.get("code") for c in codings if c.get("system") == BUSINESS_STATUS_SYSTEM), None)


def becomes_unassigned(previous: dict[str, Any] | None, current: dict[str, Any] | None) -> bool:
    """Fires when a read Task starts waiting unassigned."""
    return _business_code(current) == "unassigned" and _business_code(previous) != "unassigned"


TOPICS = (
    topic(
        "task-created",
        "Task created",
        "Task",
        "create",
        description="An order was assigned: a new Task.",
    ),
    topic(
        "task-access-changed",
        "Task owner or status changed",
        "Task",
        "create",
        "update",
        description="A Task was made, re-assigned or changed status: who may read its order "
        "changes with it (intake grants the order to the Task's owner).",
        fires=owner_or_status_changes,
    ),
    topic(
        "task-unassigned",
        "Read waiting unassigned",
        "Task",
        "create",
        "update",
        description="Nobody eligible can read an order now: its read Task waits unassigned "
        "(statusReason says why). Operations and sla are alerted.",
        fires=becomes_unassigned,
    ),
    topic(
        "task-status-changed",
        "Task status changed",
        "Task",
        "update",
        description="A Task's status changed (accepted, rejected, completed, ...).",
        fires=status_changes,
    ),
)

REGISTRY = Registry(
    service="assignment",
    topics=TOPICS,
    operations=(ELIGIBILITY,),
    definitions=(
        ResourceDefinition(
            type="Practitioner",
            search_params=(
                token(
                    "identifier",
                    "identifier",
                    description="e.g. NPI",
                    definition=_SP + "Practitioner-identifier",
                ),
                string(
                    "name",
                    "name",
                    description="Any part of the name",
                    definition=_SP + "Practitioner-name",
                ),
                string(
                    "family",
                    "name.family",
                    description="Family name",
                    definition=_SP + "individual-family",
                ),
                token(
                    "active",
                    "active",
                    description="Whether the record is in use",
                    definition=_SP + "Practitioner-active",
                ),
            ),
            rules=PractitionerRules(),
            documentation="Radiologists, with their licences as qualifications.",
        ),
        ResourceDefinition(
            type="PractitionerRole",
            search_params=(
                reference(
                    "practitioner",
                    "practitioner",
                    targets=("Practitioner",),
                    description="The radiologist",
                    definition=_SP + "PractitionerRole-practitioner",
                ),
                reference(
                    "organization",
                    "organization",
                    targets=("Organization",),
                    description="Reading group or facility (privileges)",
                    definition=_SP + "PractitionerRole-organization",
                ),
                token(
                    "specialty",
                    "specialty",
                    description="Subspecialty",
                    definition=_SP + "PractitionerRole-specialty",
                ),
                token(
                    "role",
                    "code",
                    description="Role code (reading-role: radiologist = membership)",
                    definition=_SP + "PractitionerRole-role",
                ),
                token(
                    "active",
                    "active",
                    description="Whether the role is in force",
                    definition=_SP + "PractitionerRole-active",
                ),
                date(
                    "date",
                    "period",
                    description="The period the role is in force",
                    definition=_SP + "PractitionerRole-date",
                ),
            ),
            includes=("PractitionerRole:practitioner",),
            rules=PractitionerRoleRules(),
            documentation="Reading-group membership and facility privileges.",
        ),
        ResourceDefinition(
            type="OrganizationAffiliation",
            search_params=(
                reference(
                    "primary-organization",
                    "organization",
                    targets=("Organization",),
                    description="The client facility",
                    definition=_SP + "OrganizationAffiliation-primary-organization",
                ),
                reference(
                    "participating-organization",
                    "participatingOrganization",
                    targets=("Organization",),
                    description="Reading group or vendor",
                    definition=_SP + "OrganizationAffiliation-participating-organization",
                ),
                token(
                    "role",
                    "code",
                    description="Contract kind (contract-kind: primary | overflow)",
                    definition=_SP + "OrganizationAffiliation-role",
                ),
                token(
                    "active",
                    "active",
                    description="Whether the contract is in force",
                    definition=_SP + "OrganizationAffiliation-active",
                ),
                date(
                    "date",
                    "period",
                    description="The contract period",
                    definition=_SP + "OrganizationAffiliation-date",
                ),
            ),
            rules=AffiliationRules(),
            documentation="Contracts between client facilities and reading groups or vendors.",
        ),
        ResourceDefinition(
            type="Task",
            search_params=(
                token(
                    "identifier",
                    "identifier",
                    description="Task identifier",
                    definition=_SP + "Task-identifier",
                ),
                token(
                    "status", "status", description="Task status", definition=_SP + "Task-status"
                ),
                token(
                    "business-status",
                    "businessStatus",
                    description="Business status",
                    definition=_SP + "Task-business-status",
                ),
                token(
                    "priority",
                    "priority",
                    description="routine | urgent | asap | stat",
                    definition=_SP + "Task-priority",
                ),
                reference(
                    "owner",
                    "owner",
                    targets=("Practitioner", "PractitionerRole", "Organization"),
                    description="Who reads it",
                    definition=_SP + "Task-owner",
                ),
                reference(
                    "focus",
                    "focus",
                    targets=("ServiceRequest", "Communication"),
                    description="The order (a read) or the critical-result Communication "
                    "(a follow-up)",
                    definition=_SP + "Task-focus",
                ),
                reference(
                    "patient",
                    "for",
                    targets=("Patient",),
                    description="The patient",
                    definition=_SP + "Task-patient",
                ),
                date(
                    "authored-on",
                    "authoredOn",
                    description="When the task was created",
                    definition=_SP + "Task-authored-on",
                ),
                date(
                    "period",
                    "restriction.period",
                    description="Deadline window",
                    definition=_SP + "Task-period",
                ),
                date(
                    "deadline",
                    "restriction.period.end",
                    description="The read's deadline (restriction.period.end): a worklist "
                    "sorts by it, _sort=deadline",
                ),
            ),
            rules=TaskRules(),
            unique_keys=task_identifiers,
            documentation="Assignments of orders to radiologists or vendors, and the "
            "follow-ups of critical results (Task.code task-kind critical-result-follow-up).",
            operations=(REROUTE,),
        ),
    ),
)
