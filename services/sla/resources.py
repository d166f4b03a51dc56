"""What sla serves: breaches (DetectedIssue, with their topics), compliance reports
(MeasureReport), the `$turnaround`, `$compliance` and `$open-orders` operations over the
timelines it keeps, and -- to
auditors, read and search only -- the AuditEvents of the platform's shared audit log
(operations: shared/audit)."""

from __future__ import annotations

from typing import Any

from services.sla.breaches import SLA_EVENT_SYSTEM, breach_identifiers
from services.sla.reports import COMPLIANCE, OPEN_ORDERS
from services.sla.turnaround import OPERATION as TURNAROUND
from shared.audit.resource import AUDIT_EVENT
from shared.events.topics import FiresTest, topic
from shared.fhir.registry import Registry, ResourceDefinition, date, reference, token

_SP = "http://hl7.org/fhir/SearchParameter/"


def _issue_code(code: str) -> FiresTest:
    def fires(_previous: dict[str, Any] | None, current: dict[str, Any] | None) -> bool:
        codings = ((current or {}).get("code") or {}).get("coding") or []
        return any(c.get("system") == SLA_EVENT_SYSTEM and c.get("code") == code for c in codings)

    return fires


TOPICS = (
    topic(
        "sla-breach-predicted",
        "SLA breach predicted",
        "DetectedIssue",
        "create",
        description="An order is predicted to miss its turnaround deadline.",
        fires=_issue_code("breach-predicted"),
    ),
    topic(
        "sla-breached",
        "SLA breached",
        "DetectedIssue",
        "create",
        description="An order's deadline passed before its clock stopped (or its final "
        "report came after it).",
        fires=_issue_code("breached"),
    ),
    topic(
        "sla-escalated",
        "SLA escalated to operations",
        "DetectedIssue",
        "create",
        description="An order is still predicted to miss its deadline late in its budget "
        "(or no reader would finish it sooner): operations must act.",
        fires=_issue_code("escalated"),
    ),
    topic(
        "sla-unassigned",
        "Read waiting unassigned",
        "DetectedIssue",
        "create",
        description="Nobody eligible can read an order now: it waits in the unassigned queue.",
        fires=_issue_code("unassigned"),
    ),
)

REGISTRY = Registry(
    service="sla",
    topics=TOPICS,
    operations=(TURNAROUND, COMPLIANCE, OPEN_ORDERS),
    definitions=(
        ResourceDefinition(
            type="DetectedIssue",
            search_params=(
                token(
                    "identifier",
                    "identifier",
                    description="Issue identifier",
                    definition=_SP + "clinical-identifier",
                ),
                token(
                    "code",
                    "code",
                    description="breach-predicted | breached | escalated | unassigned ("
                    + SLA_EVENT_SYSTEM
                    + ")",
                    definition=_SP + "DetectedIssue-code",
                ),
                reference(
                    "implicated",
                    "implicated",
                    targets=("ServiceRequest",),
                    description="The order concerned",
                    definition=_SP + "DetectedIssue-implicated",
                ),
                date(
                    "identified",
                    "identifiedDateTime",
                    description="When it was raised",
                    definition=_SP + "DetectedIssue-identified",
                ),
            ),
            unique_keys=breach_identifiers,
            documentation="SLA breaches, predicted and actual, per order.",
        ),
        ResourceDefinition(
            type="MeasureReport",
            search_params=(
                token(
                    "identifier",
                    "identifier",
                    description="Report identifier",
                    definition=_SP + "MeasureReport-identifier",
                ),
                token(
                    "status",
                    "status",
                    description="complete | pending | error",
                    definition=_SP + "MeasureReport-status",
                ),
                reference(
                    "subject",
                    "subject",
                    targets=(),
                    description="What was measured",
                    definition=_SP + "MeasureReport-subject",
                ),
                date(
                    "period",
                    "period",
                    description="The period measured",
                    definition=_SP + "MeasureReport-period",
                ),
            ),
            documentation="Turnaround compliance reports.",
        ),
        AUDIT_EVENT,
    ),
)
