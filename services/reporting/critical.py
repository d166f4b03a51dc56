"""Critical results: the closed loop a report flagged with an actionable finding opens
(docs/reporting.md, "Critical results").

A report version (preliminary or later) carrying the `actionable-finding` extension (ACR
Actionable Reporting category 1, 2 or 3) opens one loop: a Communication from the
radiologist to the ordering provider (else the ordering facility) with the conclusion, and
a follow-up Task in assignment. Each Communication of a loop is one step of the escalation
ladder -- 0: the ordering provider, 1: the ordering facility, 2: the platform's operations
-- and says by when it must be acknowledged. This module says what those resources are;
services.reporting.critical_sweep makes them, services.reporting.acknowledgement checks
the facility's acknowledgement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.references import referenced_id
from shared.fhir.service import format_instant
from shared.follow_up import (
    CRITICAL_FOLLOW_UP,
    TASK_KIND_SYSTEM,
    follow_up_identifier,
    follow_up_status,
)
from shared.orders import ORDERING_FACILITY_EXTENSION, ordering_facility

ACTIONABLE_FINDING_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/actionable-finding"
ACR_CATEGORY_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/acr-actionable-finding"
CATEGORIES = (1, 2, 3)
# Communication.category: what a platform Communication is.
COMMUNICATION_KIND_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/communication-kind"
CRITICAL_RESULT = "critical-result"
ESCALATION = "critical-result-escalation"
# Not a critical result: the record that a report version reached the ordering facility's
# EHR (services.reporting.delivery).
REPORT_DELIVERY = "report-delivery"
HL7_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/communication-category"
# One identifier per step: <report id>/<category>/<level>, kept unique (one step per level
# whatever the replicas do).
CRITICAL_RESULT_SYSTEM = f"{CANONICAL_BASE}/NamingSystem/critical-result"
ESCALATION_LEVEL_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/escalation-level"
ACKNOWLEDGE_BY_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/acknowledge-by"
# Report statuses that stand for a reading (a cancelled or withdrawn report opens nothing).
READ_STATUSES = ("preliminary", "final", "amended", "corrected", "appended")
# The ladder: who is told at each level, and the follow-up Task's businessStatus then.
LADDER = (
    ("notified", "Critical result sent to the ordering provider; awaiting acknowledgement"),
    ("escalated-facility", "Not acknowledged in time: escalated to the ordering facility"),
    ("escalated-operations", "Not acknowledged in time: escalated to operations"),
)
UNACKNOWLEDGED = ("unacknowledged", "Not acknowledged at the last step of the ladder")
_PRIORITY = {1: "stat", 2: "urgent", 3: "routine"}


def token_value(system: str, code: str = "") -> str:
    """A token search value `system|code` (`system|`: any code of the system)."""
    return "|".join((system, code))


def finding_category(report: dict[str, Any]) -> int | None:
    """The ACR category (1 most urgent) a report is flagged with; None when not flagged."""
    for extension in report.get("extension") or []:
        if extension.get("url") != ACTIONABLE_FINDING_EXTENSION:
            continue
        coding = extension.get("valueCoding") or {}
        if coding.get("system") == ACR_CATEGORY_SYSTEM and coding.get("code") in ("1", "2", "3"):
            return int(coding["code"])
    return None


def actionable_finding(category: int) -> dict[str, Any]:
    """The extension flagging a report (or a Communication) with an ACR category."""
    return {
        "url": ACTIONABLE_FINDING_EXTENSION,
        "valueCoding": {"system": ACR_CATEGORY_SYSTEM, "code": str(category)},
    }


def kind_of(communication: dict[str, Any]) -> str | None:
    """CRITICAL_RESULT (a loop's opening), ESCALATION (a later step), REPORT_DELIVERY (a
    report reached the EHR), or None (not a platform Communication)."""
    for concept in communication.get("category") or []:
        for coding in concept.get("coding") or []:
            if coding.get("system") == COMMUNICATION_KIND_SYSTEM:
                code = coding.get("code")
                if code in (CRITICAL_RESULT, ESCALATION, REPORT_DELIVERY):
                    return str(code)
    return None


def _extension_value(resource: dict[str, Any], url: str, key: str) -> Any:
    for extension in resource.get("extension") or []:
        if extension.get("url") == url:
            return extension.get(key)
    return None


def level_of(communication: dict[str, Any]) -> int:
    return int(_extension_value(communication, ESCALATION_LEVEL_EXTENSION, "valueUnsignedInt") or 0)


def acknowledge_by(communication: dict[str, Any]) -> datetime | None:
    value = _extension_value(communication, ACKNOWLEDGE_BY_EXTENSION, "valueDateTime")
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def facility_of(communication: dict[str, Any]) -> dict[str, Any] | None:
    return _extension_value(communication, ORDERING_FACILITY_EXTENSION, "valueReference")


def category_of(communication: dict[str, Any]) -> int | None:
    return finding_category(communication)


def step_key(report_id: str, category: int, level: int) -> str:
    return f"{report_id}/{category}/{level}"


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a loop: who is told, at which level, and by when they must answer."""

    level: int
    recipient: dict[str, Any]
    sent: datetime
    due: datetime


def ordering_provider(order: dict[str, Any]) -> dict[str, Any] | None:
    """The ServiceRequest's requester when it is a person (Practitioner or role)."""
    requester = order.get("requester") or {}
    if referenced_id(requester, "Practitioner") or referenced_id(requester, "PractitionerRole"):
        return {"reference": str(requester["reference"])}
    return None


