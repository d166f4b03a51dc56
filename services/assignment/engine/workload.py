"""The open reads per reader, kept with running totals so that a decision reads them in
constant time: open count, open RVU, open STAT count, patients; plus RVUs completed in the
balance window and RVUs assigned in the last hour (the RVU/hour cap).

Reading order (`queue`), discipline "deadline" (the engine's):
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
done before its mean, and a read that has run long is expected to run on further.

Times only move forward: the hourly ledger forgets assignments older than an hour before
the latest time it was asked about.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from services.assignment.engine.model import URGENCY, Work

Discipline = Literal["deadline", "arrival", "priority"]
DISCIPLINES: tuple[Discipline, ...] = ("deadline", "arrival", "priority")
DEFAULT_MAX_WAIT = timedelta(hours=2)
DEFAULT_READ_SIGMA = 0.5  # spread of log read time (an assumption: ~50 % CV around the mean)
RVU_CAP_PERIOD = timedelta(hours=1)
PACE_PRIOR_READS = 8  # a reader's pace counts as 1.0 over this many reads before their own
PACE_BOUNDS = (0.25, 4.0)  # one read's time over its mean, clipped (interruptions, typos)
_MINUTE = timedelta(minutes=1)
_Key = tuple[object, ...]


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


@dataclass(slots=True)
class _Load:
    open: dict[str, Work] = field(default_factory=dict)
    open_rvu: float = 0.0
    stat_open: int = 0
    patients: Counter[str] = field(default_factory=Counter)
    held: set[str] = field(default_factory=set)
    completed: deque[tuple[datetime, float]] = field(default_factory=deque)
    completed_rvu: float = 0.0
    assigned: dict[str, tuple[datetime, float]] = field(default_factory=dict)
    pace_log: float = 0.0  # sum of log(read time / catalogue mean) of timed reads
    timed_reads: int = 0

    def learn_pace(self, work: Work, completed_at: datetime) -> None:
        if work.started_at is None or work.read_minutes <= 0:
            return
        ratio = (completed_at - work.started_at) / _MINUTE / work.read_minutes
        self.pace_log += math.log(min(max(ratio, PACE_BOUNDS[0]), PACE_BOUNDS[1]))
        self.timed_reads += 1

    @property
    def pace(self) -> float:
        # Shrunk towards 1: one read says little (a read's own spread is wider than the
        # spread of paces between radiologists), a shift of reads says a lot.
        return math.exp(self.pace_log / (self.timed_reads + PACE_PRIOR_READS))


def reading_key(
    work: Work, now: datetime, *, held: bool, discipline: Discipline, max_wait: timedelta
) -> _Key:
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


class Workload:
    """The open reads per reader, and recently completed RVUs (for balance)."""

    def __init__(self) -> None:
        self._loads: dict[str, _Load] = {}
        self._reader_of: dict[str, str] = {}  # order id -> reader id

    def _load(self, reader_id: str) -> _Load:
        load = self._loads.get(reader_id)
        if load is None:
            load = self._loads[reader_id] = _Load()
        return load

    def add(self, work: Work) -> None:
        """Count `work` as open for its reader (replacing any earlier Work of the order)."""
        if work.order_id in self._reader_of:
            self.remove(work.order_id)
        load = self._load(work.reader)
        load.open[work.order_id] = work
        load.open_rvu += work.rvu
        load.stat_open += is_stat(work)
        if work.patient:
            load.patients[work.patient] += 1
        load.assigned[work.order_id] = (work.assigned_at, work.rvu)
        self._reader_of[work.order_id] = work.reader

    def remove(self, order_id: str, *, completed_at: datetime | None = None) -> Work | None:
        """Close an open read: completed (counts for balance) or not (cancelled, declined,
        re-routed: no longer counts against the reader's hourly cap either)."""
        reader_id = self._reader_of.pop(order_id, None)
        if reader_id is None:
            return None
        load = self._loads[reader_id]
        work = load.open.pop(order_id)
        load.open_rvu = max(load.open_rvu - work.rvu, 0.0) if load.open else 0.0
        load.stat_open -= is_stat(work)
        load.held.discard(order_id)
        if work.patient:
            load.patients[work.patient] -= 1
            if load.patients[work.patient] <= 0:
                del load.patients[work.patient]
        if completed_at is None:
            load.assigned.pop(order_id, None)
        else:
            load.completed.append((completed_at, work.rvu))
            load.completed_rvu += work.rvu
            load.learn_pace(work, completed_at)
        return work

    def get(self, order_id: str) -> Work | None:
        reader_id = self._reader_of.get(order_id)
        return None if reader_id is None else self._loads[reader_id].open[order_id]

    def start(self, order_id: str, at: datetime) -> None:
        """The reader opened the study (Task in-progress); resumes it if held."""
        work = self.get(order_id)
        if work is not None:
            work.started_at = work.started_at or at
            self._loads[work.reader].held.discard(order_id)

    def hold(self, order_id: str) -> None:
        """Put open work on hold (Task on-hold): still open, read after everything else."""
        work = self.get(order_id)
        if work is not None:
            self._loads[work.reader].held.add(order_id)

    def resume(self, order_id: str) -> None:
        work = self.get(order_id)
        if work is not None:
            self._loads[work.reader].held.discard(order_id)

    def is_held(self, order_id: str) -> bool:
        work = self.get(order_id)
        return work is not None and order_id in self._loads[work.reader].held

    def open_for(self, reader_id: str) -> list[Work]:
        """The reader's open work, in the order it was assigned."""
        load = self._loads.get(reader_id)
        return list(load.open.values()) if load else []

    def queue(
        self,
        reader_id: str,
        now: datetime,
        *,
        discipline: Discipline = "deadline",
        max_wait: timedelta = DEFAULT_MAX_WAIT,
    ) -> list[Work]:
        """The reader's open work in reading order (see the module docstring)."""
        load = self._loads.get(reader_id)
        if load is None:
            return []
        return sorted(
            load.open.values(),
            key=lambda work: reading_key(
                work, now, held=work.order_id in load.held, discipline=discipline, max_wait=max_wait
            ),
        )

    def place(
        self,
        reader_id: str,
        now: datetime,
        *,
        pending: Work,
        discipline: Discipline = "deadline",
        max_wait: timedelta = DEFAULT_MAX_WAIT,
        sigma: float = DEFAULT_READ_SIGMA,
    ) -> Place:
        """Where `pending` (a new exam, not yet assigned) would stand in the reader's queue:
        the minutes of reading before it -- what is left of reads in progress, the work
        ahead of it in reading order -- and the unstarted work it could delay. A reader
        between reads opens the first study they hold as soon as they accept it, so that
        one counts as ahead whatever its rank, and anything they hold may be opened after
        the new one."""
        load = self._loads.get(reader_id)
        if load is None:
            return Place(0.0, ())
        # The pending exam comes after open work of an equal key (that was assigned first).
        mine = reading_key(pending, now, held=False, discipline=discipline, max_wait=max_wait)[:-1]
        minutes, waiting, reading, pace = 0.0, [], False, load.pace
        for work in load.open.values():
            if work.started_at is not None:
                reading = True
                elapsed = (now - work.started_at) / _MINUTE
                minutes += remaining_minutes(work.read_minutes * pace, elapsed, sigma)
            elif work.order_id not in load.held:
                key = reading_key(work, now, held=False, discipline=discipline, max_wait=max_wait)
                waiting.append((key, work))
        head = min(waiting, key=lambda item: item[0])[1] if waiting and not reading else None
        delayed = []
        for key, work in waiting:
            if work is head or key[:-1] <= mine:
                minutes += work.read_minutes * pace
                if not reading:
                    delayed.append(work)
            else:
                delayed.append(work)
        return Place(minutes, tuple(delayed), pace)

    def starts(
        self,
        reader_id: str,
        now: datetime,
        *,
        discipline: Discipline = "deadline",
        max_wait: timedelta = DEFAULT_MAX_WAIT,
        sigma: float = DEFAULT_READ_SIGMA,
    ) -> list[tuple[Work, float]]:
        """The reader's unstarted work (not on hold) in reading order, each with the
        minutes until the reader is predicted to open it."""
        load = self._loads.get(reader_id)
        if load is None:
            return []
        pace, minutes, waiting = load.pace, 0.0, []
        for work in self.queue(reader_id, now, discipline=discipline, max_wait=max_wait):
            if work.started_at is not None:
                elapsed = (now - work.started_at) / _MINUTE
                minutes += remaining_minutes(work.read_minutes * pace, elapsed, sigma)
            elif work.order_id not in load.held:
                waiting.append((work, minutes))
                minutes += work.read_minutes * pace
        return waiting

    def busy_for(
        self, reader_id: str, now: datetime, *, sigma: float = DEFAULT_READ_SIGMA
    ) -> float:
        """Minutes until the reader is predicted to finish the reads they have open: the
        soonest they could open anything new."""
        load = self._loads.get(reader_id)
        if load is None:
            return 0.0
        minutes = 0.0
        for work in load.open.values():
            if work.started_at is not None:
                elapsed = (now - work.started_at) / _MINUTE
                minutes += remaining_minutes(work.read_minutes * load.pace, elapsed, sigma)
        return minutes

    def minutes_ahead(self, reader_id: str, now: datetime, *, pending: Work, **order: Any) -> float:
        """Minutes of reading before `pending` would be reached (`place`)."""
        return self.place(reader_id, now, pending=pending, **order).ahead

    def pace(self, reader_id: str) -> float:
        """The reader's read time over the catalogue mean, learnt from their completed
        reads (started and completed times), shrunk towards 1.0 while there are few."""
        load = self._loads.get(reader_id)
        return load.pace if load else 1.0

    def open_count(self, reader_id: str) -> int:
        load = self._loads.get(reader_id)
        return len(load.open) if load else 0

    def open_rvu(self, reader_id: str) -> float:
        load = self._loads.get(reader_id)
        return load.open_rvu if load else 0.0

    def stat_open(self, reader_id: str) -> int:
        """Open STAT and stroke reads of the reader."""
        load = self._loads.get(reader_id)
        return load.stat_open if load else 0

    def holds_patient(self, reader_id: str, patient: str | None) -> bool:
        load = self._loads.get(reader_id)
        return bool(patient and load and patient in load.patients)

    def completed_rvu(
        self, reader_id: str, now: datetime, window: timedelta, *, since: datetime | None = None
    ) -> float:
        """RVUs the reader completed within `window` before `now` (and after `since`)."""
        load = self._loads.get(reader_id)
        if load is None:
            return 0.0
        while load.completed and load.completed[0][0] <= now - window:
            load.completed_rvu -= load.completed.popleft()[1]
        if not load.completed:
            load.completed_rvu = 0.0  # no float drift once the window is empty
        if since is None or since <= now - window:
            return load.completed_rvu
        return sum(rvu for at, rvu in load.completed if at > since)

    def rvu_last_hour(self, reader_id: str, now: datetime) -> float:
        """RVUs assigned to the reader within the hour before `now` (open or completed)."""
        load = self._loads.get(reader_id)
        if load is None:
            return 0.0
        since = now - RVU_CAP_PERIOD
        stale = [order for order, (at, _) in load.assigned.items() if at <= since]
        for order in stale:
            del load.assigned[order]
        return sum(rvu for at, rvu in load.assigned.values() if at <= now)

    def readers(self) -> list[str]:
        """Readers holding open work."""
        return [reader for reader, load in self._loads.items() if load.open]

    def __iter__(self) -> Iterator[Work]:
        for load in self._loads.values():
            yield from load.open.values()

    def __len__(self) -> int:
        return len(self._reader_of)
