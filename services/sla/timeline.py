"""Each order's timeline: which milestone a resource version marks, recording it once, and
the turnaround intervals between milestones.

Milestones, in the order a read normally goes: ordered (the order registered), images
available, assigned (the read Task -- code `fulfill` -- with an owner), accepted (the owner
took it), preliminary and final (the reports); other Tasks mark nothing. Times are the `meta.lastUpdated` of the version that marked them --
when the platform knew -- so replaying an event gives the same time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.details import insert_for, is_read_task, orders_of, record_details
from services.sla.tables import order_clock, order_milestone
from shared.fhir.references import referenced_id
from shared.fhir.service import now_utc

MILESTONES = ("ordered", "images-available", "assigned", "accepted", "preliminary", "final")
# The intervals reported per order: (name, from milestone, to milestone).
INTERVALS = (
    ("ordered-to-assigned", "ordered", "assigned"),
    ("assigned-to-accepted", "assigned", "accepted"),
    ("images-to-preliminary", "images-available", "preliminary"),
    ("images-to-final", "images-available", "final"),
    ("ordered-to-final", "ordered", "final"),
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


def _last_updated(resource: dict[str, Any]) -> datetime:
    text = (resource.get("meta") or {}).get("lastUpdated")
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else now_utc()


def _source(resource: dict[str, Any]) -> str:
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
    at, source = _last_updated(resource), _source(resource)
    return [Mark(order, name, at, source) for orders, name in milestones for order in orders]


async def record(session: AsyncSession, resource: dict[str, Any]) -> list[Mark]:
    """Record the milestones `resource` marks (the earliest report wins); the marks."""
    found = marks(resource)
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


@dataclass(frozen=True, slots=True)
class Timeline:
    order_id: str
    priority: str | None
    deadline: datetime | None
    milestones: dict[str, datetime]

    def intervals(self) -> list[tuple[str, float]]:
        """(name, minutes) of each interval whose two ends are known."""
        return [
            (name, (self.milestones[end] - self.milestones[start]).total_seconds() / 60)
            for name, start, end in INTERVALS
            if start in self.milestones and end in self.milestones
        ]

    @property
    def breached(self) -> bool | None:
        """Whether the final report came after the deadline (None while either is unknown)."""
        final = self.milestones.get("final")
        if final is None or self.deadline is None:
            return None
        return final > self.deadline


async def timeline(session: AsyncSession, order_id: str) -> Timeline | None:
    """The order's timeline; None when sla has heard nothing of it."""
    rows = await session.execute(
        select(order_milestone.c.milestone, order_milestone.c.occurred_at).where(
            order_milestone.c.order_id == order_id
        )
    )
    milestones = {row.milestone: row.occurred_at for row in rows}
    clock = (
        await session.execute(select(order_clock).where(order_clock.c.order_id == order_id))
    ).first()
    if not milestones and clock is None:
        return None
    ordered = {m: milestones[m] for m in MILESTONES if m in milestones}
    return Timeline(
        order_id,
        clock.priority if clock else None,
        clock.deadline if clock else None,
        ordered,
    )
