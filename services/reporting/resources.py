"""What reporting serves: reports (checked against their read Task), signatures,
critical-result communications (services.reporting.critical) and the records of reports
delivered to the EHR (services.reporting.delivery); docs/reporting.md."""

from __future__ import annotations

from typing import Any

from services.reporting.acknowledgement import CommunicationRules
from services.reporting.critical import (
    ACTIONABLE_FINDING_EXTENSION,
    CRITICAL_RESULT,
    CRITICAL_RESULT_SYSTEM,
    ESCALATION,
    REPORT_DELIVERY,
    kind_of,
)
from services.reporting.delivery import delivery_identifiers, record_deliveries
from services.reporting.hl7v2 import OPERATION as HL7V2
from services.reporting.rules import DiagnosticReportRules, ReportAttachedAccess
from services.reporting.signing_keys_operation import OPERATION as SIGNING_KEYS
from services.reporting.verify_operation import OPERATION as VERIFY
from shared.events.topics import FiresTest, Resource, status_becomes, topic
from shared.fhir.registry import Registry, ResourceDefinition, date, reference, token

_SP = "http://hl7.org/fhir/SearchParameter/"


def _made(kind: str) -> FiresTest:
    """Fires for a new Communication of `kind` (services.reporting.critical)."""

    def fires(previous: Resource | None, current: Resource | None) -> bool:
        return previous is None and current is not None and kind_of(current) == kind

    return fires


def acknowledged(previous: Resource | None, current: Resource | None) -> bool:
    """Fires when a loop's opening Communication becomes completed (acknowledged)."""
    return (
        current is not None
        and kind_of(current) == CRITICAL_RESULT
        and status_becomes("completed")(previous, current)
    )


def communication_identifiers(communication: dict[str, Any]) -> list[tuple[str, str]]:
    """The unique keys of a Communication: one per step of a critical-result loop, one per
    delivered report version."""
    critical = [
        (CRITICAL_RESULT_SYSTEM, i["value"])
        for i in communication.get("identifier") or []
        if i.get("system") == CRITICAL_RESULT_SYSTEM and i.get("value")
    ]
    return critical + delivery_identifiers(communication)


TOPICS = (
    topic(
        "report-preliminary",
        "Preliminary report",
        "DiagnosticReport",
        "create",
        "update",
        description="A report became preliminary.",
        fires=status_becomes("preliminary"),
    ),
    topic(
        "report-final",
        "Final report",
        "DiagnosticReport",
        "create",
        "update",
        description="A report became final.",
        fires=status_becomes("final"),
    ),
    topic(
        "report-amended",
        "Report amended",
        "DiagnosticReport",
        "update",
        description="A report was amended, corrected or appended.",
        fires=status_becomes("amended", "corrected", "appended"),
    ),
    topic(
        "critical-result",
        "Critical result sent",
        "Communication",
        "create",
        description="A report flagged with an actionable finding opened its loop: the "
        "critical result was sent to the ordering provider (else the ordering facility).",
        fires=_made(CRITICAL_RESULT),
    ),
    topic(
        "critical-result-acknowledged",
        "Critical result acknowledged",
        "Communication",
        "update",
        description="The ordering facility (or operations) acknowledged a critical result: "
        "the loop is closed.",
        fires=acknowledged,
    ),
    topic(
        "critical-result-escalated",
        "Critical result escalated",
        "Communication",
        "create",
        description="A critical result was not acknowledged in time: it went one step up "
        "the ladder (the ordering facility, then operations).",
        fires=_made(ESCALATION),
    ),
    topic(
        "report-delivered",
        "Report delivered",
        "Communication",
        "create",
        description="A final (or amended) report version reached the ordering facility: "
        "its notification was accepted by the facility's own subscription (Communication "
        "category report-delivery, sent = when).",
        fires=_made(REPORT_DELIVERY),
    ),
)

