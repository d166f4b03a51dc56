"""The report as a PDF (fpdf2), rendered by the service into presentedForm on every write.

The PDF is made from the version being written -- title, status, exam, patient and order,
conclusion and its codes, the report text and each addendum, who interpreted it and when
it was issued -- so the rendering always matches the version it sits in (an older
version keeps its own PDF in the history). Any application/pdf attachment a client sends
is replaced by this rendering. The built-in Helvetica font takes latin-1 text only: other
characters are mapped to a near ASCII form (dashes, quotes) or shown as "?"; the report's
own text attachments keep the exact wording.
"""

from __future__ import annotations

import base64
import html
import re
from datetime import datetime
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from services.reporting.lifecycle import is_addendum, is_text
from services.reporting.validation import readable_text

PDF = "application/pdf"
PDF_TITLE = "Radiology report (rendered)"
_NEAR = str.maketrans(
    {
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2022": "*",
        "\u2026": "...",
        "\u2264": "<=",
        "\u2265": ">=",
    }
)
_BREAKS = re.compile(r"<\s*(br|/p|/div|/li|/h\d)\s*/?\s*>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]+>")


def latin1(text: str) -> str:
    """`text` as the core fonts can show it."""
    return text.translate(_NEAR).encode("latin-1", "replace").decode("latin-1")


def plain(form: dict[str, Any]) -> str:
    """The words of a text attachment (HTML tags dropped, entities resolved)."""
    text = readable_text(form) or ""
    if form.get("contentType", "").startswith("text/html"):
        text = html.unescape(_TAGS.sub("", _BREAKS.sub("\n", text)))
    return text.strip()


def render_report(resource: dict[str, Any], *, signers: list[str], issued: datetime) -> bytes:
    """The PDF of one report version."""
    pdf = FPDF(format="A4")
    pdf.set_creation_date(issued)
    pdf.set_title(PDF_TITLE)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    _line(pdf, "Radiology report", height=10)
    pdf.set_font("Helvetica", size=10)
    for label, value in _header(resource, issued):
        _line(pdf, f"{label}: {value}")
    _section(pdf, "Conclusion", str(resource.get("conclusion") or ""))
    codes = [_concept_text(c) for c in resource.get("conclusionCode") or []]
    if codes:
        _section(pdf, "Conclusion codes", "\n".join(codes))
    for form in (f for f in resource.get("presentedForm") or [] if is_text(f)):
        title = str(form.get("title") or ("Addendum" if is_addendum(form) else "Report"))
        _section(pdf, title, plain(form))
    _section(pdf, "Interpreted by", "\n".join(signers) or "-")
    return bytes(pdf.output())


def pdf_attachment(content: bytes, issued: str) -> dict[str, Any]:
    return {
        "contentType": PDF,
        "data": base64.b64encode(content).decode(),
        "title": PDF_TITLE,
        "creation": issued,
    }


def with_rendering(resource: dict[str, Any], attachment: dict[str, Any]) -> list[dict[str, Any]]:
    """presentedForm with the client's PDFs replaced by the service's `attachment`."""
    kept = [f for f in resource.get("presentedForm") or [] if f.get("contentType") != PDF]
    return [*kept, attachment]


def _header(resource: dict[str, Any], issued: datetime) -> list[tuple[str, str]]:
    return [
        ("Status", str(resource.get("status"))),
        ("Exam", _concept_text(resource.get("code"))),
        ("Patient", _reference_text(resource.get("subject"))),
        ("Order", ", ".join(_reference_text(r) for r in resource.get("basedOn") or [])),
        ("Study", ", ".join(_reference_text(r) for r in resource.get("imagingStudy") or [])),
        ("Issued", issued.isoformat(timespec="seconds")),
    ]


def _concept_text(concept: Any) -> str:
    if not isinstance(concept, dict):
        return "-"
    if concept.get("text"):
        return str(concept["text"])
    parts = [
        f"{c.get('display') or ''} ({c.get('system', '')} {c.get('code', '')})".strip()
        for c in concept.get("coding") or []
        if isinstance(c, dict)
    ]
    return "; ".join(parts) or "-"


def _reference_text(reference: Any) -> str:
    if not isinstance(reference, dict):
        return "-"
    return str(reference.get("display") or reference.get("reference") or "-")


def _section(pdf: FPDF, title: str, body: str) -> None:
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 12)
    _line(pdf, title, height=7)
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(0, 5, latin1(body), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _line(pdf: FPDF, text: str, *, height: float = 6) -> None:
    pdf.multi_cell(0, height, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
