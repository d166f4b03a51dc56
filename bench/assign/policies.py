"""Who gets an order: the engine's scoring, and the baselines it is compared with -- all
the engine's own (services/assignment/engine/policies.py), so every policy passes the same
hard constraints, the same overflow rule (a partner vendor when nobody is eligible) and
the same re-routing of work a reader may no longer read (Engine.stranded), and differs in
its choice among the eligible, in the reading order it gives readers and, for the engine
only, in moving work given earlier:

- engine ("scoring"): deadline first, then RVU balance and preferences; reads STAT first,
  then by deadline with the maximum-wait guard; moves unstarted work stuck behind a long
  read to a reader who would finish it sooner (Engine.rebalance, for the service's
  sweeper to route again as it does Engine.stranded);
- fifo: the first eligible radiologist in roster order; reads in arrival order;
- round-robin: the next eligible radiologist after the last one chosen; reads STAT first,
  then in arrival order;
- least-loaded: the eligible radiologist with the fewest open reads; reads STAT first.
"""

from __future__ import annotations

import time
from datetime import datetime

from services.assignment.engine.engine import Engine, EngineSettings
from services.assignment.engine.model import Decision, Exam, Roster
from services.assignment.engine.policies import make_policy
from services.assignment.engine.workload import Workload

ENGINE_POLICIES = {
    "engine": "scoring",
    "fifo": "fifo",
    "round-robin": "round-robin",
    "least-loaded": "least-loaded",
}
POLICIES = tuple(ENGINE_POLICIES)


def settings_for(name: str, *, rebalance: bool = True) -> EngineSettings:
    """The engine's settings for a policy: the defaults, except that a baseline (and the
    engine when told not to) never moves work it has given (Engine.rebalance)."""
    if name == "engine" and rebalance:
        return EngineSettings()
    return EngineSettings(rebalance_after=None)


class Policy:
    """One policy's engine and workload, and how long its decisions took."""

    def __init__(
        self, name: str, roster: Roster, *, settings: EngineSettings | None = None
    ) -> None:
        self.name = name
        self.workload = Workload()
        self.engine = Engine(
            roster,
            workload=self.workload,
            settings=settings or settings_for(name),
            policy=make_policy(ENGINE_POLICIES[name]),
        )
        self.latencies: list[float] = []  # seconds per decision
        self.cpu: list[float] = []  # CPU seconds per decision (without descheduled time)

    def decide(self, exam: Exam, now: datetime) -> Decision:
        """The policy's decision for `exam` at `now`, timed."""
        began, began_cpu = time.perf_counter(), time.thread_time()
        decision = self.engine.choose(exam, now)
        self.latencies.append(time.perf_counter() - began)
        self.cpu.append(time.thread_time() - began_cpu)
        return decision
