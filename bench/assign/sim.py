"""The discrete-event simulation: one policy over the world and its arrivals.

Events: an order arrives (the policy decides); a radiologist answers an assignment (accepts,
declines -- re-routed without them -- or never answers within the acceptance timeout, a
third of it for STAT and stroke as the service's sweeper has it, as a no-show never does:
then operations mark them unavailable for the rest of the shift and their work is
re-routed); a radiologist comes on shift (orders waiting are retried) and goes off
(unstarted work is re-routed; a read in progress is finished); a read ends (the next one in
the engine's reading order starts); every few minutes, as the service's sweeper does, work
its reader may no longer read is re-routed (Engine.stranded) and the orders nobody could
take are retried; then, and whenever a radiologist becomes free, work stuck behind a long
read moves (Engine.rebalance: the engine only); a partner vendor returns an overflowed read
after its own turnaround.

Chance is drawn from the order, the assignment number and the seed, never from the order of
events, so every policy meets the same declines, no-shows and read times.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from bench.assign.arrivals import Arrival
from bench.assign.hours import Window, weekly_windows
from bench.assign.policies import Policy
from bench.assign.world import World
from services.assignment.engine.model import Decision, Reader, Roster


@dataclass(frozen=True, slots=True)
class Behaviour:
    decline_share: float = 0.03
    no_accept_share: float = 0.01  # a present radiologist who does not answer in time
    no_show_share: float = 0.02  # of shifts
    accept_timeout: timedelta = timedelta(minutes=10)
    # As the service's sweeper does (services/assignment/sweeper.py: accept_deadline).
    stat_accept_share: float = 1 / 3  # of accept_timeout, for STAT and stroke
    accept_minutes: tuple[float, float] = (0.2, 2.0)  # how soon a present radiologist accepts
    retry_every: timedelta = timedelta(minutes=5)
    drain: timedelta = timedelta(days=2)  # after the last arrival, to finish the work


@dataclass(slots=True)
class OrderState:
    arrival: Arrival
    deadline: datetime
    reader: str | None = None
    assignments: int = 0
    accepted: bool = False
    excluded: frozenset[str] = frozenset()
    waiting_since: datetime | None = None  # unassigned since
    waited: timedelta = timedelta()
    ever_assigned: bool = False
    started_at: datetime | None = None
    done_at: datetime | None = None
    vendor: str | None = None
    declines: int = 0
    timeouts: int = 0


@dataclass(slots=True)
class ReaderState:
    reader: Reader
    windows: list[Window]
    absent: set[datetime]  # starts of the shifts this radiologist does not show up for
    on_shift: bool = False
    present: bool = False
    shift_end: datetime | None = None
    reading: str | None = None
    rvu_read: float = 0.0
    reads: int = 0


@dataclass
class Outcome:
    policy: str
    orders: list[OrderState]
    readers: list[ReaderState]
    latencies: list[float]
    cpu: list[float]
    counts: Counter[str] = field(default_factory=Counter)
    present_hours: dict[str, float] = field(default_factory=dict)


class Simulation:
    """One policy's day: call run()."""

    def __init__(
        self,
        world: World,
        arrivals: list[Arrival],
        policy: Policy,
        *,
        start: datetime,
        end: datetime,
        seed: int,
        behaviour: Behaviour | None = None,
    ) -> None:
        self.world, self.policy, self.seed = world, policy, seed
        # In UTC throughout: an aware datetime adds a timedelta on its own wall clock, so
        # "now + 22 min" at 01:59 US Eastern on the night the clocks go back is an hour late.
        self.start, self.end = start.astimezone(UTC), end.astimezone(UTC)
        self.behaviour = behaviour or Behaviour()
        self.stop = self.end + self.behaviour.drain
        self.roster = world.roster
        self.arrivals = arrivals
        self.orders: dict[str, OrderState] = {}
        self.waiting: set[str] = set()
        self.open_orders = 0
        self.counts: Counter[str] = Counter()
        self.present_hours: dict[str, float] = {}
        self._events: list[tuple[datetime, int, str, tuple[Any, ...]]] = []
        self._seq = count()
        self.readers = {r.id: self._reader_state(r) for r in world.readers if r.active}

    # ----------------------------------------------------------------- set-up
    def _reader_state(self, reader: Reader) -> ReaderState:
        windows = weekly_windows(reader.shifts, reader.timezone, self.start, self.stop)
        absent = {
            b
            for b, _ in windows
            if self._chance("no-show", reader.id, b.isoformat()) < self.behaviour.no_show_share
        }
        for begin, finish in windows:
            self._push(begin, "on", (reader.id, finish))
            self._push(finish, "off", (reader.id,))
        return ReaderState(reader, windows, absent)

    def _chance(self, *key: str) -> float:
        return random.Random(":".join((str(self.seed), *key))).random()

    def _push(self, when: datetime, kind: str, payload: tuple[Any, ...]) -> None:
        heapq.heappush(self._events, (when.astimezone(UTC), next(self._seq), kind, payload))

    # ----------------------------------------------------------------- the loop
    def run(self) -> Outcome:
        """Simulate until every order is read or the drain period ends."""
        for arrival in self.arrivals:
            self._push(arrival.exam.ordered_at, "arrive", (arrival,))
        self._push(self.start, "retry", ())
        remaining = len(self.arrivals)
        handlers: dict[str, Callable[..., None]] = {
            "arrive": self._arrive,
            "on": self._on_shift,
            "off": self._off_shift,
            "answer": self._answer,
            "done": self._done,
            "vendor": self._vendor_done,
            "retry": self._retry,
        }
        while self._events:
            now, _, kind, payload = heapq.heappop(self._events)
            if now > self.stop:
                break
            if kind == "arrive":
                remaining -= 1
            handlers[kind](now, *payload)
            if remaining == 0 and self.open_orders == 0:
                break
        self._account_hours()
        return Outcome(
            policy=self.policy.name,
            orders=list(self.orders.values()),
            readers=list(self.readers.values()),
            latencies=self.policy.latencies,
            cpu=self.policy.cpu,
            counts=self.counts,
            present_hours=dict(self.present_hours),
        )

    def _arrive(self, now: datetime, arrival: Arrival) -> None:
        order = OrderState(arrival, self.policy.engine.deadline(arrival.exam))
        self.orders[arrival.exam.order_id] = order
        self.open_orders += 1
        self._assign(order, now)

    def _retry(self, now: datetime) -> None:
        self._reroute_stranded(now)
        self._retry_waiting(now)
        self._rebalance(now)
        self._push(now + self.behaviour.retry_every, "retry", ())

    def _reroute_stranded(self, now: datetime) -> None:
        """What the service's sweeper does with Engine.stranded: a reader who may or can
        no longer read unstarted work (e.g. a licence lapsed at midnight) loses it."""
        for work in self.policy.engine.stranded(now):
            order = self.orders[work.order_id]
            if order.started_at is None and order.reader == work.reader:
                self.counts["re-routed: no longer eligible"] += 1
                self._take_back(order, now)
                self._assign(order, now)

    def _rebalance(self, now: datetime) -> None:
        """What the service's sweeper does with Engine.rebalance: unstarted work stuck
        behind a long read moves to a reader who finishes it sooner."""
        for work in self.policy.engine.rebalance(now):
            order = self.orders[work.order_id]
            if order.started_at is None and order.reader == work.reader:
                self.counts["moved to a reader free sooner"] += 1
                self._take_back(order, now)
                self._assign(order, now)

    # ----------------------------------------------------------------- deciding
    def _assign(self, order: OrderState, now: datetime) -> None:
        exam = replace(order.arrival.exam, excluded=order.excluded)
        decision = self.policy.decide(exam, now)
        if decision.reader is not None:
            self._give(order, decision, now)
        elif decision.overflow:
            self._overflow(order, decision, now)
        else:
            self.counts[f"unassigned: {decision.reason}"] += 1
            if order.waiting_since is None:
                order.waiting_since = now
                self.waiting.add(order.arrival.exam.order_id)

    def _stop_waiting(self, order: OrderState, now: datetime) -> None:
        if order.waiting_since is not None:
            order.waited += now - order.waiting_since
            order.waiting_since = None
            self.waiting.discard(order.arrival.exam.order_id)

    def _give(self, order: OrderState, decision: Decision, now: datetime) -> None:
        assert decision.reader is not None
        reader = decision.reader
        self._stop_waiting(order, now)
        order.reader, order.accepted, order.ever_assigned = reader.id, False, True
        order.assignments += 1
        self.policy.engine.assign(decision, now)
        self._push(*self._answer_of(order, reader.id, now))

    def _answer_of(
        self, order: OrderState, reader_id: str, now: datetime
    ) -> tuple[datetime, str, tuple[Any, ...]]:
        """When and how the radiologist answers this assignment."""
        key = (order.arrival.exam.order_id, str(order.assignments))
        draw = self._chance("answer", *key)
        state = self.readers[reader_id]
        exam = order.arrival.exam
        timeout = self.behaviour.accept_timeout
        if exam.stroke or exam.priority == "stat":
            timeout *= self.behaviour.stat_accept_share
        late = now + timeout
        if not state.present or draw < self.behaviour.no_accept_share:
            answer, when = "timeout", late
        elif draw < self.behaviour.no_accept_share + self.behaviour.decline_share:
            answer, when = "decline", now + timedelta(minutes=1 + 3 * self._chance("d", *key))
        else:
            low, high = self.behaviour.accept_minutes
            answer, when = (
                "accept",
                now + timedelta(minutes=low + (high - low) * self._chance("a", *key)),
            )
        return when, "answer", (order.arrival.exam.order_id, order.assignments, reader_id, answer)

    def _overflow(self, order: OrderState, decision: Decision, now: datetime) -> None:
        assert decision.contract is not None
        self._stop_waiting(order, now)
        vendor = self.world.vendors[decision.contract.group]
        exam = order.arrival.exam
        key = "stroke" if exam.stroke else exam.priority
        median = vendor.median_minutes.get(key) or vendor.median_minutes["routine"]
        minutes = median * math.exp(vendor.sigma * order.arrival.vendor_draw)
        order.vendor = vendor.group
        self.counts[f"overflow to {vendor.group}"] += 1
        self._push(now + timedelta(minutes=minutes), "vendor", (exam.order_id,))

    # ----------------------------------------------------------------- answers and reads
    def _answer(
        self, now: datetime, order_id: str, number: int, reader_id: str, answer: str
    ) -> None:
        order = self.orders[order_id]
        if order.assignments != number or order.reader != reader_id or order.done_at:
            return  # re-routed meanwhile
        if answer == "accept":
            order.accepted = True
            self._read_next(reader_id, now)
            return
        self.counts[answer] += 1
        if answer == "decline":
            order.declines += 1
        else:
            order.timeouts += 1
        self._take_back(order, now)
        order.excluded |= {self.readers[reader_id].reader.practitioner}
        if answer == "timeout" and not self.readers[reader_id].present:
            self._mark_unavailable(reader_id, now)
        self._assign(order, now)

    def _take_back(self, order: OrderState, now: datetime) -> None:
        self.policy.workload.remove(order.arrival.exam.order_id)
        order.reader, order.accepted = None, False

    def _read_next(self, reader_id: str, now: datetime) -> None:
        state = self.readers[reader_id]
        if state.reading or not (state.on_shift and state.present):
            return
        for work in self.policy.engine.queue(reader_id, now):
            order = self.orders[work.order_id]
            if order.accepted and order.started_at is None:
                self.policy.workload.start(work.order_id, now)
                order.started_at, state.reading = now, work.order_id
                minutes = order.arrival.read_minutes * self.world.speed[reader_id]
                self._push(now + timedelta(minutes=minutes), "done", (reader_id, work.order_id))
                return

    def _done(self, now: datetime, reader_id: str, order_id: str) -> None:
        order, state = self.orders[order_id], self.readers[reader_id]
        self.policy.workload.remove(order_id, completed_at=now)
        order.done_at, state.reading = now, None
        self.open_orders -= 1
        if order.started_at and order.started_at < self.end:
            state.rvu_read += order.arrival.exam.rvu
            state.reads += 1
        self._read_next(reader_id, now)
        if state.reading is None:  # free now: work stuck elsewhere may come here
            self._rebalance(now)

    def _vendor_done(self, now: datetime, order_id: str) -> None:
        self.orders[order_id].done_at = now
        self.open_orders -= 1

    # ----------------------------------------------------------------- shifts
    def _on_shift(self, now: datetime, reader_id: str, shift_end: datetime) -> None:
        state = self.readers[reader_id]
        state.on_shift, state.shift_end = True, shift_end
        state.present = now not in state.absent
        if not state.present:
            self.counts["no-show"] += 1
        self._read_next(reader_id, now)
        self._retry_waiting(now)
        self._rebalance(now)

    def _retry_waiting(self, now: datetime) -> None:
        for order_id in sorted(self.waiting, key=lambda o: (self.orders[o].deadline, o)):
            self._assign(self.orders[order_id], now)

    def _off_shift(self, now: datetime, reader_id: str) -> None:
        state = self.readers[reader_id]
        state.on_shift = state.present = False
        self._reroute_unstarted(reader_id, now, "re-routed at shift end")

    def _reroute_unstarted(self, reader_id: str, now: datetime, why: str) -> None:
        for work in list(self.policy.workload.open_for(reader_id)):
            order = self.orders[work.order_id]
            if order.started_at is None:
                self.counts[why] += 1
                self._take_back(order, now)
                self._assign(order, now)

    def _mark_unavailable(self, reader_id: str, now: datetime) -> None:
        """Operations notice a no-show: unavailable until the shift ends, work re-routed."""
        state = self.readers[reader_id]
        if state.shift_end is None or any(b <= now < e for b, e in state.reader.unavailable):
            return
        state.reader = replace(
            state.reader, unavailable=(*state.reader.unavailable, (now, state.shift_end))
        )
        readers = tuple(
            self.readers[r.id].reader if r.id in self.readers else r for r in self.roster.readers
        )
        self.roster = Roster(readers=readers, contracts=self.roster.contracts)
        self.policy.engine.replace_roster(self.roster)
        self.counts["marked unavailable"] += 1
        self._reroute_unstarted(reader_id, now, "re-routed from a no-show")

    def _account_hours(self) -> None:
        """Hours each radiologist was on shift and present within the simulated days."""
        for state in self.readers.values():
            hours = 0.0
            for begin, finish in state.windows:
                if begin in state.absent:
                    continue
                overlap = (min(finish, self.end) - max(begin, self.start)).total_seconds()
                hours += max(overlap, 0.0) / 3600
            self.present_hours[state.reader.id] = hours
