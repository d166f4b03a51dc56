"""Who may write a critical-result Communication, and what an acknowledgement is.

Only the platform opens and escalates a loop. The ordering facility (its EHR) or
operations acknowledge it by updating the loop's opening Communication: status
in-progress -> completed, with `received` set to when the result reached the ordering
provider (not before it was sent, not in the future); a `note` may say who took it.
Nothing else may change, and the escalation steps are not acknowledged themselves (they
point at the opening one in partOf). Radiologists and vendors do not write these
Communications at all. A report-delivery Communication is the platform's record alone:
nobody else writes it. Other Communications keep the generic rules.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from services.reporting.critical import CRITICAL_RESULT, REPORT_DELIVERY, kind_of
from services.reporting.rules import ReportAttachedAccess
from shared.fhir.outcomes import business_rule, forbidden
from shared.fhir.registry import WriteContext
from shared.fhir.service import now_utc

# What an acknowledgement may change, besides status (the rest is the platform's record).
_ACKNOWLEDGEMENT_FIELDS = frozenset({"status", "received", "note"})
_IGNORED = frozenset({"id", "meta", "text"})
_ACKNOWLEDGERS = frozenset({"facility", "admin"})
_CLOCK_SKEW = timedelta(minutes=2)


class CommunicationRules(ReportAttachedAccess):
    """Critical-result Communications: written by the platform, acknowledged by the
    ordering facility or operations; report deliveries: written by the platform only; all
    seen by whoever sees the report."""

    def __init__(self) -> None:
        super().__init__("basedOn", "about", "partOf")

    async def prepare(
        self,
        resource: dict[str, Any],
        *,
        previous: dict[str, Any] | None,
        context: WriteContext,
    ) -> None:
        kind = kind_of(resource) or (kind_of(previous) if previous else None)
        if kind is None or context.principal.role == "system":
            return
        if kind == REPORT_DELIVERY:
            raise forbidden("Only the platform records that a report was delivered")
        if previous is None or context.principal.role not in _ACKNOWLEDGERS:
            raise forbidden("Only the platform writes critical-result communications")
        check_acknowledgement(resource, previous, opening=kind == CRITICAL_RESULT)


def check_acknowledgement(
    resource: dict[str, Any], previous: dict[str, Any], *, opening: bool
) -> None:
    """Refuse (422, naming every offending element) an update that is not exactly the
    acknowledgement of an open loop."""
    if not opening:
        raise business_rule(
            "An escalation is not acknowledged itself: acknowledge the Communication it is partOf",
            "Communication.status",
        )
    if previous.get("status") != "in-progress":
        raise business_rule("This critical result is acknowledged already", "Communication.status")
    changed = sorted(
        key
        for key in (set(resource) | set(previous)) - _IGNORED - _ACKNOWLEDGEMENT_FIELDS
        if resource.get(key) != previous.get(key)
    )
    problems = [f"Communication.{key}" for key in changed]
    if resource.get("status") != "completed":
        problems.append("Communication.status")
    received = _instant(resource.get("received"))
    sent = _instant(previous.get("sent"))
    if received is None or received > now_utc() + _CLOCK_SKEW or (sent and received < sent):
        problems.append("Communication.received")
    if problems:
        raise business_rule(
            "Acknowledging a critical result sets status completed and received (when the "
            "ordering provider got it: not before it was sent, not in the future), and "
            "changes nothing else",
            problems,
        )


def _instant(value: Any) -> datetime | None:
    """A dateTime with a time zone, or None."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None
