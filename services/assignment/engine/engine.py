"""The assignment engine: which readers may read an exam (hard constraints, constraints.py),
and which of them should (the policy: scoring.py by default, baselines in policies.py), in
memory, fast enough to decide in well under 10 ms with 1,000 readers and 10,000 open reads.

The roster is indexed when it is replaced: state -> licensed readers, facility -> readers
with privileges there, group -> readers, (facility, group) -> contracts. A decision looks
only at readers both licensed in the patient's state and privileged at the facility (a
set intersection); `evaluate` and explained decisions judge every reader in the roster.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from services.assignment.engine import rerouting
from services.assignment.engine.constraints import (
    ANY_KIND,
    PRIMARY,
    Context,
    judge,
    nobody_reason,
)
from services.assignment.engine.model import (
    Candidate,
    Constraint,
    Contract,
    Decision,
    Exam,
    Failure,
    Licence,
    Privilege,
    Reader,
    Roster,
    Work,
)
from services.assignment.engine.policies import Policy, Scoring
from services.assignment.engine.scoring import ScoreInputs, Weights, score_all
from services.assignment.engine.workload import DEFAULT_MAX_WAIT, DEFAULT_READ_SIGMA, Workload

# Turnaround when no contract sets a target for the priority (domain.md, field figures);
# moved here from services/assignment/tasks.py, which keeps its copy until it uses these.
DEFAULT_TURNAROUND: Mapping[str, timedelta] = MappingProxyType(
    {
        "stat": timedelta(hours=1),  # emergent final <= 1 h (Canadian Wait Time Alliance)
        "asap": timedelta(hours=4),
        "urgent": timedelta(hours=12),
        "routine": timedelta(hours=24),
    }
)
OVERFLOW = frozenset({"overflow"})


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Tunables (ASSIGNMENT_* settings in the service, flags in the simulation)."""

    max_wait: timedelta = DEFAULT_MAX_WAIT  # work waiting longer jumps the queue
    stat_bypasses_capacity: bool = True  # STAT and stroke may exceed capacity caps
    balance_window: timedelta = timedelta(hours=12)  # at most this much of a shift counts
    read_sigma: float = DEFAULT_READ_SIGMA  # spread of log read time (reads in progress)
    # Unstarted work predicted to wait longer moves to a reader finishing it that much
    # sooner (a third of it for STAT and stroke); None: never (rerouting.better_placed).
    rebalance_after: timedelta | None = timedelta(minutes=10)
    weights: Weights = field(default_factory=Weights)  # of the scoring terms


def default_turnaround(exam: Exam) -> timedelta:
    """The turnaround of the exam's priority when no contract sets one (stroke: STAT's)."""
    priority = "stat" if exam.stroke else exam.priority
    return DEFAULT_TURNAROUND.get(priority, DEFAULT_TURNAROUND["routine"])


def contract_target(contract: Contract, exam: Exam) -> timedelta | None:
    """The contract's turnaround for the exam: its "stroke" target for a stroke exam when
    it has one, else its target for the exam's priority."""
    if exam.stroke and "stroke" in contract.targets:
        return contract.targets["stroke"]
    return contract.targets.get(exam.priority)


