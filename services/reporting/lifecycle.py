"""A report's status lifecycle and its addenda (docs/reporting.md, "Report lifecycle").

    (new) --> preliminary --> final --> amended | corrected | appended --> (again) ...
                  |  ^ edit      |                        |
                  |  '-----------'-- entered-in-error <----'
                  '--> cancelled

A report is created `preliminary` (a wet read) or `final`. A preliminary may be edited
(preliminary again), finalised, cancelled or marked entered-in-error. Once final it never
returns to preliminary: it changes only by a new version that is `amended` (content
changed), `corrected` (an error fixed) or `appended` (an addendum added), or it is marked
`entered-in-error`. `cancelled` and `entered-in-error` are the end. Every version stays in
the resource's history (`_history`).

An addendum is a new `appended` version of the same report in which everything the reader
signed before -- the conclusion, the conclusion codes and every text attachment of
presentedForm -- is kept unchanged, and the addendum is one more text attachment titled
"Addendum <n>" (the service numbers them). `registered` and `partial` are not used: a
reading is written when there is something to say.

A wrong transition is a business-rule failure (422) naming DiagnosticReport.status.
"""

from __future__ import annotations

from typing import Any

from shared.fhir.outcomes import Issue

PRELIMINARY = "preliminary"
FINAL = "final"
AMENDED = "amended"
CORRECTED = "corrected"
APPENDED = "appended"
CANCELLED = "cancelled"
ENTERED_IN_ERROR = "entered-in-error"

# The versions the service signs: a radiologist vouches for them.
SIGNED = frozenset({FINAL, AMENDED, CORRECTED, APPENDED})
# The statuses that carry a reading (and so the required content, validation.py).
READ = frozenset({PRELIMINARY, *SIGNED})
CREATED_AS = frozenset({PRELIMINARY, FINAL})
_CHANGES = frozenset({AMENDED, CORRECTED, APPENDED})
NEXT: dict[str, frozenset[str]] = {
    PRELIMINARY: frozenset({PRELIMINARY, FINAL, CANCELLED, ENTERED_IN_ERROR}),
    FINAL: _CHANGES | {ENTERED_IN_ERROR},
    AMENDED: _CHANGES | {ENTERED_IN_ERROR},
    CORRECTED: _CHANGES | {ENTERED_IN_ERROR},
    APPENDED: _CHANGES | {ENTERED_IN_ERROR},
    CANCELLED: frozenset(),
    ENTERED_IN_ERROR: frozenset(),
}
ADDENDUM_TITLE = "Addendum {n}"
_STATUS = "DiagnosticReport.status"
# Elements a report keeps from its first version: it reads one order of one patient.
_FIXED = ("basedOn", "subject")


def transition_issues(previous: dict[str, Any] | None, resource: dict[str, Any]) -> list[Issue]:
    """What is wrong with writing `resource` over `previous` (None: a create)."""
    status = resource.get("status")
    if previous is None:
        if status in CREATED_AS:
            return []
        return [_issue("A report is created preliminary or final", _STATUS)]
    before = previous.get("status")
    allowed = NEXT.get(str(before), frozenset())
    if status not in allowed:
        return [_issue(_transition_wording(str(before), allowed), _STATUS)]
    return [
        _issue(f"A report's {element} cannot change", f"DiagnosticReport.{element}")
        for element in _FIXED
        if resource.get(element) != previous.get(element)
    ]


def _transition_wording(before: str, allowed: frozenset[str]) -> str:
    if not allowed:
        return f"A {before} report is closed: it takes no new version"
    return f"A {before} report may become only: {', '.join(sorted(allowed))}"


def addendum_issues(previous: dict[str, Any], resource: dict[str, Any]) -> list[Issue]:
    """An `appended` version keeps what was signed before and adds at least one text
    attachment; numbers the new attachments "Addendum <n>" (changes `resource`)."""
    issues = [
        _issue(f"An addendum keeps the signed {element} unchanged", f"DiagnosticReport.{element}")
        for element in ("conclusion", "conclusionCode")
        if resource.get(element) != previous.get(element)
    ]
    kept, added = text_forms(previous), text_forms(resource)
    if added[: len(kept)] != kept:
        issues.append(
            _issue(
                "An addendum keeps every earlier text attachment unchanged and in order, "
                "and adds its own after them",
                "DiagnosticReport.presentedForm",
            )
        )
    elif len(added) == len(kept):
        issues.append(
            _issue("An addendum adds a text attachment", "DiagnosticReport.presentedForm")
        )
    else:
        earlier = sum(1 for form in kept if is_addendum(form))
        for n, form in enumerate(added[len(kept) :], start=earlier + 1):
            form["title"] = ADDENDUM_TITLE.format(n=n)
    return issues


def is_text(form: Any) -> bool:
    """A text attachment (text/plain or text/html, any parameters), not the rendered PDF."""
    content_type = form.get("contentType") if isinstance(form, dict) else None
    return isinstance(content_type, str) and content_type.split(";")[0].strip() in (
        "text/plain",
        "text/html",
    )


def is_addendum(form: dict[str, Any]) -> bool:
    return str(form.get("title") or "").startswith(ADDENDUM_TITLE.format(n=""))


def text_forms(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's text attachments, in order."""
    return [form for form in resource.get("presentedForm") or [] if is_text(form)]


def _issue(diagnostics: str, expression: str) -> Issue:
    return Issue("business-rule", diagnostics, expression=(expression,))
