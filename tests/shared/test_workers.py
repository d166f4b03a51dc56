"""shared/workers.py: the loop every background worker runs on."""

from __future__ import annotations

import asyncio
import logging

import pytest

import shared.workers as workers
from shared.workers import periodically


async def test_it_sweeps_on_its_timer_and_at_once_when_woken() -> None:
    swept: list[float] = []
    wake = asyncio.Event()

    async def sweep() -> None:
        swept.append(asyncio.get_running_loop().time())

    async with periodically("test", sweep, every=0.05, wake=wake):
        await asyncio.sleep(0.18)
        on_timer = len(swept)
        wake.set()
        await asyncio.sleep(0.01)
    assert on_timer >= 2
    assert len(swept) >= on_timer + 1


async def test_a_failing_sweep_is_logged_and_the_next_one_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    async def sweep() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("transient")

    with caplog.at_level(logging.ERROR, logger="teleradiology.worker"):
        async with periodically("flaky", sweep, every=0.02):
            await asyncio.sleep(0.15)
    assert calls >= 2
    failure = next(r for r in caplog.records if r.getMessage() == "flaky failed")
    assert failure.__dict__["error_type"] == "RuntimeError"


async def test_stopping_cancels_a_sweep_that_outlives_the_grace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(workers, "SHUTDOWN_GRACE_SECONDS", 0.05)
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def endless() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with periodically("slow", endless, every=0.01):
        await asyncio.wait_for(started.wait(), timeout=2)
    assert cancelled.is_set()
