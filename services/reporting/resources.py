"""What reporting serves: reports (checked against their read Task), signatures and
critical-result communications (the critical loop comes later); docs/reporting.md."""

from __future__ import annotations

from services.reporting.rules import DiagnosticReportRules, ReportAttachedAccess
from services.reporting.signing_keys_operation import OPERATION as SIGNING_KEYS
from services.reporting.verify_operation import OPERATION as VERIFY
from shared.events.topics import status_becomes, topic
from shared.fhir.registry import Registry, ResourceDefinition, date, reference, token

_SP = "http://hl7.org/fhir/SearchParameter/"

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
)

REGISTRY = Registry(
    service="reporting",
    topics=TOPICS,
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
            ),
            rules=DiagnosticReportRules(),
            documentation="Radiology reports, accepted only from the read Task's owner or a "
            "permitted co-signer; final and later versions are signed (docs/reporting.md).",
            operations=(VERIFY,),
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
            rules=ReportAttachedAccess("basedOn", "about", "partOf"),
            documentation="Critical-result communications.",
        ),
    ),
)
