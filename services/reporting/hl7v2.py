"""`GET [base]/DiagnosticReport/{id}/$hl7v2` (and `.../_history/{vid}/$hl7v2`): a signed
report as an HL7 v2.5.1 ORU^R01 message, for EHRs that take results that way
(docs/reporting.md, "HL7 v2"). HL7 v2.5.1 chapter 7 (Observation Reporting) defines it.

Only a final (or later: amended, corrected, appended) report is rendered; a preliminary
one is refused (422): what an EHR files from an ORU is the signed result. The message is
built with hl7apy and validated against the 2.5.1 structure before it is sent:

    MSH  sending application/facility (settings), receiving application (settings) and
         facility (the ordering facility's NPI, else its id), control id, 2.5.1
    PID  the patient from intake: identifiers (MRN as type MR), name, birth date, sex
    ORC  RE; placer and filler order numbers (the order's placer identifier, accession)
    OBR  the same numbers; universal service id = the report code; observation time;
         result status F (final) or C (amended, corrected, appended); the interpreter
    OBX  TX lines of the report text, TX lines of the conclusion (LOINC 18782-3 and
         19005-8), CWE per conclusion code; a critical result flags the conclusion
         AA (ACR category 1) or A (2, 3)
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from datetime import datetime
from typing import Any
from uuid import uuid4

from fastapi import APIRouter, Request, Response
from hl7apy.consts import VALIDATION_LEVEL  # type: ignore[import-untyped]
from hl7apy.core import Group, Message  # type: ignore[import-untyped]

from services.reporting.critical import finding_category
from services.reporting.settings import ReportingSettings
from shared.audit.trail import accessed, note
from shared.auth import CurrentPrincipal
from shared.fhir.api import fhir_session
from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.outcomes import business_rule
from shared.fhir.references import referenced_id
from shared.fhir.registry import Operation
from shared.fhir.service import now_utc
from shared.orders import ordering_facility

OPERATION = Operation(
    name="hl7v2",
    definition=f"{CANONICAL_BASE}/OperationDefinition/DiagnosticReport-hl7v2",
    documentation="A final (or later) report version as an HL7 v2.5.1 ORU^R01 message: "
    "DiagnosticReport/{id}/$hl7v2",
)
HL7_V2_ER7 = "x-application/hl7-v2+er7"  # FHIR's media type for an ER7-encoded v2 message
RESULT_STATUS = {"final": "F", "amended": "C", "corrected": "C", "appended": "C"}
NARRATIVE = "18782-3^Radiology Study observation (narrative)^LN"
IMPRESSION = "19005-8^Radiology Imaging study [Impression] (narrative)^LN"
_CODING_SYSTEMS = {
    "http://loinc.org": "LN",
    "http://snomed.info/sct": "SCT",
    "http://www.ama-assn.org/go/cpt": "C4",
}
_SEX = {"male": "M", "female": "F", "other": "O", "unknown": "U"}
_BREAK = re.compile(r"<br\s*/?>|</p>|</div>|</li>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))


def escape(text: str) -> str:
    """`text` as an ER7 field value (HL7 v2.5.1 2.7: escape sequences)."""
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return text


def unescape(text: str) -> str:
    for raw, escaped in reversed(_ESCAPES):
        text = text.replace(escaped, raw)
    return text


def hl7_time(value: str | datetime | None) -> str:
    """An HL7 DTM (YYYYMMDDHHMMSS+ZZZZ) from a FHIR dateTime or a datetime."""
    if value is None:
        return ""
    if isinstance(value, str):
        if "T" not in value:
            return value.replace("-", "")
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.strftime("%Y%m%d%H%M%S%z")


def coded(coding: dict[str, Any]) -> str:
    """A CWE/CE value (code^text^coding system) from a FHIR Coding."""
    system = _CODING_SYSTEMS.get(str(coding.get("system")), "L")
    return "^".join(
        escape(str(part)) for part in (coding.get("code", ""), coding.get("display", ""), system)
    )


def _identifier(items: list[dict[str, Any]], type_code: str) -> str:
    """The value of the first identifier of v2-0203 `type_code` (e.g. ACSN, PLAC)."""
    for item in items:
        codes = {c.get("code") for c in (item.get("type") or {}).get("coding") or []}
        if type_code in codes and item.get("value"):
            return escape(str(item["value"]))
    return ""


def patient_identifiers(patient: dict[str, Any]) -> list[str]:
    """PID-3: each identifier as CX (value^^^assigning authority^type), one repetition each."""
    repetitions = []
    for item in patient.get("identifier") or []:
        if not item.get("value"):
            continue
        codes = [c.get("code", "") for c in (item.get("type") or {}).get("coding") or []]
        authority = escape(str((item.get("assigner") or {}).get("display") or ""))
        type_code = escape(str(codes[0])) if codes else ""
        repetitions.append(f"{escape(str(item['value']))}^^^{authority}^{type_code}")
    return repetitions or [escape(str(patient.get("id", "")))]


def _name(patient: dict[str, Any]) -> str:
    names = patient.get("name") or [{}]
    given = names[0].get("given") or []
    parts = [names[0].get("family", ""), *(given[:2])]
    return "^".join(escape(str(part)) for part in parts)


def text_lines(report: dict[str, Any]) -> list[str]:
    """The report's text, line by line: its text/plain presentedForm, else its text/html
    one with the markup taken out (a paragraph or break ends a line)."""
    forms = {
        str(f.get("contentType", "")).split(";")[0].strip(): f.get("data")
        for f in report.get("presentedForm") or []
        if f.get("data")
    }
    for kind in ("text/plain", "text/html"):
        if kind not in forms:
            continue
        try:
            text = base64.b64decode(forms[kind]).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            continue
        if kind == "text/html":
            text = html.unescape(_TAG.sub("", _BREAK.sub("\n", text)))
        return [line.strip() for line in text.splitlines() if line.strip()]
    return []


def oru_r01(
    report: dict[str, Any],
    *,
    patient: dict[str, Any],
    order: dict[str, Any],
    facility: dict[str, Any] | None,
    settings: ReportingSettings,
    sent: datetime,
    control_id: str,
) -> Message:
    """The ORU^R01 message of a final (or later) report, validated."""
    status = RESULT_STATUS[str(report.get("status"))]
    message = Message("ORU_R01", version="2.5.1", validation_level=VALIDATION_LEVEL.STRICT)
    _header(message, facility, settings, sent, control_id)
    result = message.add_group("ORU_R01_PATIENT_RESULT")
    pid = result.add_group("ORU_R01_PATIENT").pid
    pid.pid_1 = "1"
    for identifier in patient_identifiers(patient):
        pid.add_field("PID_3").value = identifier
    pid.pid_5 = _name(patient)
    pid.pid_7 = (patient.get("birthDate") or "").replace("-", "")
    pid.pid_8 = _SEX.get(str(patient.get("gender")), "U")
    observation = result.add_group("ORU_R01_ORDER_OBSERVATION")
    placer = _identifier(order.get("identifier") or [], "PLAC") or escape(str(order.get("id", "")))
    filler = _identifier(order.get("identifier") or [], "ACSN")
    interpreter = referenced_id((report.get("resultsInterpreter") or [{}])[0], "PractitionerRole")
    interpreter = interpreter or referenced_id(
        (report.get("resultsInterpreter") or [{}])[0], "Practitioner"
    )
    observation.orc.orc_1 = "RE"
    observation.orc.orc_2 = placer
    observation.orc.orc_3 = filler
    observation.orc.orc_5 = "CM"
    obr = observation.obr
    obr.obr_1 = "1"
    obr.obr_2 = placer
    obr.obr_3 = filler
    obr.obr_4 = coded(((report.get("code") or {}).get("coding") or [{}])[0])
    obr.obr_7 = hl7_time(report.get("effectiveDateTime") or report.get("issued"))
    obr.obr_22 = hl7_time(report.get("issued") or sent)
    obr.obr_24 = "RAD"
    obr.obr_25 = status
    if interpreter:
        obr.obr_32 = escape(interpreter)
    _observations(observation, report, status)
    message.validate()
    return message


def _header(
    message: Message,
    facility: dict[str, Any] | None,
    settings: ReportingSettings,
    sent: datetime,
    control_id: str,
) -> None:
    msh = message.msh
    msh.msh_3 = escape(settings.hl7_sending_application)
    msh.msh_4 = escape(settings.hl7_sending_facility)
    msh.msh_5 = escape(settings.hl7_receiving_application)
    msh.msh_6 = escape(_facility_id(facility))
    msh.msh_7 = hl7_time(sent)
    msh.msh_9 = "ORU^R01^ORU_R01"
    msh.msh_10 = control_id
    msh.msh_11 = "P"
    msh.msh_12 = "2.5.1"


def _facility_id(facility: dict[str, Any] | None) -> str:
    """The ordering facility as v2 names it: its NPI, else its id."""
    if facility is None:
        return ""
    for item in facility.get("identifier") or []:
        if item.get("system") == "http://hl7.org/fhir/sid/us-npi" and item.get("value"):
            return str(item["value"])
    return str(facility.get("id", ""))


def _observations(observation: Group, report: dict[str, Any], status: str) -> None:
    """OBX segments: the text, the conclusion (flagged when critical), its codes."""
    category = finding_category(report)
    flag = "" if category is None else "AA" if category == 1 else "A"
    rows: list[tuple[str, str, str, str]] = [
        ("TX", NARRATIVE, escape(line), "") for line in text_lines(report)
    ]
    conclusion = [line for line in str(report.get("conclusion") or "").splitlines() if line]
    rows += [("TX", IMPRESSION, escape(line), flag) for line in conclusion]
    for concept in report.get("conclusionCode") or []:
        for coding in concept.get("coding") or []:
            rows.append(("CWE", IMPRESSION, coded(coding), flag))
    effective = hl7_time(report.get("effectiveDateTime") or report.get("issued"))
    for number, (value_type, code, value, abnormal) in enumerate(rows, start=1):
        obx = observation.add_group("ORU_R01_OBSERVATION").obx
        obx.obx_1 = str(number)
        obx.obx_2 = value_type
        obx.obx_3 = code
        obx.obx_5 = value
        if abnormal:
            obx.obx_8 = abnormal
        obx.obx_11 = status
        if effective:
            obx.obx_14 = effective


# -- the operation ------------------------------------------------------------------------


def hl7v2_router() -> APIRouter:
    router = APIRouter(tags=["reporting"])

    @router.get("/DiagnosticReport/{id}/$hl7v2", summary="The report as HL7 v2.5.1 ORU^R01")
    async def current(id: str, request: Request, principal: CurrentPrincipal) -> Response:
        return await _render(request, principal, id, None)

    @router.get(
        "/DiagnosticReport/{id}/_history/{vid}/$hl7v2",
        summary="One version of the report as HL7 v2.5.1 ORU^R01",
    )
    async def version(id: str, vid: str, request: Request, principal: CurrentPrincipal) -> Response:
        return await _render(request, principal, id, vid)

    return router


async def _render(
    request: Request, principal: Any, report_id: str, version: str | None
) -> Response:
    """Read the report as the caller (their tenant decides), then what the message needs
    from intake as the platform (no transaction held across those calls)."""
    async with fhir_session(request, principal) as fhir:
        if version is None:
            stored = await fhir.read("DiagnosticReport", report_id)
        else:
            stored = await fhir.vread("DiagnosticReport", report_id, version)
    report = stored.resource()
    if report.get("status") not in RESULT_STATUS:
        raise business_rule(
            "Only a final (or amended, corrected, appended) report is sent as ORU^R01",
            "DiagnosticReport.status",
        )
    peers = request.app.state.peers
    order_id = referenced_id((report.get("basedOn") or [{}])[0], "ServiceRequest")
    order = (await peers.read("intake", f"ServiceRequest/{order_id}") if order_id else None) or {}
    patient_ref = (report.get("subject") or {}).get("reference")
    patient = (await peers.read("intake", patient_ref) if patient_ref else None) or {}
    facility_ref = (ordering_facility(order) or {}).get("reference")
    facility = await peers.read("intake", facility_ref) if facility_ref else None
    message = oru_r01(
        report,
        patient=patient,
        order=order,
        facility=facility,
        settings=request.app.state.settings,
        sent=now_utc(),
        control_id=uuid4().hex[:20],
    )
    note(request, accessed("operation", "DiagnosticReport", [stored]))
    return Response(content=message.to_er7().encode(), media_type=HL7_V2_ER7)
