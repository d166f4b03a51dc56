"""The follow-up Task of a critical result: made by reporting, kept by assignment (so both
read its kind and identifier from here; docs/reporting.md, "Critical results")."""

from __future__ import annotations

from typing import Any

from shared.fhir.canonical import CANONICAL_BASE

# The platform's kinds of Task (Task.code), besides HL7's `fulfill` of a read.
TASK_KIND_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/task-kind"
CRITICAL_FOLLOW_UP = "critical-result-follow-up"
# The follow-up Task of a critical result: the value is the loop's Communication id.
FOLLOW_UP_TASK_SYSTEM = f"{CANONICAL_BASE}/NamingSystem/critical-follow-up"


def is_follow_up(task: dict[str, Any]) -> bool:
    """Whether `task` is a critical result's follow-up rather than a read."""
    codings = (task.get("code") or {}).get("coding") or []
    return any(
        c.get("system") == TASK_KIND_SYSTEM and c.get("code") == CRITICAL_FOLLOW_UP for c in codings
    )
