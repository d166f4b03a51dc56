"""How the engine picks among the eligible readers: the scoring (the engine's own policy)
and the baselines the simulated day compares it with. Every policy sees only readers
that pass every hard constraint -- a baseline differs in its choice, never in safety.

- "scoring": the lowest Score (scoring.py); readers read by deadline with the max-wait guard.
- "fifo": the first eligible reader in roster order; reads in arrival order.
- "round-robin": the next eligible reader after the last one chosen, in roster order.
- "least-loaded": the eligible reader with the fewest open reads (ties: reader id).
Round-robin and least-loaded read STAT first, then by arrival ("priority"), as a
radiologist with a plain worklist would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from services.assignment.engine.model import Candidate, Exam
from services.assignment.engine.scoring import best, describe_choice
from services.assignment.engine.workload import Discipline, Workload


class Policy(Protocol):
    """Picks one of the eligible candidates (given in roster order, each scored)."""

    name: str
    discipline: Discipline  # the reading order the policy's readers follow

    def pick(
        self,
        exam: Exam,
        eligible: Sequence[Candidate],
        *,
        deadline: datetime,
        workload: Workload,
        rank: Mapping[str, int],
    ) -> tuple[Candidate, str]: ...


def _of(eligible: Sequence[Candidate]) -> str:
    return f"; of {len(eligible)} eligible"


class Scoring:
    """The engine's policy: deadline first, then balance and preferences (scoring.py)."""

    name = "scoring"

    def __init__(self, discipline: Discipline = "deadline") -> None:
        self.discipline: Discipline = discipline

    def pick(
        self,
        exam: Exam,
        eligible: Sequence[Candidate],
        *,
        deadline: datetime,
        workload: Workload,
        rank: Mapping[str, int],
    ) -> tuple[Candidate, str]:
        chosen = best(eligible)
        return chosen, describe_choice(chosen, eligible, deadline, exam)


class Fifo:
    """The first eligible reader in roster order."""

    name = "fifo"

    def __init__(self, discipline: Discipline = "arrival") -> None:
        self.discipline: Discipline = discipline

    def pick(
        self,
        exam: Exam,
        eligible: Sequence[Candidate],
        *,
        deadline: datetime,
        workload: Workload,
        rank: Mapping[str, int],
    ) -> tuple[Candidate, str]:
        return eligible[0], "First eligible reader in roster order" + _of(eligible)


class RoundRobin:
    """The next eligible reader after the one chosen last, cycling the roster order."""

    name = "round-robin"

    def __init__(self, discipline: Discipline = "priority") -> None:
        self.discipline: Discipline = discipline
        self._last = -1

    def pick(
        self,
        exam: Exam,
        eligible: Sequence[Candidate],
        *,
        deadline: datetime,
        workload: Workload,
        rank: Mapping[str, int],
    ) -> tuple[Candidate, str]:
        after = [c for c in eligible if rank[c.reader.id] > self._last]
        chosen = after[0] if after else eligible[0]
        self._last = rank[chosen.reader.id]
        return chosen, "Next eligible reader in rotation" + _of(eligible)


class LeastLoaded:
    """The eligible reader with the fewest open reads."""

    name = "least-loaded"

    def __init__(self, discipline: Discipline = "priority") -> None:
        self.discipline: Discipline = discipline

    def pick(
        self,
        exam: Exam,
        eligible: Sequence[Candidate],
        *,
        deadline: datetime,
        workload: Workload,
        rank: Mapping[str, int],
    ) -> tuple[Candidate, str]:
        chosen = min(eligible, key=lambda c: (workload.open_count(c.reader.id), c.reader.id))
        count = workload.open_count(chosen.reader.id)
        return chosen, f"Fewest open reads ({count})" + _of(eligible)


POLICIES: Mapping[str, Callable[[], Policy]] = {
    "scoring": Scoring,
    "fifo": Fifo,
    "round-robin": RoundRobin,
    "least-loaded": LeastLoaded,
}


def make_policy(name: str) -> Policy:
    """A fresh policy by name (one of POLICIES); each engine wants its own (round-robin
    keeps a position)."""
    try:
        return POLICIES[name]()
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; one of {', '.join(POLICIES)}") from None
