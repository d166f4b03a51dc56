"""A signed report goes to EHRs that take results as HL7 v2: `$hl7v2` answers an ORU^R01
(v2.5.1) that hl7apy parses and validates, with the patient, the order's numbers, the
result status of the version asked for, the report's text and conclusion (flagged when
critical); a preliminary report is not sent, and another facility's report is not known."""

from __future__ import annotations

from base64 import b64encode
from typing import Any

from hl7apy.consts import VALIDATION_LEVEL  # type: ignore[import-untyped]
from hl7apy.core import Message  # type: ignore[import-untyped]
from hl7apy.parser import parse_message  # type: ignore[import-untyped]

from services.reporting.hl7v2 import HL7_V2_ER7, escape, text_lines, unescape
from services.reporting.tests.platform import Platform, report_of
from tests.support.audit import audit_events, subtype
from tests.support.rest import update
from tests.support.tenants import as_caller, facility_ehr


def parsed(text: str) -> Message:
    message = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert message.validate()
    return message


def observations(message: Message) -> list[Any]:
    order = message.oru_r01_patient_result.oru_r01_order_observation
    return [group.obx for group in order.oru_r01_observation]


async def test_a_final_report_is_an_oru_r01_with_patient_order_and_results(
    platform: Platform,
) -> None:
    read = await platform.ordered_and_assigned(accession="ACC-7001")
    report = await platform.report(read, category=1)

    answer = await platform.reporting.get(f"/DiagnosticReport/{report['id']}/$hl7v2")

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith(HL7_V2_ER7)
    message = parsed(answer.text)
    msh = message.msh
    assert msh.msh_9.to_er7() == "ORU^R01^ORU_R01"
    assert msh.msh_12.to_er7() == "2.5.1"
    assert (msh.msh_3.to_er7(), msh.msh_5.to_er7()) == ("TELERAD", "EHR")
    assert msh.msh_6.to_er7() == "1234567893"  # the ordering facility's NPI
    assert len(msh.msh_10.to_er7()) == 20
    pid = message.oru_r01_patient_result.oru_r01_patient.pid
    assert pid.pid_3.to_er7() == "MRN-1001^^^^MR"
    assert pid.pid_5.to_er7() == "Rivera^Ana"
    assert (pid.pid_7.to_er7(), pid.pid_8.to_er7()) == ("19610412", "F")
    order = message.oru_r01_patient_result.oru_r01_order_observation
    assert order.orc.orc_1.to_er7() == "RE"
    assert order.orc.orc_3.to_er7() == order.obr.obr_3.to_er7() == "ACC-7001"
    assert order.obr.obr_4.to_er7() == "24725-4^CT Head^LN"
    assert order.obr.obr_7.to_er7() == "20261129010000+0000"
    assert order.obr.obr_25.to_er7() == "F"
    assert order.obr.obr_32.to_er7() == read.role.split("/")[1]
    rows = [
        (o.obx_2.to_er7(), o.obx_3.to_er7().split("^")[0], o.obx_5.to_er7(), o.obx_8.to_er7())
        for o in observations(message)
    ]
    assert rows == [
        ("TX", "18782-3", "FINDINGS: Acute subdural haematoma.", ""),
        ("TX", "19005-8", "Acute subdural haematoma, 9 mm, with midline shift.", "AA"),
        ("CWE", "19005-8", "95453001^Subdural haemorrhage^SCT", "AA"),
    ]
    assert {o.obx_11.to_er7() for o in observations(message)} == {"F"}
    events = await audit_events(
        platform.reporting_app, ("entity", f"DiagnosticReport/{report['id']}")
    )
    assert "operation" in [subtype(e) for e in events]


async def test_each_version_keeps_its_own_result_status(platform: Platform) -> None:
    read = await platform.ordered_and_assigned()
    report = await platform.report(read, category=None)
    conclusion = "Correction: no haemorrhage | artefact ^ only."
    await update(
        platform.reporting,
        {
            **report_of(read, status="amended", category=None, conclusion=conclusion),
            "id": report["id"],
        },
    )

    first = await platform.reporting.get(f"/DiagnosticReport/{report['id']}/_history/1/$hl7v2")
    latest = await platform.reporting.get(f"/DiagnosticReport/{report['id']}/$hl7v2")

    assert (
        parsed(first.text).oru_r01_patient_result.oru_r01_order_observation.obr.obr_25.to_er7()
        == "F"
    )
    amended = parsed(latest.text)
    assert amended.oru_r01_patient_result.oru_r01_order_observation.obr.obr_25.to_er7() == "C"
    impression = [o for o in observations(amended) if o.obx_3.to_er7().startswith("19005-8")]
    assert unescape(impression[0].obx_5.to_er7()) == conclusion
    assert impression[0].obx_8.to_er7() == ""  # not flagged critical


async def test_a_preliminary_report_is_not_sent(platform: Platform) -> None:
    read = await platform.ordered_and_assigned()
    report = await platform.report(read, status="preliminary")

    answer = await platform.reporting.get(f"/DiagnosticReport/{report['id']}/$hl7v2")

    assert answer.status_code == 422, answer.text
    assert answer.json()["issue"][0]["expression"] == ["DiagnosticReport.status"]


async def test_another_facility_cannot_have_the_report(platform: Platform) -> None:
    read = await platform.ordered_and_assigned()
    report = await platform.report(read)

    async with as_caller(platform.reporting_app, facility_ehr("Organization/elsewhere")) as other:
        refused = await other.get(f"/DiagnosticReport/{report['id']}/$hl7v2")
    async with as_caller(platform.reporting_app, facility_ehr(read.facility)) as own:
        sent = await own.get(f"/DiagnosticReport/{report['id']}/$hl7v2")

    assert refused.status_code == 404, refused.text
    assert sent.status_code == 200, sent.text


def test_er7_delimiters_in_text_are_escaped_and_come_back() -> None:
    text = r"a|b^c&d~e\f"
    assert escape(text) == r"a\F\b\S\c\T\d\R\e\E\f"
    assert unescape(escape(text)) == text


def test_an_html_report_text_becomes_lines_without_markup() -> None:
    text = "<p>Findings: no haemorrhage &amp; no mass.</p><p>Impression:<br/>normal.</p>"
    report = {
        "presentedForm": [{"contentType": "text/html", "data": b64encode(text.encode()).decode()}]
    }

    assert text_lines(report) == ["Findings: no haemorrhage & no mass.", "Impression:", "normal."]
