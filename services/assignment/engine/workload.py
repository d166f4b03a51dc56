"""The open reads per reader, kept with running totals so that a decision reads them in
constant time: open count, open RVU, open STAT count, patients; plus RVUs completed in the
balance window and RVUs assigned in the last hour (the RVU/hour cap); each reader's pace,
learnt from their completed reads; and, per reader, their waiting work in reading order
(reading.py), kept until it changes or the maximum-wait guard lifts one of them.

Times only move forward: the hourly ledger forgets assignments older than an hour before
the latest time it was asked about.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.assignment.engine.model import Work
from services.assignment.engine.reading import (
    DEFAULT_MAX_WAIT,
    DEFAULT_READ_SIGMA,
    DISCIPLINES,
    MINUTE,
    Discipline,
    Place,
    Waiting,
    is_stat,
    reading_key,
    remaining_minutes,
    still_waiting,
    urgency,
    waiting_since,
)

__all__ = [
    "DEFAULT_MAX_WAIT",
    "DEFAULT_READ_SIGMA",
    "DISCIPLINES",
    "Discipline",
    "Place",
    "Workload",
    "is_stat",
    "remaining_minutes",
    "urgency",
    "waiting_since",
]

RVU_CAP_PERIOD = timedelta(hours=1)
PACE_PRIOR_READS = 8  # a reader's pace counts as 1.0 over this many reads before their own
PACE_BOUNDS = (0.25, 4.0)  # one read's time over its mean, clipped (interruptions, typos)


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
    waiting: Waiting | None = None  # unstarted work in reading order, until it changes

    def changed(self) -> None:
        self.waiting = None

    def waiting_in_order(
        self, now: datetime, discipline: Discipline, max_wait: timedelta
    ) -> Waiting:
        if self.waiting is None or not self.waiting.good_for(now, discipline, max_wait):
            self.waiting = Waiting.of(
                still_waiting(self.open.values(), self.held),
                now,
                discipline=discipline,
                max_wait=max_wait,
            )
        return self.waiting

    def reading_left(self, now: datetime, sigma: float) -> tuple[bool, float]:
        """Whether a read is in progress, and the minutes predicted left of those that are."""
        pace, reading, minutes = self.pace, False, 0.0
        for work in self.open.values():
            if work.started_at is not None:
                reading = True
                elapsed = (now - work.started_at) / MINUTE
                minutes += remaining_minutes(work.read_minutes * pace, elapsed, sigma)
        return reading, minutes

    def learn_pace(self, work: Work, completed_at: datetime) -> None:
        if work.started_at is None or work.read_minutes <= 0:
            return
        ratio = (completed_at - work.started_at) / MINUTE / work.read_minutes
        self.pace_log += math.log(min(max(ratio, PACE_BOUNDS[0]), PACE_BOUNDS[1]))
        self.timed_reads += 1

    @property
    def pace(self) -> float:
        # Shrunk towards 1: one read says little (a read's own spread is wider than the
        # spread of paces between radiologists), a shift of reads says a lot.
        return math.exp(self.pace_log / (self.timed_reads + PACE_PRIOR_READS))


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
        load.changed()
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
        load.changed()
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
            self._loads[work.reader].changed()

    def hold(self, order_id: str) -> None:
        """Put open work on hold (Task on-hold): still open, read after everything else."""
        work = self.get(order_id)
        if work is not None:
            self._loads[work.reader].held.add(order_id)
            self._loads[work.reader].changed()

    def resume(self, order_id: str) -> None:
        work = self.get(order_id)
        if work is not None:
            self._loads[work.reader].held.discard(order_id)
            self._loads[work.reader].changed()

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
        """The reader's open work in reading order (reading.py)."""
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
        ahead of it in reading order -- and the unstarted work it could delay
        (reading.Waiting.place: a reader between reads may open anything first)."""
        load = self._loads.get(reader_id)
        if load is None:
            return Place(0.0, ())
        reading, left = load.reading_left(now, sigma)
        waiting = load.waiting_in_order(now, discipline, max_wait)
        before, delayed = waiting.place(pending, now, reading=reading)
        pace = load.pace
        return Place(left + before * pace, tuple(delayed), pace)

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
        _, left = load.reading_left(now, sigma)
        waiting, pace = load.waiting_in_order(now, discipline, max_wait), load.pace
        return [
            (w, left + before * pace)
            for w, before in zip(waiting.works, waiting.before[:-1], strict=True)
        ]

    def busy_for(
        self, reader_id: str, now: datetime, *, sigma: float = DEFAULT_READ_SIGMA
    ) -> float:
        """Minutes until the reader is predicted to finish the reads they have open: the
        soonest they could open anything new."""
        load = self._loads.get(reader_id)
        return load.reading_left(now, sigma)[1] if load else 0.0

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
