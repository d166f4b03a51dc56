"""Orders whose clock still runs, by time left to their deadline: the dashboard's first
table and the metrics' open-orders gauge.

Bands are fixed (not per contract) so that a colour and a metric label mean the same for
every order: `breached` (past the deadline), `under-15m`, `15m-1h`, `1h-4h`, `over-4h`,
and `no-deadline` (no target applies yet, e.g. before the read was assigned). A clock on
hold counts in its band; its deadline moves while the hold lasts (facts.deadline).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

# (band, upper bound in minutes left, exclusive); the last band has none.
_BOUNDS = (("breached", 0.0), ("under-15m", 15.0), ("15m-1h", 60.0), ("1h-4h", 240.0))
BANDS = (*(name for name, _ in _BOUNDS), "over-4h", "no-deadline")


class RunningClock(Protocol):
    """What the open-orders view reads of one order's facts (services.sla.facts)."""

    @property
    def order_id(self) -> str: ...
    @property
    def facility(self) -> str | None: ...
    @property
    def modality(self) -> str | None: ...
    @property
    def priority(self) -> str: ...
    @property
    def stroke(self) -> bool: ...
    @property
    def clock(self) -> str: ...
    @property
    def deadline(self) -> datetime | None: ...
    @property
    def on_hold(self) -> bool: ...
    def budget_share(self, now: datetime) -> float | None: ...


def band(minutes_left: float | None) -> str:
    """The time-to-deadline band of `minutes_left` (None: no deadline)."""
    if minutes_left is None:
        return "no-deadline"
    for name, upper in _BOUNDS:
        if minutes_left < upper:
            return name
    return "over-4h"


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """One running clock as operations see it: no patient, only the order and facility."""

    order_id: str
    facility: str | None
    modality: str | None
    priority: str
    stroke: bool
    clock: str
    deadline: datetime | None
    minutes_left: float | None
    budget_share: float | None
    on_hold: bool

    @property
    def band(self) -> str:
        return band(self.minutes_left)


def _minutes_left(clock: RunningClock, now: datetime) -> float | None:
    if clock.deadline is None:
        return None
    return (clock.deadline - now).total_seconds() / 60


def open_orders(clocks: Iterable[RunningClock], now: datetime) -> list[OpenOrder]:
    """The running clocks, least time left first (those without a deadline last)."""
    found = [
        OpenOrder(
            order_id=c.order_id,
            facility=c.facility,
            modality=c.modality,
            priority=c.priority,
            stroke=c.stroke,
            clock=c.clock,
            deadline=c.deadline,
            minutes_left=_minutes_left(c, now),
            budget_share=c.budget_share(now),
            on_hold=c.on_hold,
        )
        for c in clocks
    ]
    return sorted(
        found,
        key=lambda o: (o.minutes_left is None, o.minutes_left or 0.0, o.order_id),
    )
