"""Breach prediction, pure: when an open order's clock will stop at the current pace, and
which steps of the escalation ladder are due (docs/sla.md, "Breach prediction").

The clock stops at its stop milestone -- `preliminary` or `final` (services.sla.clocks).
What is left before it:

- not accepted yet: the expected wait for acceptance (SLA_ACCEPT_WAIT_MINUTES, a third of
  it for STAT and stroke, as assignment's acceptance window) and the whole read;
- accepted (being read): the read's expected remaining time, `elapsed` minutes in --
  E[T | T > elapsed] - elapsed of a lognormal read time (assignment's reading model), so a
  read running long is expected to run on rather than to end now;
- a final clock whose preliminary is written: the attending's sign-off, FINALISE_SHARE of
  the read (estimate: no published figure in domain.md).

Read times are assignment's exam catalogue per modality (services.assignment.engine.exams,
the means quoted in domain.md) -- one table for both services.

The ladder, each step at most once per order and only while the clock runs (not on hold):
`alert` (predicted late and the budget share used at least the alert share), `reroute`
(still predicted late at the re-route share), `escalate` (still predicted late at the
operations share, or when a re-route found nobody -- decided by the caller) and `breached`
(the deadline passed with the clock still running).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from services.assignment.engine.exams import cost
from services.assignment.engine.reading import remaining_minutes
from services.sla.clocks import CLOCKS

FINALISE_SHARE = 1 / 3  # of the read, for an attending to sign a preliminary off (estimate)


class ClockFacts(Protocol):
    """What prediction needs of an order (services.sla.facts.OrderFacts has it)."""

    @property
    def order_id(self) -> str: ...
    @property
    def modality(self) -> str | None: ...
    @property
    def priority(self) -> str: ...
    @property
    def stroke(self) -> bool: ...
    @property
    def clock(self) -> str: ...
    @property
    def stopped_at(self) -> datetime | None: ...
    @property
    def deadline(self) -> datetime | None: ...
    @property
    def on_hold(self) -> bool: ...
    @property
    def milestones(self) -> Mapping[str, datetime]: ...
    def budget_share(self, now: datetime) -> float | None: ...


class Step(StrEnum):
    """A rung of the escalation ladder."""

    ALERT = "alert"
    REROUTE = "reroute"
    ESCALATE = "escalate"
    BREACHED = "breached"


@dataclass(frozen=True, slots=True)
class Shares:
    """The budget shares at which each step is due (SLA_*_BUDGET_SHARE)."""

    alert: float = 0.5
    reroute: float = 0.75
    operations: float = 0.9


@dataclass(frozen=True, slots=True)
class Prediction:
    """An open order's predicted completion against its effective deadline."""

    order_id: str
    completion: datetime
    deadline: datetime
    share: float  # of the time budget used so far

    @property
    def late(self) -> bool:
        return self.completion > self.deadline

    @property
    def minutes_late(self) -> float:
        return (self.completion - self.deadline).total_seconds() / 60


def stop_milestone(clock: str) -> str:
    """The milestone that stops `clock` (e.g. "images-to-preliminary" -> "preliminary")."""
    return CLOCKS.get(clock, ("ordered", "final"))[1]


def remaining_work_minutes(facts: ClockFacts, now: datetime, accept_wait: float) -> float:
    """Expected minutes until the clock's stop milestone (see the module doc)."""
    read = cost(None, facts.modality)[1]
    stops_at = stop_milestone(facts.clock)
    if stops_at == "final" and "preliminary" in facts.milestones:
        return read * FINALISE_SHARE
    accepted = facts.milestones.get("accepted")
    if accepted is None:
        urgent = facts.priority == "stat" or facts.stroke
        return (accept_wait / 3 if urgent else accept_wait) + read
    elapsed = max((now - accepted).total_seconds() / 60, 0.0)
    return remaining_minutes(read, elapsed)


def predict(facts: ClockFacts, now: datetime, *, accept_wait: float) -> Prediction | None:
    """The order's prediction; None when its clock does not run now (not started, stopped,
    on hold, or no deadline)."""
    share = facts.budget_share(now)
    if facts.stopped_at is not None or facts.on_hold or facts.deadline is None or share is None:
        return None
    minutes = remaining_work_minutes(facts, now, accept_wait)
    return Prediction(facts.order_id, now + timedelta(minutes=minutes), facts.deadline, share)


def due_steps(
    prediction: Prediction, now: datetime, *, shares: Shares, done: Collection[Step]
) -> list[Step]:
    """The ladder's steps due now and not taken before, in ladder order."""
    due: list[Step] = []
    if prediction.late:
        if prediction.share >= shares.alert:
            due.append(Step.ALERT)
        if prediction.share >= shares.reroute:
            due.append(Step.REROUTE)
        if prediction.share >= shares.operations:
            due.append(Step.ESCALATE)
    if now > prediction.deadline:
        due.append(Step.BREACHED)
    return [step for step in due if step not in done]