def first_recipient(order: dict[str, Any]) -> dict[str, Any] | None:
    """Who a loop tells first: the ordering provider, else the ordering facility."""
    return ordering_provider(order) or ordering_facility(order)


def next_recipient(
    level: int, opening: dict[str, Any], operations: str | None
) -> dict[str, Any] | None:
    """Who the step at `level` (1 or more) tells; None past the end of the ladder."""
    if level == 1:
        return facility_of(opening)
    if level == 2 and operations:
        return {"reference": operations}
    return None


def _communication(
    *,
    kind: str,
    report: dict[str, Any],
    category: int,
    step: Step,
    facility: dict[str, Any] | None,
    text: str,
) -> dict[str, Any]:
    extensions = [
        actionable_finding(category),
        {"url": ESCALATION_LEVEL_EXTENSION, "valueUnsignedInt": step.level},
        {"url": ACKNOWLEDGE_BY_EXTENSION, "valueDateTime": format_instant(step.due)},
    ]
    if facility:
        extensions.append({"url": ORDERING_FACILITY_EXTENSION, "valueReference": facility})
    version = (report.get("meta") or {}).get("versionId")
    about = f"DiagnosticReport/{report['id']}" + (f"/_history/{version}" if version else "")
    communication: dict[str, Any] = {
        "resourceType": "Communication",
        "extension": extensions,
        "identifier": [
            {
                "system": CRITICAL_RESULT_SYSTEM,
                "value": step_key(report["id"], category, step.level),
            }
        ],
        "basedOn": [{"reference": f"DiagnosticReport/{report['id']}"}],
        "status": "in-progress",
        "category": [
            {"coding": [{"system": COMMUNICATION_KIND_SYSTEM, "code": kind}]},
            {"coding": [{"system": HL7_CATEGORY_SYSTEM, "code": "alert"}]},
        ],
        "priority": _PRIORITY[category],
        "about": [{"reference": about}],
        "sent": format_instant(step.sent),
        "recipient": [step.recipient],
        "payload": [{"contentString": text}],
    }
    if report.get("subject"):
        communication["subject"] = report["subject"]
    interpreters = report.get("resultsInterpreter") or []
    if interpreters:
        communication["sender"] = {"reference": interpreters[0]["reference"]}
    return communication


def opening(
    report: dict[str, Any], order: dict[str, Any], category: int, step: Step
) -> dict[str, Any]:
    """The Communication opening a loop: the critical result, to the first recipient."""
    conclusion = report.get("conclusion") or "See the report."
    text = f"Critical result (ACR category {category}): {conclusion}"
    return _communication(
        kind=CRITICAL_RESULT,
        report=report,
        category=category,
        step=step,
        facility=ordering_facility(order),
        text=text,
    )


def escalation(opening_step: dict[str, Any], step: Step, *, overdue: datetime) -> dict[str, Any]:
    """A later step: the same result to the next recipient, part of the opening one. It
    is complete once sent: the acknowledgement it asks for is of the opening one."""
    report_id = str(referenced_id(opening_step["basedOn"][0], "DiagnosticReport"))
    report = {
        "id": report_id,
        "subject": opening_step.get("subject"),
        "resultsInterpreter": [opening_step["sender"]] if opening_step.get("sender") else [],
    }
    payload = (opening_step.get("payload") or [{}])[0].get("contentString", "")
    text = (
        f"Escalation {step.level}: the critical result sent {opening_step.get('sent')} was "
        f"not acknowledged by {format_instant(overdue)}. {payload}"
    )
    step_resource = _communication(
        kind=ESCALATION,
        report=report,
        category=int(category_of(opening_step) or 1),
        step=step,
        facility=facility_of(opening_step),
        text=text,
    )
    step_resource["about"] = opening_step.get("about", [])
    step_resource["partOf"] = [{"reference": f"Communication/{opening_step['id']}"}]
    step_resource["status"] = "completed"
    return step_resource


def follow_up_task(opening_step: dict[str, Any], step: Step) -> dict[str, Any]:
    """The loop's follow-up Task at assignment as `step` leaves it: owner = who must act
    now (the ordering facility, then operations), deadline = the step's due time."""
    category = int(category_of(opening_step) or 1)
    code, text = LADDER[min(step.level, len(LADDER) - 1)]
    facility = facility_of(opening_step)
    owner = step.recipient if step.level >= 2 else facility or step.recipient
    task: dict[str, Any] = {
        "resourceType": "Task",
        "identifier": [follow_up_identifier(opening_step["id"])],
        "status": "requested",
        "intent": "order",
        "priority": _PRIORITY[category],
        "code": {"coding": [{"system": TASK_KIND_SYSTEM, "code": CRITICAL_FOLLOW_UP}]},
        "description": "Acknowledge the critical result",
        "focus": {"reference": f"Communication/{opening_step['id']}"},
        "businessStatus": follow_up_status(code, text),
        "owner": owner,
        "restriction": {"period": {"end": format_instant(step.due)}},
        "reasonReference": opening_step["basedOn"][0],
    }
    if opening_step.get("subject"):
        task["for"] = opening_step["subject"]
    if opening_step.get("sender"):
        task["requester"] = opening_step["sender"]
    if facility:
        task["extension"] = [{"url": ORDERING_FACILITY_EXTENSION, "valueReference": facility}]
    return task
