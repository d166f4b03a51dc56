"""The outbox: every committed change leaves exactly one event, a rolled-back change none,
and the relay hands each event on exactly once, in order, even with several relays."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.tests.builders import bundle, patient, post_entry
from shared.db import Database
from shared.events.outbox import OutboxEvent
from shared.events.relay import OutboxRelay
from shared.events.tables import outbox_event
from tests.support.rest import create


async def _events(app: FastAPI) -> list[tuple[str, str, int, str, bool]]:
    o = outbox_event.c
    async with app.state.database.transaction() as session:
        rows = await session.execute(
            select(
                o.resource_type, o.resource_id, o.version_id, o.interaction, o.dispatched_at
            ).order_by(o.seq)
        )
        return [(t, i, v, x, d is not None) for t, i, v, x, d in rows]


async def test_each_write_leaves_one_pending_event_with_its_version(
    client: httpx.AsyncClient, intake_app: FastAPI
) -> None:
    stored = await create(client, patient(gender="female"))
    pid = stored["id"]
    updated = await client.put(f"/Patient/{pid}", json={**stored, "gender": "male"})
    assert updated.status_code == 200
    assert (await client.delete(f"/Patient/{pid}")).status_code == 204
    await client.get(f"/Patient/{pid}")  # reads leave nothing

    assert await _events(intake_app) == [
        ("Patient", pid, 1, "create", False),
        ("Patient", pid, 2, "update", False),
        ("Patient", pid, 3, "delete", False),
    ]


async def test_a_rolled_back_transaction_leaves_no_event(
    client: httpx.AsyncClient, intake_app: FastAPI
) -> None:
    failing = bundle(
        "transaction",
        post_entry(patient(gender="female")),
        post_entry(patient(birthDate="not a date")),
    )

    response = await client.post("", json=failing)

    assert response.status_code == 400
    assert await _events(intake_app) == []


async def test_the_event_carries_the_trace_of_the_request_that_made_it(
    client: httpx.AsyncClient, intake_app: FastAPI
) -> None:
    await create(client, patient())
    async with intake_app.state.database.transaction() as session:
        traceparent = (await session.execute(select(outbox_event.c.traceparent))).scalar_one()
    assert traceparent is not None
    version, trace_id, span_id, _ = traceparent.split("-")
    assert (version, len(trace_id), len(span_id)) == ("00", 32, 16)


async def test_the_relay_hands_each_event_on_once_in_order(
    client: httpx.AsyncClient, intake_app: FastAPI
) -> None:
    for gender in ("female", "male", "other"):
        await create(client, patient(gender=gender))
    handed: list[int] = []

    async def dispatch(_: AsyncSession, events: list[OutboxEvent]) -> None:
        handed.extend(e.seq for e in events)

    relay = OutboxRelay(intake_app.state.database, dispatch, batch_size=2)
    assert await relay.run_once() == 2
    assert await relay.run_once() == 1
    assert await relay.run_once() == 0

    assert handed == sorted(handed) and len(handed) == 3
    assert all(dispatched for *_, dispatched in await _events(intake_app))


async def test_a_failed_dispatch_leaves_the_events_pending_for_the_next_pass(
    client: httpx.AsyncClient, intake_app: FastAPI
) -> None:
    await create(client, patient())
    attempts: list[list[int]] = []

    async def flaky(_: AsyncSession, events: list[OutboxEvent]) -> None:
        attempts.append([e.seq for e in events])
        if len(attempts) == 1:
            raise RuntimeError("subscriber store unavailable")

    relay = OutboxRelay(intake_app.state.database, flaky)
    with pytest.raises(RuntimeError):
        await relay.run_once()
    assert [dispatched for *_, dispatched in await _events(intake_app)] == [False]

    assert await relay.run_once() == 1
    assert attempts[0] == attempts[1]
    assert [dispatched for *_, dispatched in await _events(intake_app)] == [True]


async def test_concurrent_relays_never_hand_on_an_event_twice(
    client: httpx.AsyncClient, intake_app: FastAPI, backend: str
) -> None:
    for _ in range(30):
        await create(client, patient())
    url = intake_app.state.settings.resolved_database_url
    handed: list[int] = []

    async def dispatch(_: AsyncSession, events: list[OutboxEvent]) -> None:
        await asyncio.sleep(0.01)  # widen the window in which replicas overlap
        handed.extend(e.seq for e in events)

    replicas = [Database(url) for _ in range(3)]
    try:
        relays = [OutboxRelay(db, dispatch, batch_size=4) for db in replicas]

        async def drain(relay: OutboxRelay) -> None:
            for _ in range(200):
                await relay.run_once()
                if len(handed) >= 30:
                    return

        await asyncio.gather(*(drain(r) for r in relays))
    finally:
        for db in replicas:
            await db.dispose()

    assert sorted(handed) == handed, "events were handed on out of order"
    assert len(handed) == len(set(handed)) == 30
    async with intake_app.state.database.transaction() as session:
        pending = await session.execute(
            select(func.count()).where(outbox_event.c.dispatched_at.is_(None))
        )
    assert pending.scalar_one() == 0