REGISTRY = Registry(
    service="reporting",
    topics=TOPICS,
    delivery_receipt=record_deliveries,
    definitions=(
        ResourceDefinition(
            type="DiagnosticReport",
            search_params=(
                token(
                    "identifier",
                    "identifier",
                    description="Report identifier",
                    definition=_SP + "clinical-identifier",
                ),
                token(
                    "status",
                    "status",
                    description="preliminary | final | amended ...",
                    definition=_SP + "DiagnosticReport-status",
                ),
                reference(
                    "patient",
                    "subject",
                    targets=("Patient",),
                    description="Patient",
                    definition=_SP + "clinical-patient",
                ),
                reference(
                    "based-on",
                    "basedOn",
                    targets=("ServiceRequest",),
                    description="The order",
                    definition=_SP + "DiagnosticReport-based-on",
                ),
                token(
                    "category",
                    "category",
                    description="e.g. LOINC LP29684-5",
                    definition=_SP + "DiagnosticReport-category",
                ),
                token("code", "code", description="Report code", definition=_SP + "clinical-code"),
                date(
                    "issued",
                    "issued",
                    description="When released",
                    definition=_SP + "DiagnosticReport-issued",
                ),
                reference(
                    "results-interpreter",
                    "resultsInterpreter",
                    targets=("Practitioner", "PractitionerRole"),
                    description="The reading radiologist",
                    definition=_SP + "DiagnosticReport-results-interpreter",
                ),
                token(
                    "actionable-finding",
                    f"extension({ACTIONABLE_FINDING_EXTENSION}).valueCoding",
                    description="The ACR actionable-finding category the report is flagged "
                    "with (acr-actionable-finding 1 | 2 | 3)",
                ),
            ),
            rules=DiagnosticReportRules(),
            documentation="Radiology reports, accepted only from the read Task's owner or a "
            "permitted co-signer; final and later versions are signed (docs/reporting.md).",
            operations=(VERIFY, HL7V2),
        ),
        ResourceDefinition(
            type="Provenance",
            search_params=(
                reference(
                    "target",
                    "target",
                    targets=(),
                    description="What was signed",
                    definition=_SP + "Provenance-target",
                ),
                reference(
                    "agent",
                    "agent.who",
                    targets=(),
                    description="Who signed",
                    definition=_SP + "Provenance-agent",
                ),
                date(
                    "recorded",
                    "recorded",
                    description="When",
                    definition=_SP + "Provenance-recorded",
                ),
            ),
            rules=ReportAttachedAccess("target"),
            documentation="Report signatures, made by the service (read-only).",
            # Only the service signs: a Provenance is never written through the API.
            interactions=frozenset(
                {"read", "vread", "search-type", "history-instance", "history-type"}
            ),
            operations=(SIGNING_KEYS,),
        ),
        ResourceDefinition(
            type="Communication",
            search_params=(
                token(
                    "identifier",
                    "identifier",
                    description="e.g. a critical-result step",
                    definition=_SP + "Communication-identifier",
                ),
                reference(
                    "part-of",
                    "partOf",
                    targets=("Communication",),
                    description="The loop an escalation step belongs to",
                    definition=_SP + "Communication-part-of",
                ),
                reference(
                    "based-on",
                    "basedOn",
                    targets=(),
                    description="What it is about",
                    definition=_SP + "Communication-based-on",
                ),
                reference(
                    "subject",
                    "subject",
                    targets=("Patient",),
                    description="Patient",
                    definition=_SP + "Communication-subject",
                ),
                token(
                    "status",
                    "status",
                    description="Communication status",
                    definition=_SP + "Communication-status",
                ),
                token(
                    "category",
                    "category",
                    description="e.g. critical result",
                    definition=_SP + "Communication-category",
                ),
                date(
                    "sent", "sent", description="When sent", definition=_SP + "Communication-sent"
                ),
                reference(
                    "recipient",
                    "recipient",
                    targets=(),
                    description="Who was told",
                    definition=_SP + "Communication-recipient",
                ),
            ),
            rules=CommunicationRules(),
            unique_keys=communication_identifiers,
            documentation="Critical-result communications: written by the platform, "
            "acknowledged by the ordering facility; records of reports delivered to it.",
        ),
    ),
)
