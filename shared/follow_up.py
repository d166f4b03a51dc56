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


# Where a follow-up stands (Task.businessStatus): the escalation level, or closed.
FOLLOW_UP_STATUS_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/critical-result-status"
ACKNOWLEDGED = "acknowledged"


def follow_up_identifier(communication_id: str) -> dict[str, str]:
    """The follow-up Task's identifier: one Task per loop (its opening Communication)."""
    return {"system": FOLLOW_UP_TASK_SYSTEM, "value": communication_id}


def follow_up_status(code: str, text: str) -> dict[str, Any]:
    return {"coding": [{"system": FOLLOW_UP_STATUS_SYSTEM, "code": code}], "text": text}


def acknowledged_follow_up(task: dict[str, Any], communication_id: str) -> dict[str, Any]:
    """`task` closed because its critical result was acknowledged."""
    return task | {
        "status": "completed",
        "businessStatus": follow_up_status(ACKNOWLEDGED, "The critical result was acknowledged"),
        "output": [
            {
                "type": {"text": "Acknowledgement"},
                "valueReference": {"reference": f"Communication/{communication_id}"},
            }
        ],
    }
