"""Each order's timeline: which milestone a resource version marks, recording it once, and
the turnaround intervals between milestones.

Milestones, in the order a read normally goes: ordered (the order registered), images
available, assigned (the read Task -- code `fulfill` -- with an owner), accepted (the owner
took it), preliminary and final (the reports); other Tasks mark nothing. Then, from
reporting's Communications (by the topic they came on, services.sla.communications):
delivered (the final report reached the ordering facility), critical-communicated (a
critical result was sent) and acknowledged (its receipt was acknowledged). Times are the
`meta.lastUpdated` of the version that marked them -- when the platform knew -- so replaying
an event gives the same time; `delivered` takes the delivery's `sent` (when the facility's
EHR accepted the notification; the record is stored just after).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.details import insert_for, is_read_task, orders_of, record_details
from services.sla.tables import order_milestone
from shared.fhir.references import referenced_id
from shared.fhir.service import now_utc

MILESTONES = (
    "ordered",
    "images-available",
    "assigned",
    "accepted",
    "preliminary",
    "final",
    "delivered",
    "critical-communicated",
    "acknowledged",
)
# The intervals reported per order: (name, from milestone, to milestone).
INTERVALS = (
    ("ordered-to-assigned", "ordered", "assigned"),
    ("assigned-to-accepted", "assigned", "accepted"),
    ("images-to-preliminary", "images-available", "preliminary"),
    ("images-to-final", "images-available", "final"),
    ("ordered-to-final", "ordered", "final"),
    ("final-to-delivered", "final", "delivered"),
    ("critical-to-acknowledged", "critical-communicated", "acknowledged"),
)
# A Task closed without passing through these never shows "accepted" (no guessed time).
_TASK_ACCEPTED = frozenset({"accepted", "in-progress", "on-hold"})


@dataclass(frozen=True, slots=True)
class Mark:
    """A milestone of an order, as one resource version shows it."""

    order_id: str
    milestone: str
    at: datetime
    source: str


def version_time(resource: dict[str, Any]) -> datetime:
    """When the platform knew of this version (meta.lastUpdated; now when it has none)."""
    text = (resource.get("meta") or {}).get("lastUpdated")
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else now_utc()


def version_source(resource: dict[str, Any]) -> str:
    """The version a milestone comes from, `Type/id/_history/n`."""
    version = (resource.get("meta") or {}).get("versionId", "1")
    return f"{resource['resourceType']}/{resource['id']}/_history/{version}"


def marks(resource: dict[str, Any]) -> list[Mark]:
    """The milestones `resource` (an order, study, Task or report version) marks."""
    kind = resource.get("resourceType")
    status = resource.get("status")
    milestones: list[tuple[list[str], str]] = []
    if kind == "ServiceRequest":
        milestones.append(([resource["id"]], "ordered"))
    elif kind == "ImagingStudy" and status == "available":
        milestones.append((orders_of(resource.get("basedOn")), "images-available"))
    elif is_read_task(resource):
        orders = [o for o in [referenced_id(resource.get("focus"), "ServiceRequest")] if o]
        if resource.get("owner"):
            milestones.append((orders, "assigned"))
        if status in _TASK_ACCEPTED:
            milestones.append((orders, "accepted"))
    elif kind == "DiagnosticReport" and status in ("preliminary", "final"):
        milestones.append((orders_of(resource.get("basedOn")), status))
    at, source = version_time(resource), version_source(resource)
    return [Mark(order, name, at, source) for orders, name in milestones for order in orders]


async def record(
    session: AsyncSession, resource: dict[str, Any], *, also: tuple[Mark, ...] = ()
) -> list[Mark]:
    """Record the milestones `resource` marks, and `also` (marks its event stands for, e.g.
    a critical result communicated), the earliest report winning; the marks."""
    found = [*marks(resource), *also]
    insert = insert_for(session)
    moment = now_utc()
    for mark in found:
        statement = insert(order_milestone).values(
            order_id=mark.order_id,
            milestone=mark.milestone,
            occurred_at=mark.at,
            source=mark.source,
            recorded_at=moment,
        )
        # The earliest report of a milestone wins, whatever order the events came in.
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[order_milestone.c.order_id, order_milestone.c.milestone],
                set_={
                    "occurred_at": statement.excluded.occurred_at,
                    "source": statement.excluded.source,
                },
                where=statement.excluded.occurred_at < order_milestone.c.occurred_at,
            )
        )
    await record_details(session, resource, moment, {mark.order_id for mark in found})
    return found


def intervals(milestones: Mapping[str, datetime]) -> list[tuple[str, float]]:
    """(name, minutes) of each interval (INTERVALS) whose two ends are known."""
    return [
        (name, (milestones[end] - milestones[start]).total_seconds() / 60)
        for name, start, end in INTERVALS
        if start in milestones and end in milestones
    ]