class Engine:
    """Decides who reads each exam over a roster and the open workload (see module doc)."""

    def __init__(
        self,
        roster: Roster,
        *,
        workload: Workload | None = None,
        settings: EngineSettings | None = None,
        policy: Policy | None = None,
    ) -> None:
        self.workload = workload if workload is not None else Workload()
        self.settings = settings or EngineSettings()
        self.policy: Policy = policy or Scoring()
        self.replace_roster(roster)

    def replace_roster(self, roster: Roster) -> None:
        """Take a new roster whole, and index it."""
        self.roster = roster
        self._readers = {reader.id: reader for reader in roster.readers}
        self._rank = {reader.id: i for i, reader in reversed(list(enumerate(roster.readers)))}
        by_state: defaultdict[str, set[str]] = defaultdict(set)
        by_facility: defaultdict[str, set[str]] = defaultdict(set)
        by_group: defaultdict[str, set[str]] = defaultdict(set)
        self._licences: dict[str, dict[str, tuple[Licence, ...]]] = {}
        self._privileges: dict[str, dict[str, tuple[Privilege, ...]]] = {}
        for reader in roster.readers:
            by_group[reader.group].add(reader.id)
            licences: defaultdict[str, list[Licence]] = defaultdict(list)
            for licence in reader.licences:
                licences[licence.state].append(licence)
                by_state[licence.state].add(reader.id)
            privileges: defaultdict[str, list[Privilege]] = defaultdict(list)
            for privilege in reader.privileges:
                privileges[privilege.facility].append(privilege)
                by_facility[privilege.facility].add(reader.id)
            self._licences[reader.id] = {k: tuple(v) for k, v in licences.items()}
            self._privileges[reader.id] = {k: tuple(v) for k, v in privileges.items()}
        self._by_state, self._by_facility, self._by_group = by_state, by_facility, by_group
        contracts: defaultdict[tuple[str, str], list[Contract]] = defaultdict(list)
        of_facility: defaultdict[str, list[Contract]] = defaultdict(list)
        for contract in sorted(roster.contracts, key=lambda c: c.id):
            contracts[(contract.facility, contract.group)].append(contract)
            of_facility[contract.facility].append(contract)
        self._contracts = {key: tuple(value) for key, value in contracts.items()}
        self._of_facility = {key: tuple(value) for key, value in of_facility.items()}

    def reader(self, reader_id: str) -> Reader | None:
        return self._readers.get(reader_id)

    def context(self, exam: Exam, now: datetime, kinds: frozenset[str] = PRIMARY) -> Context:
        """One exam at one instant, for the hard constraints (constraints.Context)."""
        return Context(
            exam=exam,
            now=now,
            workload=self.workload,
            contracts=self._contracts,
            licences=self._licences,
            privileges=self._privileges,
            kinds=kinds,
            stat_bypasses_capacity=self.settings.stat_bypasses_capacity,
        )

    def deadline(self, exam: Exam) -> datetime:
        """exam.deadline if set; else ordered_at plus the tightest target among the primary
        contracts covering the exam when it was ordered; else the default turnaround."""
        if exam.deadline is not None:
            return exam.deadline
        ctx = self.context(exam, exam.ordered_at)
        targets = [
            target
            for contract in self._of_facility.get(exam.facility or "", ())
            if ctx.uncovered(contract) is None
            and (target := contract_target(contract, exam)) is not None
        ]
        return exam.ordered_at + (min(targets) if targets else default_turnaround(exam))

    def _scope(self, groups: Collection[str] | None) -> list[Reader]:
        if groups is None:
            return list(self.roster.readers)
        return [reader for reader in self.roster.readers if reader.group in groups]

    def _inputs(self, exam: Exam, now: datetime, deadline: datetime) -> ScoreInputs:
        return ScoreInputs(
            exam=exam,
            now=now,
            deadline=deadline,
            workload=self.workload,
            weights=self.settings.weights,
            balance_window=self.settings.balance_window,
            max_wait=self.settings.max_wait,
            discipline=self.policy.discipline,
            read_sigma=self.settings.read_sigma,
        )

    def _candidates(
        self,
        exam: Exam,
        now: datetime,
        deadline: datetime,
        readers: Iterable[Reader],
        *,
        groups: Collection[str] | None,
        all_failures: bool,
    ) -> list[Candidate]:
        ctx = self.context(exam, now, PRIMARY if groups is None else ANY_KIND)
        judged = [(reader, *judge(reader, ctx, all_failures=all_failures)) for reader in readers]
        eligible = [reader for reader, failures, _ in judged if not failures]
        scores = score_all(eligible, self._inputs(exam, now, deadline))
        return [
            Candidate(reader, failures, scores.get(reader.id), contract)
            for reader, failures, contract in judged
        ]

    def evaluate(
        self, exam: Exam, now: datetime, *, groups: Collection[str] | None = None
    ) -> list[Candidate]:
        """Every reader in the roster (of `groups`, if given: their overflow contracts
        then count too), in roster order, with all its failures; eligible ones scored."""
        deadline = self.deadline(exam)
        return self._candidates(
            exam, now, deadline, self._scope(groups), groups=groups, all_failures=True
        )

    def licensed_and_privileged(self, exam: Exam) -> set[str]:
        """Ids of the readers holding a licence in the exam's state and privileges at its
        facility (of any date: the constraints judge the dates)."""
        return self._by_state.get(exam.state or "", set()) & self._by_facility.get(
            exam.facility or "", set()
        )

    def _shortlist(self, exam: Exam, groups: Collection[str] | None) -> list[Reader]:
        """Readers both licensed in the exam's state and privileged at its facility."""
        ids = self.licensed_and_privileged(exam)
        if groups is not None:
            ids = {i for i in ids if self._readers[i].group in groups}
        return [self._readers[i] for i in sorted(ids, key=self._rank.__getitem__)]

    def choose(
        self,
        exam: Exam,
        now: datetime,
        *,
        explain: bool = False,
        groups: Collection[str] | None = None,
    ) -> Decision:
        """Who reads `exam`: the policy's pick among the eligible; else the partner vendor
        whose overflow contract covers it; else nobody, with the blocking constraints.
        `groups` limits the readers to those groups and lets their overflow contracts
        count (a vendor assigning within its own roster); `explain` lists every reader."""
        deadline = self.deadline(exam)
        readers = self._scope(groups) if explain else self._shortlist(exam, groups)
        candidates = self._candidates(
            exam, now, deadline, readers, groups=groups, all_failures=explain
        )
        shown = tuple(candidates) if explain else ()
        eligible = [candidate for candidate in candidates if candidate.eligible]
        if eligible:
            chosen, reason = self.policy.pick(
                exam, eligible, deadline=deadline, workload=self.workload, rank=self._rank
            )
            return Decision(
                exam,
                deadline,
                reason,
                reader=chosen.reader,
                contract=chosen.contract,
                score=chosen.score,
                candidates=shown,
            )
        reason = nobody_reason(self._blocked(exam, groups, candidates, explain), exam)
        overflow = self.overflow_contract(exam, now) if groups is None else None
        if overflow is None:
            return Decision(exam, deadline, reason, candidates=shown)
        reason = f"{reason}; overflow to partner {overflow.group} under contract {overflow.id}"
        return Decision(exam, deadline, reason, contract=overflow, candidates=shown)

    def _blocked(
        self,
        exam: Exam,
        groups: Collection[str] | None,
        candidates: list[Candidate],
        explained: bool,
    ) -> Counter[Constraint]:
        """Readers by the first constraint they fail. Without an explanation, readers
        outside the shortlist count as unlicensed, else as without privileges."""
        blocked = Counter(c.failures[0].constraint for c in candidates if c.failures)
        if explained:
            return blocked
        licensed = self._by_state.get(exam.state or "", set())
        for reader in self._scope(groups):
            if reader.id not in licensed:
                blocked[Constraint.LICENCE] += 1
            elif reader.id not in self._by_facility.get(exam.facility or "", set()):
                blocked[Constraint.PRIVILEGES] += 1
        return blocked

    def overflow_contract(self, exam: Exam, now: datetime) -> Contract | None:
        """The partner vendor's overflow contract covering the exam now: the one with the
        shortest turnaround for it (ties: lowest id), or None."""
        ctx = self.context(exam, now, OVERFLOW)
        covering = [
            contract
            for contract in self._of_facility.get(exam.facility or "", ())
            if contract.kind == "overflow" and ctx.uncovered(contract) is None
        ]
        if not covering:
            return None
        return min(
            covering,
            key=lambda c: (contract_target(c, exam) or default_turnaround(exam), c.id),
        )

    def assign(self, decision: Decision, now: datetime) -> Work | None:
        """Count a decision's exam as open work of its reader (none for overflow/nobody)."""
        if decision.reader is None:
            return None
        exam = decision.exam
        work = Work(
            order_id=exam.order_id,
            reader=decision.reader.id,
            priority=exam.priority,
            rvu=exam.rvu,
            read_minutes=exam.read_minutes,
            deadline=decision.deadline,
            assigned_at=now,
            patient=exam.patient,
            stroke=exam.stroke,
            exam=exam,
        )
        self.workload.add(work)
        return work

    def queue(self, reader_id: str, now: datetime) -> list[Work]:
        """The reader's open work in the order they read it (the policy's discipline)."""
        return self.workload.queue(
            reader_id, now, discipline=self.policy.discipline, max_wait=self.settings.max_wait
        )

    def waits(self, reader_id: str, now: datetime) -> list[tuple[Work, float]]:
        """The reader's unstarted work in reading order, with the minutes until each is
        predicted to be opened."""
        return self.workload.starts(
            reader_id,
            now,
            discipline=self.policy.discipline,
            max_wait=self.settings.max_wait,
            sigma=self.settings.read_sigma,
        )

    def busy_for(self, reader_id: str, now: datetime) -> float:
        """Minutes until the reader is predicted to finish the reads they have open."""
        return self.workload.busy_for(reader_id, now, sigma=self.settings.read_sigma)

    def stranded(self, now: datetime) -> list[Work]:
        """Unstarted open work that must leave its reader now: the reader is away or no
        longer passes a hard constraint for it (rerouting.py), by deadline."""
        return rerouting.stranded(self, now)

    def why_stranded(self, work: Work, now: datetime) -> Failure | None:
        """Why `work` must leave its reader now (None when it may stay)."""
        return rerouting.why_stranded(self, work, now)

    def rebalance(self, now: datetime, *, limit: int | None = None) -> list[Work]:
        """Unstarted open work that another reader would finish sooner by more than
        settings.rebalance_after (rerouting.py): to be routed again. `limit` bounds the
        decisions it takes (one per work judged again): a sweep's budget."""
        return rerouting.better_placed(self, now, limit=limit)

    def waiting_past_max(self, now: datetime) -> list[Work]:
        """Unstarted open work assigned longer than max_wait ago, longest waiting first."""
        work = [
            w
            for w in self.workload
            if w.started_at is None and now - w.assigned_at > self.settings.max_wait
        ]
        return sorted(work, key=lambda w: (w.assigned_at, w.order_id))
