"""How a reader works through what they hold: the reading order, and how long a read is
still expected to take.

Reading order, discipline "deadline" (the engine's):
1. started work first (a reader finishes what they opened);
2. STAT and stroke, earliest deadline first (a stroke never waits behind routine work);
3. the maximum-wait guard: other work waiting since it was ordered longer than `max_wait`,
   oldest first -- so a stream of ASAP and urgent work can never starve routine work
   (domain.md: prioritising without a cap grew the longest wait 890 -> 1,293 min);
4. the rest, earliest deadline first;
5. work on hold last.
Baselines: "arrival" (first assigned, first read) and "priority" (stat > asap > urgent >
routine, stroke as stat, then arrival). Ties fall to the order id, so the order is
reproducible.

A read in progress is predicted to take what a lognormal read time of its mean and
spread `sigma` still has to run given the time already spent (`remaining_minutes`): never
done before it ends, and a read that has run long is expected to run on further.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Literal

from services.assignment.engine.model import URGENCY, Work

Discipline = Literal["deadline", "arrival", "priority"]
DISCIPLINES: tuple[Discipline, ...] = ("deadline", "arrival", "priority")
DEFAULT_MAX_WAIT = timedelta(hours=2)
DEFAULT_READ_SIGMA = 0.5  # spread of log read time (an assumption: ~50 % CV around the mean)
MINUTE = timedelta(minutes=1)
Key = tuple[object, ...]


def is_stat(work: Work) -> bool:
    return work.stroke or work.priority == "stat"


def urgency(priority: str, stroke: bool) -> int:
    """Rank of a priority, most urgent 0; stroke counts as STAT."""
    return 0 if stroke else URGENCY.get(priority, len(URGENCY))


def waiting_since(work: Work) -> datetime:
    """When the work began to wait: when it was ordered, else when it was assigned."""
    return work.exam.ordered_at if work.exam is not None else work.assigned_at


def _normal_tail(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def remaining_minutes(mean: float, elapsed: float, sigma: float = DEFAULT_READ_SIGMA) -> float:
    """Expected minutes left of a read whose time is lognormal with `mean` and log-spread
    `sigma`, `elapsed` minutes in: E[T | T > elapsed] - elapsed."""
    if mean <= 0.0:
        return 0.0
    if elapsed <= 0.0 or sigma <= 0.0:
        return max(mean - max(elapsed, 0.0), 0.0)
    mu = math.log(mean) - sigma * sigma / 2
    z = min((math.log(elapsed) - mu) / sigma, 8.0)  # beyond: the ratio's tails underflow
    return max(mean * _normal_tail(z - sigma) / _normal_tail(z) - elapsed, 0.0)


def reading_key(
    work: Work, now: datetime, *, held: bool, discipline: Discipline, max_wait: timedelta
) -> Key:
    """Where `work` stands in its reader's reading order (lower first; last: the order id)."""
    if work.started_at is not None:
        return (0, work.started_at, work.order_id)
    if held:
        return (4, work.assigned_at, work.order_id)
    if discipline == "arrival":
        return (2, work.assigned_at, work.order_id)
    if discipline == "priority":
        return (2, urgency(work.priority, work.stroke), work.assigned_at, work.order_id)
    if is_stat(work):
        return (1, work.deadline, work.assigned_at, work.order_id)
    since = waiting_since(work)
    if now - since > max_wait:
        return (2, since, work.order_id)
    return (3, work.deadline, work.assigned_at, work.order_id)


@dataclass(frozen=True, slots=True)
class Place:
    """Where a new exam would stand in a reader's queue (Workload.place)."""

    ahead: float  # minutes of reading before the reader would reach it
    delayed: tuple[Work, ...]  # unstarted work it could be read before
    pace: float = 1.0  # the reader's read time over the catalogue mean (Workload.pace)


@dataclass(frozen=True, slots=True)
class Waiting:
    """A reader's unstarted work not on hold, in reading order at `at`, with what a
    decision needs of it: keys without the order id, minutes of reading before each.
    Good until the maximum-wait guard lifts one of them (`until`), for one discipline."""

    discipline: Discipline
    max_wait: timedelta
    at: datetime
    until: datetime | None
    keys: list[Key]
    works: list[Work]
    before: list[float]  # before[i]: minutes of reading of works[:i] at pace 1

    @classmethod
    def of(
        cls,
        works: Iterable[Work],
        now: datetime,
        *,
        discipline: Discipline,
        max_wait: timedelta,
    ) -> Waiting:
        keyed = sorted(
            (reading_key(w, now, held=False, discipline=discipline, max_wait=max_wait), w)
            for w in works
        )
        guards = [
            waiting_since(w) + max_wait
            for _, w in keyed
            if discipline == "deadline" and not is_stat(w) and now - waiting_since(w) <= max_wait
        ]
        return cls(
            discipline,
            max_wait,
            now,
            min(guards, default=None),
            [key[:-1] for key, _ in keyed],
            [w for _, w in keyed],
            [0.0, *accumulate(w.read_minutes for _, w in keyed)],
        )

    def good_for(self, now: datetime, discipline: Discipline, max_wait: timedelta) -> bool:
        return (
            self.discipline == discipline
            and self.max_wait == max_wait
            and self.at <= now
            and (self.until is None or now < self.until)
        )

    def place(self, pending: Work, now: datetime, *, reading: bool) -> tuple[float, list[Work]]:
        """Minutes of reading (at pace 1) before `pending`, and the works it could delay.
        A reader between reads (not `reading`) opens the first study they hold as soon as
        they accept it, so that one counts as ahead whatever its rank, and anything they
        hold may be opened after the new one."""
        mine = reading_key(
            pending, now, held=False, discipline=self.discipline, max_wait=self.max_wait
        )[:-1]
        # The pending exam comes after open work of an equal key (assigned before it).
        ahead = bisect_right(self.keys, mine)
        if not reading:
            return self.before[max(ahead, min(1, len(self.works)))], list(self.works)
        return self.before[ahead], self.works[ahead:]


def still_waiting(open_work: Collection[Work], held: Collection[str]) -> list[Work]:
    """The unstarted work of `open_work` not on hold."""
    return [w for w in open_work if w.started_at is None and w.order_id not in held]
