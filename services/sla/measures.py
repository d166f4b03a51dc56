"""Compliance and turnaround over closed clocks, grouped: the arithmetic of `$compliance`.

Pure functions over OrderFacts-shaped values (services/sla/facts.py), so that the numbers
can be checked without a database. A clock counts once it has stopped:

- initial population: every clock that stopped in the requested range;
- denominator: those with a deadline (a target applied), so that "met" means something;
- numerator: those that stopped on or before their deadline (`met`);
- breached = denominator - numerator; compliance = numerator / denominator.

Turnaround is the clock's own minutes (elapsed, pauses on hold taken out), not wall time.
Percentiles are nearest-rank (the smallest value with at least p% of the values at or
below it): always a turnaround that really happened, and the usual reading of "90% of
reads were done within x minutes" in service contracts.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

PERCENTILES = (50, 90, 95)
# Turnaround bucket upper bounds, minutes (inclusive), from a stroke read's target to a
# routine read's two days; one more bucket holds everything longer.
TURNAROUND_BUCKETS = (15.0, 30.0, 60.0, 120.0, 240.0, 480.0, 1440.0, 2880.0)


class ClosedClock(Protocol):
    """What the reports read of one order's facts (services.sla.facts.OrderFacts)."""

    @property
    def facility(self) -> str | None: ...
    @property
    def contract(self) -> str | None: ...
    @property
    def modality(self) -> str | None: ...
    @property
    def priority(self) -> str: ...
    @property
    def radiologist(self) -> str | None: ...
    @property
    def stopped_at(self) -> datetime | None: ...
    @property
    def met(self) -> bool | None: ...
    def elapsed_minutes(self, now: datetime) -> float | None: ...


# The dimensions a report may be stratified by, and how each reads a clock.
DIMENSIONS: Mapping[str, Callable[[ClosedClock], str | None]] = {
    "facility": lambda c: c.facility,
    "contract": lambda c: c.contract,
    "modality": lambda c: c.modality,
    "priority": lambda c: c.priority,
    "radiologist": lambda c: c.radiologist,
}


def _day(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _week(moment: datetime) -> datetime:
    day = _day(moment)
    return day - timedelta(days=day.weekday())  # ISO weeks start on Monday


def _month(moment: datetime) -> datetime:
    return _day(moment).replace(day=1)


# Period buckets (UTC), each named by its first instant.
PERIODS: Mapping[str, Callable[[datetime], datetime]] = {
    "day": _day,
    "week": _week,
    "month": _month,
}


def percentile(ordered: Sequence[float], p: float) -> float | None:
    """The nearest-rank p-th percentile of ascending `ordered` (None when empty)."""
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(slots=True)
class Tally:
    """The counts and turnarounds of one group of closed clocks."""

    closed: int = 0
    met: int = 0
    breached: int = 0
    minutes: list[float] = field(default_factory=list)

    def add(self, clock: ClosedClock) -> None:
        self.closed += 1
        if clock.met is True:
            self.met += 1
        elif clock.met is False:
            self.breached += 1
        if clock.stopped_at is not None:
            elapsed = clock.elapsed_minutes(clock.stopped_at)
            if elapsed is not None:
                self.minutes.append(elapsed)

    @property
    def judged(self) -> int:
        """The denominator: closed clocks that had a deadline."""
        return self.met + self.breached

    @property
    def compliance(self) -> float | None:
        """The share of judged clocks that met their deadline (None when none was judged)."""
        return self.met / self.judged if self.judged else None

    def histogram(self) -> list[int]:
        """How many turnarounds fall in each TURNAROUND_BUCKETS bucket (not cumulative),
        the last count being those over the largest bound."""
        counts = [0] * (len(TURNAROUND_BUCKETS) + 1)
        for minutes in self.minutes:
            counts[bisect_left(TURNAROUND_BUCKETS, minutes)] += 1
        return counts

    def percentiles(self) -> dict[int, float | None]:
        """p50, p90, p95 of the clock minutes (nearest rank)."""
        ordered = sorted(self.minutes)
        return {p: percentile(ordered, p) for p in PERCENTILES}


@dataclass(frozen=True, slots=True)
class Stratum:
    """One combination of dimension values (e.g. facility X, priority stat, day D)."""

    values: tuple[tuple[str, str | None], ...]  # (dimension or "period", value)
    tally: Tally


@dataclass(frozen=True, slots=True)
class Compliance:
    """The whole range's tally and, when grouped, one stratum per combination seen."""

    start: datetime
    end: datetime
    by: tuple[str, ...]
    period: str | None
    overall: Tally
    strata: tuple[Stratum, ...]

    @property
    def components(self) -> tuple[str, ...]:
        """The stratifier's components: the dimensions, then the period when asked."""
        return (*self.by, "period") if self.period else self.by


def _key(clock: ClosedClock, by: Sequence[str], period: str | None) -> tuple[str | None, ...]:
    values = [DIMENSIONS[name](clock) for name in by]
    if period is not None and clock.stopped_at is not None:
        values.append(PERIODS[period](clock.stopped_at).isoformat())
    return tuple(values)


def _sort_key(key: tuple[str | None, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((value is None, value or "") for value in key)  # unknowns last


def compliance(
    clocks: Iterable[ClosedClock],
    *,
    start: datetime,
    end: datetime,
    by: Sequence[str] = (),
    period: str | None = None,
) -> Compliance:
    """Tally the clocks that stopped in [start, end), overall and per stratum."""
    unknown = [name for name in by if name not in DIMENSIONS]
    if unknown or (period is not None and period not in PERIODS):
        raise ValueError(f"unknown dimension or period: {unknown or period}")
    overall = Tally()
    groups: dict[tuple[str | None, ...], Tally] = {}
    for clock in clocks:
        if clock.stopped_at is None or not start <= clock.stopped_at < end:
            continue
        overall.add(clock)
        if by or period:
            groups.setdefault(_key(clock, by, period), Tally()).add(clock)
    names = (*by, "period") if period else tuple(by)
    strata = tuple(
        Stratum(tuple(zip(names, key, strict=True)), groups[key])
        for key in sorted(groups, key=_sort_key)
    )
    return Compliance(start, end, tuple(by), period, overall, strata)
