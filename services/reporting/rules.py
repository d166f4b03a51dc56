"""Reporting's rules for a report write, in the order they run (docs/reporting.md):

1. the status transition and, for a reading, the required content -- every problem in one
   422 (lifecycle.py, validation.py);
2. who writes: the read Task's owner or a permitted co-signer (authority.py, asking
   assignment);
3. the service's own parts of every version: `issued` (now) and the rendered PDF in
   presentedForm (pdf.py);
4. once the version is stored, in the same transaction: its signature (signing.py) when it
   is final, amended, corrected or appended.

Assignment hears of the final report through its subscription and completes the Task.
"""

from __future__ import annotations

from typing import Any

from services.reporting.authority import authorised_writer, interpreters, relative
from services.reporting.lifecycle import (
    APPENDED,
    PRELIMINARY,
    READ,
    SIGNED,
    addendum_issues,
    transition_issues,
)
from services.reporting.pdf import pdf_attachment, render_report, with_rendering
from services.reporting.settings import reporting_settings
from services.reporting.signing import sign_version
from services.reporting.validation import content_issues, unprocessable
from shared.fhir.outcomes import business_rule
from shared.fhir.references import referenced_id
from shared.fhir.registry import ResourceRules, WriteContext
from shared.fhir.service import format_instant, now_utc
from shared.fhir.storage.records import StoredResource
from shared.orders import ORDERING_FACILITY_EXTENSION


class DiagnosticReportRules(ResourceRules):
    async def prepare(
        self,
        resource: dict[str, Any],
        *,
        previous: dict[str, Any] | None,
        context: WriteContext,
    ) -> None:
        issues = transition_issues(previous, resource)
        if resource.get("status") in READ:
            issues += content_issues(resource)
        if not issues and previous is not None and resource.get("status") == APPENDED:
            issues += addendum_issues(previous, resource)
        if issues:
            raise unprocessable(issues)
        writer = await authorised_writer(resource, previous=previous, context=context)
        context.memo["signer"] = writer.signer
        with_ordering_facility(resource, context.memo["task"])
        _issue_and_render(resource)

    async def after_write(self, stored: StoredResource, *, context: WriteContext) -> None:
        """Sign a final, amended, corrected or appended version as it was stored."""
        resource = stored.resource()
        if resource.get("status") not in SIGNED:
            return
        settings = reporting_settings(getattr(context.state, "settings", None))
        await sign_version(
            stored,
            signer=context.memo["signer"],
            signed_at=resource["issued"],
            secret=settings.report_signing_key_secret.get_secret_value(),
            context=context,
        )

    async def before_delete(self, resource: dict[str, Any], *, context: WriteContext) -> None:
        """Only a preliminary is deleted: anything later is marked entered-in-error (or
        cancelled) and stays on record, with what the EHR was told."""
        if resource.get("status") != PRELIMINARY:
            raise business_rule(
                "Only a preliminary report is deleted: mark it entered-in-error instead",
                "DiagnosticReport.status",
            )

    async def access_labels(self, resource: dict[str, Any], *, context: WriteContext) -> set[str]:
        """A report is seen by the ordering facility, by whoever its read is assigned to
        (the radiologist behind the owning role, or the partner vendor) and -- as the read
        Task is -- by the reading group that role reads for, so that the group's attending
        can open a preliminary read to finalise it."""
        task = context.memo["task"]
        facility = (task.get("requester") or {}).get("reference")
        audience = (facility, context.memo.get("group"), *context.memo["readers"])
        return {relative(label) for label in audience if label}


def with_ordering_facility(resource: dict[str, Any], task: dict[str, Any]) -> None:
    """Name the ordering facility -- the read Task's requester, whose labels the report
    carries -- with intake's `ordering-facility` extension: whom a delivered report belongs
    to (services.reporting.delivery). The Task decides: a facility a client named
    otherwise is replaced."""
    organization = referenced_id(task.get("requester"), "Organization")
    if organization is None:
        return
    kept = [
        e for e in resource.get("extension") or [] if e.get("url") != ORDERING_FACILITY_EXTENSION
    ]
    facility = {"reference": f"Organization/{organization}"}
    resource["extension"] = [
        *kept,
        {"url": ORDERING_FACILITY_EXTENSION, "valueReference": facility},
    ]


def _issue_and_render(resource: dict[str, Any]) -> None:
    """Stamp `issued` (the moment of this version) and put the PDF of this version in
    presentedForm, replacing any earlier rendering."""
    moment = now_utc()
    issued = format_instant(moment)
    resource["issued"] = issued
    content = render_report(resource, signers=interpreters(resource), issued=moment)
    resource["presentedForm"] = with_rendering(resource, pdf_attachment(content, issued))


class ReportAttachedAccess(ResourceRules):
    """Signatures and communications about a report are seen by whoever sees the report."""

    def __init__(self, *paths: str) -> None:
        self.paths = paths

    async def access_labels(self, resource: dict[str, Any], *, context: WriteContext) -> set[str]:
        repository = context.repository.unconfined()
        pks = []
        for path in self.paths:
            for element in resource.get(path) or []:
                report_id = referenced_id(element, "DiagnosticReport")
                stored = (
                    await repository.current("DiagnosticReport", report_id) if report_id else None
                )
                if stored is not None:
                    pks.append(stored.pk)
        return await repository.labels(pks)
