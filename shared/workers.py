"""Background work a service does on a timer, beside answering requests: assignment's
sweeper, reporting's critical-result sweep, sla's breach predictor.

Each replica runs its own loop; what makes them safe together is the work itself (row
locks, unique identifiers), not the loop. A sweep that fails is logged (its error type
only: no PHI) and the next one tries again, so one bad moment never stops the work. On
shutdown the loop is stopped; a sweep under way gets SHUTDOWN_GRACE_SECONDS to finish and
is then cancelled, which every sweep here allows because each of its steps is a
transaction of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress

log = logging.getLogger("teleradiology.worker")
SHUTDOWN_GRACE_SECONDS = 5.0


@asynccontextmanager
async def periodically(
    name: str,
    sweep: Callable[[], Awaitable[object]],
    *,
    every: float,
    wake: asyncio.Event | None = None,
    settle: float = 0.0,
) -> AsyncIterator[None]:
    """Run `sweep()` every `every` seconds while the context is open -- at once when `wake`
    is set, after `settle` seconds (so that the write that woke it has committed)."""
    stop = asyncio.Event()
    woken = wake or asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), timeout=every)
            woken.clear()
            if stop.is_set():
                return
            if settle:
                await asyncio.sleep(settle)
            try:
                await sweep()
            except Exception as error:  # the next sweep tries again; never stop the work
                log.error(f"{name} failed", extra={"error_type": type(error).__name__})

    task = asyncio.create_task(loop(), name=name)
    try:
        yield
    finally:
        stop.set()
        woken.set()
        with suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, timeout=SHUTDOWN_GRACE_SECONDS)
