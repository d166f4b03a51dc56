"""The follow-up Task of a critical result (docs/reporting.md, "Critical results").

Reporting makes it, as the platform, when a report flagged critical opens its loop, and
keeps it in step: `owner` is whoever must acknowledge now, `restriction.period.end` the
acknowledgement deadline, `businessStatus` the escalation level; it is completed when the
result is acknowledged. It is not a read: it carries no read-task identifier, its focus is
the Communication (kept by reporting), and the engine, read_work and the sweeper never see
it. Only the platform writes it; the ordering facility and the owner read it.
"""

from __future__ import annotations

from typing import Any

from services.assignment.tasks import read_task_identifiers
from shared.auth import Principal
from shared.fhir.outcomes import business_rule, forbidden
from shared.fhir.references import referenced_id
from shared.follow_up import FOLLOW_UP_TASK_SYSTEM, is_follow_up


def involves_follow_up(resource: dict[str, Any], previous: dict[str, Any] | None) -> bool:
    """Whether a write makes, changes or would turn a Task into a follow-up."""
    return is_follow_up(resource) or (previous is not None and is_follow_up(previous))


def check_follow_up(
    resource: dict[str, Any], previous: dict[str, Any] | None, principal: Principal
) -> None:
    """Refuse a follow-up write by anyone but the platform (403), and one that is not
    a follow-up of a Communication, or changes a Task's kind (422)."""
    if principal.role != "system":
        raise forbidden("Only the platform writes the follow-up Task of a critical result")
    if previous is not None and is_follow_up(previous) != is_follow_up(resource):
        raise business_rule("A Task does not change its kind (Task.code)", "Task.code")
    if read_task_identifiers(resource):
        raise business_rule(
            "A follow-up Task is not a read: no read-task identifier", "Task.identifier"
        )
    if not any(i.get("system") == FOLLOW_UP_TASK_SYSTEM for i in resource.get("identifier") or []):
        raise business_rule(
            f"A follow-up Task is identified in {FOLLOW_UP_TASK_SYSTEM}", "Task.identifier"
        )
    if not referenced_id(resource.get("focus"), "Communication"):
        raise business_rule(
            "A follow-up Task's focus is the critical-result Communication", "Task.focus"
        )
