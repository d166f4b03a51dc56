"""What a radiology report must carry (docs/reporting.md, "Required content").

Every version that holds a reading (preliminary, final, amended, corrected, appended) names
the order it reads (`basedOn` a ServiceRequest), the images (`imagingStudy`), the patient
(`subject`), who read it (`resultsInterpreter`), the radiology category (LOINC LP29684-5,
as US Core asks), the exam `code`, the `conclusion` in words and as `conclusionCode`, and
the report itself as a text attachment in `presentedForm` (text/plain or text/html,
base64 `data`). All that is missing or wrong comes back at once: one 422 with an issue
per element. Extensions (e.g. the actionable-finding flag) are left to their owners.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from services.reporting.lifecycle import is_text
from shared.fhir.outcomes import FhirError, Issue
from shared.fhir.references import referenced_id

LOINC = "http://loinc.org"
RADIOLOGY_CATEGORY = "LP29684-5"
_DR = "DiagnosticReport"


def content_issues(resource: dict[str, Any]) -> list[Issue]:
    """One issue per required element that is missing or malformed."""
    issues = [
        *_references(resource, "basedOn", "ServiceRequest"),
        *_references(resource, "imagingStudy", "ImagingStudy"),
        *_references(resource, "subject", "Patient"),
    ]
    if not _list(resource, "resultsInterpreter"):
        issues.append(_missing("resultsInterpreter", "Who read the study"))
    if not _has_radiology_category(resource):
        issues.append(
            _missing("category", f"The radiology category ({LOINC} {RADIOLOGY_CATEGORY})")
        )
    if not _concept(resource.get("code")):
        issues.append(_missing("code", "The exam's code"))
    conclusion = resource.get("conclusion")
    if not isinstance(conclusion, str) or not conclusion.strip():
        issues.append(_missing("conclusion", "The conclusion in words"))
    codes = _list(resource, "conclusionCode")
    if not codes or not all(_concept(c) for c in codes):
        issues.append(_missing("conclusionCode", "The conclusion as codes"))
    issues += _presented_form_issues(resource)
    return issues


def unprocessable(issues: list[Issue]) -> FhirError:
    """The one 422 carrying every business-rule issue found."""
    return FhirError(422, issues)


def _references(resource: dict[str, Any], element: str, target: str) -> list[Issue]:
    value = resource.get(element)
    references = value if isinstance(value, list) else [value] if value else []
    if not references or not all(referenced_id(r, target) for r in references):
        return [_missing(element, f"A reference to the {target}")]
    return []


def _has_radiology_category(resource: dict[str, Any]) -> bool:
    return any(
        coding.get("system") == LOINC and coding.get("code") == RADIOLOGY_CATEGORY
        for category in _list(resource, "category")
        for coding in category.get("coding") or []
        if isinstance(coding, dict)
    )


def _concept(value: Any) -> bool:
    """A CodeableConcept with at least one coded value."""
    if not isinstance(value, dict):
        return False
    return any(isinstance(c, dict) and c.get("code") for c in value.get("coding") or [])


def _presented_form_issues(resource: dict[str, Any]) -> list[Issue]:
    forms = [f for f in _list(resource, "presentedForm") if is_text(f)]
    if not forms:
        return [_missing("presentedForm", "The report as text/plain or text/html")]
    issues = []
    for index, form in enumerate(resource.get("presentedForm") or []):
        if is_text(form) and readable_text(form) is None:
            issues.append(
                Issue(
                    "business-rule",
                    "A text attachment carries its text as base64 data (UTF-8)",
                    expression=(f"{_DR}.presentedForm[{index}].data",),
                )
            )
    return issues


def readable_text(form: dict[str, Any]) -> str | None:
    """The text of a text attachment; None when its data is missing or not UTF-8 base64."""
    data = form.get("data")
    if not isinstance(data, str) or not data:
        return None
    try:
        return base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _list(resource: dict[str, Any], element: str) -> list[dict[str, Any]]:
    value = resource.get(element)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _missing(element: str, what: str) -> Issue:
    return Issue("business-rule", f"{what} is required", expression=(f"{_DR}.{element}",))
