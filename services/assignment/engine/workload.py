"""The open reads per reader, kept with running totals so that a decision reads them in
constant time: open count, open RVU, open STAT count, patients; plus RVUs completed in the
balance window and RVUs assigned in the last hour (the RVU/hour cap).

Reading order (`queue`), discipline "deadline" (the engine's):
1. started work first (a reader finishes what they opened);
2. the maximum-wait guard: work waiting since its assignment longer than `max_wait` goes
   ahead of everything not started, oldest first -- so a stream of urgent work can never
   starve routine work (domain.md: prioritising without a cap grew the longest wait
   890 -> 1,293 min);
3. then earliest deadline first (stroke and STAT carry the earliest deadlines);
4. work on hold last.
Baselines: "arrival" (first assigned, first read) and "priority" (stat > asap > urgent >
routine, stroke as stat, then arrival). Ties fall to the order id, so the order is
reproducible.

Times only move forward: the hourly ledger forgets assignments older than an hour before
the latest time it was asked about.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from services.assignment.engine.model import URGENCY, Work

Discipline = Literal["deadline", "arrival", "priority"]
DISCIPLINES: tuple[Discipline, ...] = ("deadline", "arrival", "priority")
DEFAULT_MAX_WAIT = timedelta(hours=4)
RVU_CAP_PERIOD = timedelta(hours=1)


def is_stat(work: Work) -> bool:
    return work.stroke or work.priority == "stat"


def urgency(priority: str, stroke: bool) -> int:
    """Rank of a priority, most urgent 0; stroke counts as STAT."""
    return 0 if stroke else URGENCY.get(priority, len(URGENCY))


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

        def key(work: Work) -> tuple[object, ...]:
            if work.started_at is not None:
                return (0, work.started_at, work.order_id)
            if work.order_id in load.held:
                return (4, work.assigned_at, work.order_id)
            if discipline == "arrival":
                return (2, work.assigned_at, work.order_id)
            if discipline == "priority":
                return (2, urgency(work.priority, work.stroke), work.assigned_at, work.order_id)
            if now - work.assigned_at > max_wait:
                return (1, work.assigned_at, work.order_id)
            return (2, work.deadline, work.assigned_at, work.order_id)

        return sorted(load.open.values(), key=key)

    def minutes_ahead(
        self,
        reader_id: str,
        now: datetime,
        *,
        deadline: datetime,
        urgency_rank: int,
        discipline: Discipline = "deadline",
        max_wait: timedelta = DEFAULT_MAX_WAIT,
    ) -> float:
        """Minutes of reading before a new exam (due at `deadline`, of `urgency_rank`)
        would be reached: what is left of started reads plus the queue ahead of it."""
        load = self._loads.get(reader_id)
        if load is None:
            return 0.0
        minutes = 0.0
        for work in load.open.values():
            if work.started_at is not None:
                elapsed = (now - work.started_at).total_seconds() / 60
                minutes += max(work.read_minutes - elapsed, 0.0)
            elif work.order_id in load.held:
                continue
            elif (
                discipline == "arrival"
                or (
                    discipline == "priority" and urgency(work.priority, work.stroke) <= urgency_rank
                )
                or (
                    discipline == "deadline"
                    and (work.deadline <= deadline or now - work.assigned_at > max_wait)
                )
            ):
                minutes += work.read_minutes
        return minutes

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

    def completed_rvu(self, reader_id: str, now: datetime, window: timedelta) -> float:
        """RVUs the reader completed within `window` before `now`."""
        load = self._loads.get(reader_id)
        if load is None:
            return 0.0
        while load.completed and load.completed[0][0] <= now - window:
            load.completed_rvu -= load.completed.popleft()[1]
        if not load.completed:
            load.completed_rvu = 0.0  # no float drift once the window is empty
        return load.completed_rvu

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
