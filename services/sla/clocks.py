"""Which interval of an order's timeline counts against its contract, and for how long the
clock was paused: pure rules over recorded facts (docs/sla.md "Clocks").

- A clock is named by its start and stop milestones (CLOCKS). A contract's `sla-target` may
  name the clock of its priority (sub-extension `clock`); without one, STAT and stroke count
  from images available to the preliminary report, everything else from the order to the
  final report (DEFAULT_CLOCKS).
- A clock stopping at the preliminary report also stops at a final one that came without a
  preliminary (a final report is at least as good as a preliminary one).
- Without a contract target for the order, the read Task's deadline stands: assignment
  counts it from the order, so the clock is ordered-to-final and the target is the Task's
  deadline minus the order time.
- Pauses: the clock stops while the read Task is on hold, from the version that put it on
  hold to the next version (by lastUpdated) that took it off; only the part of a hold inside
  the running clock counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

# Clock code -> (start milestone, stop milestone).
CLOCKS: Mapping[str, tuple[str, str]] = {
    "ordered-to-final": ("ordered", "final"),
    "ordered-to-preliminary": ("ordered", "preliminary"),
    "images-to-preliminary": ("images-available", "preliminary"),
    "images-to-final": ("images-available", "final"),
}
STROKE = "stroke"  # a contract term for stroke protocol orders (a priority of sla-target)
DEFAULT_CLOCKS: Mapping[str, str] = {
    STROKE: "images-to-preliminary",
    "stat": "images-to-preliminary",
    "asap": "ordered-to-final",
    "urgent": "ordered-to-final",
    "routine": "ordered-to-final",
}
TASK_DEADLINE_CLOCK = "ordered-to-final"  # how assignment counts the Task's deadline
HOLD = "on-hold"


@dataclass(frozen=True, slots=True)
class Term:
    """A contract's promise for one priority (or stroke): a target and, maybe, its clock."""

    target_minutes: float
    clock: str | None = None


@dataclass(frozen=True, slots=True)
class Pause:
    """One hold of the read Task: from the version that started it to the one that ended it."""

    started_by: str  # "Task/<id>/_history/<version>"
    start: datetime
    end: datetime | None  # None while the Task is still on hold

    def minutes_within(self, start: datetime, end: datetime) -> float:
        """The minutes of this hold inside [start, end]."""
        begin, finish = max(self.start, start), min(self.end or end, end)
        return max((finish - begin).total_seconds() / 60, 0.0)


def term_for(priority: str, stroke: bool, terms: Mapping[str, Term]) -> Term | None:
    """The contract's term for an order: its stroke term for a stroke order when it has one,
    else its priority's (as assignment picks the target)."""
    if stroke and STROKE in terms:
        return terms[STROKE]
    return terms.get(priority)


def default_clock(priority: str, stroke: bool) -> str:
    """The clock of a priority when the contract names none."""
    return DEFAULT_CLOCKS[STROKE] if stroke else DEFAULT_CLOCKS.get(priority, TASK_DEADLINE_CLOCK)


def clock_ends(
    clock: str, milestones: Mapping[str, datetime]
) -> tuple[datetime | None, datetime | None]:
    """When the clock started and stopped (None: not yet)."""
    start, stop = CLOCKS[clock]
    stops = [milestones[m] for m in (stop, "final") if m in milestones]
    stopped = milestones.get(stop) if stop != "preliminary" else min(stops, default=None)
    return milestones.get(start), stopped


def pauses(versions: Iterable[tuple[datetime, str, str]]) -> tuple[Pause, ...]:
    """The holds in the read Task's versions, each (lastUpdated, source, status), in any
    order and with repeats: ordered by lastUpdated, a hold starts at a version on hold after
    one that was not and ends at the next version that is not."""
    found: list[Pause] = []
    current: tuple[str, datetime] | None = None
    for at, source, status in sorted(set(versions)):
        if status == HOLD and current is None:
            current = (source, at)
        elif status != HOLD and current is not None:
            found.append(Pause(current[0], current[1], at))
            current = None
    if current is not None:
        found.append(Pause(current[0], current[1], None))
    return tuple(found)
