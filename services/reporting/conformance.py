"""The definitions of reporting's resources: the codes, extensions and operations of
reports, signatures and critical results (docs/fhir.md; the representation itself is
described in docs/reporting.md)."""

from __future__ import annotations

from services.reporting.critical import (
    ACKNOWLEDGE_BY_EXTENSION,
    ACR_CATEGORY_SYSTEM,
    ACTIONABLE_FINDING_EXTENSION,
    COMMUNICATION_KIND_SYSTEM,
    CRITICAL_RESULT,
    CRITICAL_RESULT_SYSTEM,
    ESCALATION,
    ESCALATION_LEVEL_EXTENSION,
    LADDER,
    REPORT_DELIVERY,
    UNACKNOWLEDGED,
)
from services.reporting.delivery import REPORT_DELIVERY_SYSTEM
from services.reporting.hl7v2 import OPERATION as HL7V2
from services.reporting.signing_keys_operation import OPERATION as SIGNING_KEYS_OPERATION
from services.reporting.verify_operation import OPERATION as VERIFY_OPERATION
from shared.fhir.conformance import (
    CodeSystemDefinition,
    Concept,
    Definition,
    ExtensionDefinition,
    NamingSystemDefinition,
    OperationDefinition,
    OperationParameter,
    Value,
)
from shared.follow_up import ACKNOWLEDGED, FOLLOW_UP_STATUS_SYSTEM


def _out(name: str, type_: str, documentation: str, *, min_: int = 0) -> OperationParameter:
    return OperationParameter(name, "out", documentation, type=type_, min=min_)


VERIFY = OperationDefinition(
    url=VERIFY_OPERATION.definition,
    title="Verify a report's signature",
    description=(
        "Whether the signature of one report version still holds: the Provenance signing "
        "exactly that version (target DiagnosticReport/<id>/_history/<vid>) is found and its "
        "JWS (detached payload, ES256) is checked against the version's canonical JSON "
        "(http://hl7.org/fhir/canonicalization/json#static) with the signer's published key. "
        "On the instance it checks the current version; on DiagnosticReport/<id>/_history/"
        "<vid>/$verify, that version. A version changed after signing no longer verifies."
    ),
    code=VERIFY_OPERATION.name,
    resources=("DiagnosticReport",),
    instance=True,
    parameters=(
        _out("valid", "boolean", "Whether the signature holds for the version", min_=1),
        _out(
            "report",
            "Reference",
            "The version checked (DiagnosticReport/<id>/_history/<vid>)",
            min_=1,
        ),
        _out("provenance", "Provenance", "The signature checked, when one is recorded"),
        _out("signer", "Reference", "Who signed (Practitioner)"),
        _out("kid", "string", "The key the signature names (RFC 7638 thumbprint)"),
        _out("signed-at", "instant", "When it was signed"),
        _out("reason", "string", "Why the signature does not hold"),
    ),
)

SIGNING_KEYS = OperationDefinition(
    url=SIGNING_KEYS_OPERATION.definition,
    title="Report signing keys",
    description=(
        "The radiologists' public signing keys as a JSON Web Key Set (application/"
        "jwk-set+json; each key with kid = its RFC 7638 thumbprint, alg ES256 and sub = the "
        "signing Practitioner), for verifying report signatures without the platform."
    ),
    code=SIGNING_KEYS_OPERATION.name,
    resources=("Provenance",),
    type=True,
    parameters=(
        _out("return", "Binary", "The JWKS (returned as is, not wrapped in Parameters)", min_=1),
    ),
)


ACR_ACTIONABLE_FINDING = CodeSystemDefinition(
    url=ACR_CATEGORY_SYSTEM,
    title="ACR actionable finding category",
    description="The categories of the ACR Actionable Reporting Work Group (Larson et al., "
    "JACR 2014): how soon a finding must reach the ordering provider.",
    concepts=(
        Concept(
            "1",
            "Category 1",
            "Could lead to death or significant morbidity if not "
            "promptly addressed: communicate within minutes.",
        ),
        Concept(
            "2",
            "Category 2",
            "Clinically significant, needs specific treatment but less "
            "urgently: communicate within hours.",
        ),
        Concept(
            "3",
            "Category 3",
            "Significant but not immediately threatening, e.g. an "
            "incidental mass: communicate within days.",
        ),
    ),
)

