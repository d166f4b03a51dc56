"""A report's lifecycle: created preliminary or final; a preliminary is edited, finalised,
cancelled or marked entered-in-error; a final report changes only by amended / corrected /
appended versions (an addendum keeps everything signed before) and never returns to
preliminary; cancelled and entered-in-error are the end. Every version stays in the
history, each with a PDF rendering that matches it. What a reading must carry is checked
at once: one 422 naming every missing element."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from pypdf import PdfReader

from services.reporting.tests.support import (
    CONCLUSION,
    Services,
    expressions,
    new_order,
    refused,
    report,
    text_form,
)
from shared.fhir.canonical import CANONICAL_BASE
from tests.support.rest import create, update


async def _owned_order(services: Services) -> tuple[str, str]:
    role, _ = await services.radiologist()
    order = new_order()
    await services.read_task(order, role)
    return order, role


def _pdf_text(resource: dict[str, Any]) -> str:
    (rendered,) = [f for f in resource["presentedForm"] if f["contentType"] == "application/pdf"]
    reader = PdfReader(io.BytesIO(base64.b64decode(rendered["data"])))
    return "\n".join(page.extract_text() for page in reader.pages)


def _texts(resource: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [
        (f.get("title"), base64.b64decode(f["data"]).decode())
        for f in resource["presentedForm"]
        if f["contentType"].startswith("text/")
    ]


async def test_a_report_goes_from_preliminary_to_final_to_its_changes_keeping_every_version(
    services: Services,
) -> None:
    order, role = await _owned_order(services)
    written = await create(
        services.reporting, report(order, interpreter=role, status="preliminary")
    )
    statuses = ["preliminary", "final", "amended", "corrected", "entered-in-error"]
    for status in statuses[1:]:
        written = await update(services.reporting, {**written, "status": status})

    history = await services.reporting.get(f"/DiagnosticReport/{written['id']}/_history")

    assert history.status_code == 200, history.text
    versions = [e["resource"]["status"] for e in history.json()["entry"]]
    assert versions == list(reversed(statuses))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("final", "preliminary"),
        ("final", "final"),
        ("final", "cancelled"),
        ("amended", "preliminary"),
        ("preliminary", "amended"),
        ("cancelled", "preliminary"),
        ("entered-in-error", "final"),
    ],
)
async def test_a_wrong_transition_is_refused_naming_the_status(
    services: Services, before: str, after: str
) -> None:
    order, role = await _owned_order(services)
    start = "preliminary" if before in ("preliminary", "cancelled") else "final"
    written = await create(services.reporting, report(order, interpreter=role, status=start))
    if before != start:
        written = await update(services.reporting, {**written, "status": before})

    response = await services.reporting.put(
        f"/DiagnosticReport/{written['id']}", json={**written, "status": after}
    )

    refused(response, 422, "DiagnosticReport.status")


@pytest.mark.parametrize("status", ["amended", "appended", "cancelled", "registered", "partial"])
async def test_a_report_is_created_only_preliminary_or_final(
    services: Services, status: str
) -> None:
    order, role = await _owned_order(services)

    response = await services.reporting.post(
        "/DiagnosticReport", json=report(order, interpreter=role, status=status)
    )

    refused(response, 422, "DiagnosticReport.status")


async def test_a_report_keeps_its_order_and_patient(services: Services) -> None:
    order, role = await _owned_order(services)
    written = await create(services.reporting, report(order, interpreter=role))

    response = await services.reporting.put(
        f"/DiagnosticReport/{written['id']}",
        json={**written, "status": "amended", "subject": {"reference": "Patient/someone-else"}},
    )

    refused(response, 422, "DiagnosticReport.subject")


@pytest.mark.parametrize("status", ["final", "cancelled", "preliminary"])
async def test_only_a_preliminary_report_is_deleted(services: Services, status: str) -> None:
    order, role = await _owned_order(services)
    start = "final" if status == "final" else "preliminary"
    written = await create(services.reporting, report(order, interpreter=role, status=start))
    if status != start:
        written = await update(services.reporting, {**written, "status": status})

    response = await services.reporting.delete(f"/DiagnosticReport/{written['id']}")

    if status == "preliminary":
        assert response.status_code in (200, 204), response.text
    else:
        refused(response, 422, "DiagnosticReport.status")


# -- addenda ------------------------------------------------------------------------------


async def test_an_addendum_keeps_the_signed_text_and_adds_a_numbered_attachment(
    services: Services,
) -> None:
    order, role = await _owned_order(services)
    final = await create(services.reporting, report(order, interpreter=role))
    first = await update(
        services.reporting,
        {
            **final,
            "status": "appended",
            "presentedForm": [
                *final["presentedForm"],
                text_form("Comparison with prior CT: stable."),
            ],
        },
    )
    second = await update(
        services.reporting,
        {
            **first,
            "presentedForm": [
                *first["presentedForm"],
                text_form("Discussed with Dr Lee.", html=False),
            ],
        },
    )

    original = _texts(final)
    assert _texts(second)[: len(original)] == original  # the signed text, unchanged
    assert [title for title, _ in _texts(second)[len(original) :]] == ["Addendum 1", "Addendum 2"]
    assert second["conclusion"] == CONCLUSION
    rendered = _pdf_text(second)
    assert "Findings: no haemorrhage" in rendered
    assert "Comparison with prior CT: stable." in rendered
    assert "Discussed with Dr Lee." in rendered


@pytest.mark.parametrize("change", ["text", "conclusion", "nothing-added"])
async def test_an_addendum_that_changes_the_signed_report_is_refused(
    services: Services, change: str
) -> None:
    order, role = await _owned_order(services)
    final = await create(services.reporting, report(order, interpreter=role))
    appended: dict[str, Any] = {**final, "status": "appended"}
    if change == "text":
        appended["presentedForm"] = [text_form("Rewritten findings."), text_form("Addendum.")]
    elif change == "conclusion":
        appended["conclusion"] = "Something else."
        appended["presentedForm"] = [*final["presentedForm"], text_form("Addendum.")]

    response = await services.reporting.put(f"/DiagnosticReport/{final['id']}", json=appended)

    assert response.status_code == 422, response.text
    expected = "conclusion" if change == "conclusion" else "presentedForm"
    assert f"DiagnosticReport.{expected}" in expressions(response)


# -- required content ---------------------------------------------------------------------

REQUIRED = (
    "basedOn",
    "imagingStudy",
    "subject",
    "resultsInterpreter",
    "category",
    "code",
    "conclusion",
    "conclusionCode",
    "presentedForm",
)


async def test_a_reading_missing_its_content_is_refused_naming_every_missing_element(
    services: Services,
) -> None:
    order, role = await _owned_order(services)
    bare = {
        k: v
        for k, v in report(order, interpreter=role).items()
        if k not in REQUIRED or k == "basedOn"
    }
    bare["code"] = {"text": "CT head"}  # required by FHIR itself; here without a code
    bare["imagingStudy"] = [{"reference": "Patient/not-a-study"}]

    response = await services.reporting.post("/DiagnosticReport", json=bare)

    assert response.status_code == 422, response.text
    wanted = {f"DiagnosticReport.{element}" for element in REQUIRED if element != "basedOn"}
    assert expressions(response) == wanted
    assert all(issue["code"] == "business-rule" for issue in response.json()["issue"])


async def test_the_category_must_be_radiology_and_the_text_readable(services: Services) -> None:
    order, role = await _owned_order(services)
    body = report(order, interpreter=role)
    body["category"] = [{"coding": [{"system": "http://loinc.org", "code": "LP7839-6"}]}]
    body["presentedForm"] = [{"contentType": "text/plain", "data": "bm90IHV0Zjgg/w=="}]

    response = await services.reporting.post("/DiagnosticReport", json=body)

    assert expressions(response) == {
        "DiagnosticReport.category",
        "DiagnosticReport.presentedForm[0].data",
    }


async def test_the_actionable_finding_flag_is_accepted(services: Services) -> None:
    order, role = await _owned_order(services)
    body = report(order, interpreter=role)
    body["extension"] = [
        {
            "url": f"{CANONICAL_BASE}/StructureDefinition/actionable-finding",
            "valueCoding": {"code": "1"},
        }
    ]

    response = await services.reporting.post("/DiagnosticReport", json=body)

    assert response.status_code == 201, response.text


# -- the rendered PDF ---------------------------------------------------------------------


async def test_each_version_carries_a_pdf_of_itself(services: Services) -> None:
    order, role = await _owned_order(services)
    body = report(order, interpreter=role, status="preliminary")
    body["presentedForm"].append(
        {"contentType": "application/pdf", "data": base64.b64encode(b"%PDF-1.4 client").decode()}
    )
    preliminary = await create(services.reporting, body)
    amended_conclusion = "Small subdural haematoma \u2014 new since the preliminary read."
    final = await update(
        services.reporting, {**preliminary, "status": "final", "conclusion": amended_conclusion}
    )

    assert CONCLUSION in _pdf_text(preliminary)
    assert "Small subdural haematoma - new since the preliminary read." in _pdf_text(final)
    assert "Status: final" in _pdf_text(final)
    assert final["issued"] > preliminary["issued"]
    old = await services.reporting.get(f"/DiagnosticReport/{final['id']}/_history/1")
    assert CONCLUSION in _pdf_text(old.json())  # the earlier version keeps its own rendering


async def test_a_report_marked_entered_in_error_says_so_in_its_pdf(services: Services) -> None:
    order, role = await _owned_order(services)
    final = await create(services.reporting, report(order, interpreter=role))

    withdrawn = await update(services.reporting, {**final, "status": "entered-in-error"})

    assert "Status: entered-in-error" in _pdf_text(withdrawn)
