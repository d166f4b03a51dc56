"""Probes of bench/assign_service.py: timers on the service's own functions along a routing
transaction, SQL statements counted per delivery, time in the garbage collector.

A delivery (or a sweep) sets its `Timing` in `current`; the wrapped functions add the time
they took to it (perf_counter, a few microseconds per order) and `work.advance` marks when
the decision lock was taken. Without a current Timing (a roster write, the baseline) the
wrappers only pass through.
"""

from __future__ import annotations

import contextvars
import gc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

from services.assignment import flows, state, sweeper, work
from services.assignment.engine.engine import Engine
from services.assignment.engine.model import Decision
from shared.fhir.service import FhirService

# Stages of a routed order, in the order they happen (ms each, per order).
STAGES = (
    "inbox+lookup",  # from BEGIN: inbox row, the Task lookup before the lock, Patient read
    "advance",  # the UPDATE of the clock row: lock wait + round trip
    "catch_up",  # other replicas' read_work rows since this replica last looked
    "lookup_locked",  # the Task lookup again, under the lock
    "engine",  # Engine.choose(explain=True)
    "task_write",  # FhirService.create of the Task (row, history, index, outbox)
    "read_work",  # the read_work row written and read back
    "audit",  # the decision AuditEvent, its own transaction on the audit database
    "commit",  # COMMIT of the routing transaction (releases the lock)
)


@dataclass(slots=True)
class Timing:
    """The moments and stage times of one delivery (or one sweep)."""

    start: float = field(default_factory=time.perf_counter)
    locked: float | None = None
    stages: dict[str, float] = field(default_factory=dict)
    statements: list[int] = field(default_factory=lambda: [0, 0])  # before / under the lock

    def add(self, stage: str, seconds: float) -> None:
        self.stages[stage] = self.stages.get(stage, 0.0) + seconds


current: contextvars.ContextVar[Timing | None] = contextvars.ContextVar("timing", default=None)
SWEEPS: list[dict[str, float]] = []


class GcClock:
    """Time the process spends in the garbage collector, per generation."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]
        self._began = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._began
            self.collections[info["generation"]] += 1

    def reset(self) -> None:
        self.seconds, self.collections = [0.0, 0.0, 0.0], [0, 0, 0]


def _timed(stage: str | Callable[[Timing], str], original: Callable[..., Awaitable[Any]]) -> Any:
    async def probe(*args: Any, **kwargs: Any) -> Any:
        timing = current.get()
        if timing is None:
            return await original(*args, **kwargs)
        began = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            name = stage(timing) if callable(stage) else stage
            timing.add(name, time.perf_counter() - began)

    return probe


def _timed_advance() -> Any:
    advance = work.advance

    async def timed_advance(session: Any, *, roster: bool = False) -> work.Clock:
        timing = current.get()
        began = time.perf_counter()
        clock = await advance(session, roster=roster)
        if timing is not None:
            timing.locked = time.perf_counter()
            timing.add("advance", timing.locked - began)
        return clock

    return timed_advance


def _timed_choose() -> Any:
    choose = Engine.choose

    def timed_choose(self: Engine, *args: Any, **kwargs: Any) -> Decision:
        timing = current.get()
        began = time.perf_counter()
        try:
            return choose(self, *args, **kwargs)
        finally:
            if timing is not None:
                timing.add("engine", time.perf_counter() - began)

    return timed_choose


def _timed_sweep() -> Any:
    sweep = sweeper.sweep

    async def timed_sweep(app_state: Any, **kwargs: Any) -> int:
        timing = Timing()
        token = current.set(timing)
        try:
            return await sweep(app_state, **kwargs)
        finally:
            current.reset(token)
            end = time.perf_counter()
            held = end - timing.locked if timing.locked else 0.0
            SWEEPS.append(
                {
                    "ms": (end - timing.start) * 1000,
                    "wait_ms": timing.stages.get("advance", 0.0) * 1000,
                    "held_ms": held * 1000,
                }
            )

    return timed_sweep


def install_probes() -> None:
    """Wrap the service functions a routing transaction goes through with timers."""
    work.advance = _timed_advance()
    state.EngineState._catch_up = _timed("catch_up", state.EngineState._catch_up)  # type: ignore[method-assign]
    state.EngineState._load_roster = _timed("roster_load", state.EngineState._load_roster)  # type: ignore[method-assign]
    FhirService.match_ids = _timed(  # type: ignore[method-assign]
        lambda t: "lookup_locked" if t.locked else "lookup_before", FhirService.match_ids
    )
    FhirService.create = _timed("task_write", FhirService.create)  # type: ignore[method-assign]
    flows._remember = _timed("read_work", flows._remember)
    flows._record = _timed("audit", flows._record)
    Engine.choose = _timed_choose()  # type: ignore[method-assign]
    sweeper.sweep = _timed_sweep()


def count_statements(*engines: Any) -> None:
    """Count the SQL statements each delivery sends (BEGIN, COMMIT and the pool's ping are
    not among them), before and under the decision lock, on `engines` (AsyncEngine)."""

    def counted(*_: Any) -> None:
        timing = current.get()
        if timing is not None:
            timing.statements[timing.locked is not None] += 1

    for engine in engines:
        event.listen(engine.sync_engine, "before_cursor_execute", counted)