ACTIONABLE_FINDING = ExtensionDefinition(
    url=ACTIONABLE_FINDING_EXTENSION,
    title="Actionable finding",
    description="The report (a version preliminary or later) carries a critical result of "
    "this ACR category: it opens a critical-result loop. On the loop's Communications it "
    "repeats the category.",
    contexts=("DiagnosticReport", "Communication"),
    value=Value(("Coding",)),
)

COMMUNICATION_KIND = CodeSystemDefinition(
    url=COMMUNICATION_KIND_SYSTEM,
    title="Communication kind",
    description="What a platform Communication is (Communication.category, beside HL7's "
    "communication-category alert).",
    concepts=(
        Concept(
            CRITICAL_RESULT,
            "Critical result",
            "Opens a loop: the critical result sent "
            "to the ordering provider; acknowledged by setting it completed with received.",
        ),
        Concept(
            ESCALATION,
            "Critical-result escalation",
            "A later step of a loop not "
            "acknowledged in time, to the next recipient of the ladder (partOf the opening).",
        ),
        Concept(
            REPORT_DELIVERY,
            "Report delivered",
            "Not a critical result: the record that a final (or amended) report version "
            "reached the ordering facility's EHR through its subscription (sent = when).",
        ),
    ),
)

REPORT_DELIVERY_RECORD = NamingSystemDefinition(
    value=REPORT_DELIVERY_SYSTEM,
    title="Report delivery",
    description="The delivery of one report version to its ordering facility: "
    "<report id>/<version>.",
    usage="Communication.identifier; kept unique, so a re-delivered notification records "
    "nothing new.",
)

CRITICAL_RESULT_STEP = NamingSystemDefinition(
    value=CRITICAL_RESULT_SYSTEM,
    title="Critical-result step",
    description="One step of a critical-result loop: <report id>/<ACR category>/<level> "
    "(level 0 opens the loop).",
    usage="Communication.identifier; kept unique, so no step is made twice.",
)

ESCALATION_LEVEL = ExtensionDefinition(
    url=ESCALATION_LEVEL_EXTENSION,
    title="Escalation level",
    description="The step of the ladder a critical-result Communication is: 0 the ordering "
    "provider (else facility), 1 the ordering facility, 2 operations.",
    contexts=("Communication",),
    value=Value(("unsignedInt",)),
)

ACKNOWLEDGE_BY = ExtensionDefinition(
    url=ACKNOWLEDGE_BY_EXTENSION,
    title="Acknowledge by",
    description="When this step of a critical-result loop must have been acknowledged; "
    "past it, the loop escalates one step.",
    contexts=("Communication",),
    value=Value(("dateTime",)),
)

CRITICAL_RESULT_STATUS = CodeSystemDefinition(
    url=FOLLOW_UP_STATUS_SYSTEM,
    title="Critical-result follow-up status",
    description="Where a critical result's follow-up Task stands (Task.businessStatus).",
    concepts=(
        *(Concept(code, code.replace("-", " ").capitalize(), text) for code, text in LADDER),
        Concept(UNACKNOWLEDGED[0], "Unacknowledged", UNACKNOWLEDGED[1]),
        Concept(
            ACKNOWLEDGED,
            "Acknowledged",
            "The critical result was acknowledged (Task completed, output the Communication).",
        ),
    ),
)

HL7V2_OPERATION = OperationDefinition(
    url=HL7V2.definition,
    title="Report as HL7 v2.5.1 ORU^R01",
    description="A final (or amended, corrected, appended) report version as an HL7 v2.5.1 "
    "ORU^R01 message (x-application/hl7-v2+er7): MSH, PID, ORC, OBR (result status F or C) "
    "and OBX for the text, the conclusion (abnormal flag AA or A when critical) and its "
    "codes. GET on the report or one of its versions; a preliminary report is refused (422).",
    code="hl7v2",
    instance=True,
    resources=("DiagnosticReport",),
    parameters=(
        OperationParameter(
            "return", "out", "The ORU^R01 message, ER7-encoded", type="Binary", min=1
        ),
    ),
)

DEFINITIONS: tuple[Definition, ...] = (
    VERIFY,
    SIGNING_KEYS,
    ACR_ACTIONABLE_FINDING,
    ACTIONABLE_FINDING,
    COMMUNICATION_KIND,
    CRITICAL_RESULT_STEP,
    REPORT_DELIVERY_RECORD,
    ESCALATION_LEVEL,
    ACKNOWLEDGE_BY,
    CRITICAL_RESULT_STATUS,
    HL7V2_OPERATION,
)
