"""The assignment engine: which readers may read an exam (hard constraints), and which of
them should (score), in memory, fast enough to decide in well under 10 ms with 1,000
readers and 10,000 open Tasks.

SKELETON: signatures agreed between the service (services/assignment/flows.py), the
simulated day (bench/assign) and the engine; bodies to be written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.assignment.engine.model import Candidate, Contract, Decision, Exam, Roster, Work


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Tunables (ASSIGNMENT_* settings in the service, flags in the simulation)."""

    max_wait: timedelta = timedelta(hours=4)  # routine work waiting longer jumps the queue
    stat_bypasses_capacity: bool = True  # STAT and stroke may exceed capacity caps
    balance_window: timedelta = timedelta(hours=8)  # completed RVUs counted for balance


class Workload:
    """The open reads per reader, and recently completed RVUs (for balance)."""

    def add(self, work: Work) -> None: ...
    def remove(self, order_id: str, *, completed_at: datetime | None = None) -> Work | None: ...
    def get(self, order_id: str) -> Work | None: ...
    def start(self, order_id: str, at: datetime) -> None: ...
    def open_for(self, reader_id: str) -> list[Work]: ...
    def queue(self, reader_id: str, now: datetime) -> list[Work]: ...  # reading order
    def __len__(self) -> int: ...


class Engine:
    def __init__(
        self,
        roster: Roster,
        *,
        workload: Workload | None = None,
        settings: EngineSettings | None = None,
    ) -> None: ...

    def replace_roster(self, roster: Roster) -> None: ...

    def deadline(self, exam: Exam) -> datetime: ...

    def evaluate(self, exam: Exam, now: datetime) -> list[Candidate]: ...

    def choose(self, exam: Exam, now: datetime, *, explain: bool = False) -> Decision: ...

    def overflow_contract(self, exam: Exam, now: datetime) -> Contract | None: ...

    def readers_off_shift(self, now: datetime) -> Iterable[str]: ...
