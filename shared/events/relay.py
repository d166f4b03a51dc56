"""The relay: a background task in each service that hands committed outbox events to a
dispatcher (e.g. subscription matching), marking them dispatched in the same transaction.

If the process dies at any point, the transaction rolls back and the events stay pending
for the next relay pass -- in this process after restart, or in another replica. Any
number of replicas may run the relay: one dispatches at a time (an advisory lock), in
outbox order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database
from shared.events.outbox import OutboxEvent, mark_dispatched, take_pending
from shared.fhir.service import now_utc

log = logging.getLogger("teleradiology.relay")

Dispatcher = Callable[[AsyncSession, list[OutboxEvent]], Awaitable[None]]


class OutboxRelay:
    """Moves committed outbox events to `dispatch`, in order, exactly once."""

    def __init__(
        self,
        database: Database,
        dispatch: Dispatcher,
        *,
        batch_size: int = 200,
        idle_seconds: float = 0.2,
        on_dispatched: Callable[[], None] | None = None,
    ) -> None:
        self.database = database
        self.dispatch = dispatch
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.on_dispatched = on_dispatched  # e.g. wake the notifier
        # Commits in this process wake the relay at once; other replicas' commits are
        # found by polling every `idle_seconds`.
        self.wake = database.outbox_committed

    async def run_once(self) -> int:
        """Dispatch one batch; returns how many events it took."""
        async with self.database.transaction() as session:
            events = await take_pending(session, limit=self.batch_size)
            if events:
                await self.dispatch(session, events)
                await mark_dispatched(session, [e.seq for e in events], now_utc())
        if events and self.on_dispatched is not None:
            self.on_dispatched()
        return len(events)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set; a failing pass is logged and retried after a pause."""
        failures = 0
        while not stop.is_set():
            try:
                taken = await self.run_once()
                failures = 0
            except Exception as exc:  # keep relaying: the events stay pending
                failures += 1
                log.error("relay pass failed", extra={"error_type": type(exc).__name__})
                taken = 0
            if taken:
                continue
            pause = min(self.idle_seconds * 2**failures, 30.0)
            self.wake.clear()
            waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())}
            _, pending = await asyncio.wait(waiters, timeout=pause, return_when="FIRST_COMPLETED")
            for waiter in pending:
                waiter.cancel()
