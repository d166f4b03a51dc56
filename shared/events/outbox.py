"""Write and read outbox events (the write side runs inside the resource change's own
transaction; see `shared.events.tables`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import NO_OUTBOX, OUTBOX_WRITTEN
from shared.events.tables import outbox_event

_PROPAGATOR = TraceContextTextMapPropagator()
# One dispatcher at a time per database: events are numbered in the order they are taken.
_DISPATCH_LOCK = 0x6F7574626F78  # "outbox"


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    seq: int
    resource_type: str
    resource_id: str
    version_id: int
    interaction: str
    occurred_at: datetime
    traceparent: str | None


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


async def record_event(
    session: AsyncSession,
    *,
    resource_type: str,
    resource_id: str,
    version_id: int,
    interaction: str,
    occurred_at: datetime,
) -> None:
    """Add the event of a change to the change's transaction (none on a database without
    an outbox relay: see `Database(outbox=False)`)."""
    if session.info.get(NO_OUTBOX):
        return
    session.info[OUTBOX_WRITTEN] = True
    await session.execute(
        insert(outbox_event).values(
            resource_type=resource_type,
            resource_id=resource_id,
            version_id=version_id,
            interaction=interaction,
            occurred_at=occurred_at,
            traceparent=current_traceparent(),
        )
    )


async def take_pending(session: AsyncSession, *, limit: int) -> list[OutboxEvent]:
    """Undispatched events in order, for this transaction only; empty when another
    dispatcher holds the outbox (PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        locked = await session.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _DISPATCH_LOCK}
        )
        if not locked.scalar_one():
            return []
    o = outbox_event.c
    rows = await session.execute(
        select(
            o.seq,
            o.resource_type,
            o.resource_id,
            o.version_id,
            o.interaction,
            o.occurred_at,
            o.traceparent,
        )
        .where(o.dispatched_at.is_(None))
        .order_by(o.seq)
        .limit(limit)
    )
    return [OutboxEvent(*row) for row in rows]


async def mark_dispatched(session: AsyncSession, seqs: list[int], moment: datetime) -> None:
    await session.execute(
        update(outbox_event).where(outbox_event.c.seq.in_(seqs)).values(dispatched_at=moment)
    )
