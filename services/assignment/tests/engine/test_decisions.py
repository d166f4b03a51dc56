"""Decisions as the service relies on them: deadlines from contracts, the explanation of
every candidate, overflow to a partner vendor, nobody eligible with the reason, and the
work to re-route -- when its reader leaves or may no longer read it, when it waits too
long, when another reader would finish it much sooner."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import pytest

from services.assignment.engine.engine import Engine, EngineSettings
from services.assignment.engine.model import Constraint, Licence, Privilege, Work
from services.assignment.tests.engine.factory import (
    NOW,
    contract,
    engine,
    exam,
    reader,
    shift,
    span,
    work,
)

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def test_the_deadline_comes_from_the_exam_the_contract_or_the_default() -> None:
    targets = MappingProxyType({"stat": 30 * MINUTE, "stroke": 15 * MINUTE})
    chosen = engine(contracts=(contract(targets=targets),))
    assert chosen.deadline(exam(deadline=NOW + 5 * HOUR)) == NOW + 5 * HOUR
    assert chosen.deadline(exam(priority="stat")) == NOW + 30 * MINUTE
    assert chosen.deadline(exam(priority="stat", stroke=True)) == NOW + 15 * MINUTE
    assert chosen.deadline(exam(priority="urgent")) == NOW + 12 * HOUR  # no target: default
    assert engine().deadline(exam(priority="asap")) == NOW + 4 * HOUR
    assert engine().deadline(exam(priority="routine", stroke=True)) == NOW + HOUR


def test_the_tightest_covering_primary_contract_sets_the_deadline() -> None:
    loose = contract("c1", targets=MappingProxyType({"routine": 20 * HOUR}))
    tight = contract("c2", group="g2", targets=MappingProxyType({"routine": 8 * HOUR}))
    other_modality = contract(
        "c3", modalities=frozenset({"MR"}), targets=MappingProxyType({"routine": HOUR})
    )
    vendor = contract("c4", kind="overflow", targets=MappingProxyType({"routine": HOUR}))
    chosen = engine(contracts=(loose, tight, other_modality, vendor))
    assert chosen.deadline(exam()) == NOW + 8 * HOUR


def test_an_explained_decision_lists_every_reader_with_all_its_failures() -> None:
    readers = (
        reader("r1", shifts=(shift("20:00", "22:00"),)),
        reader("r2"),
        reader("r3", licences=(Licence("NY"),), modalities=frozenset({"US"})),
    )
    chosen = engine(readers)
    decision = chosen.choose(exam(), NOW, explain=True)
    assert decision.reader is not None and decision.reader.id == "r2"
    failures = {c.reader.id: [f.constraint.value for f in c.failures] for c in decision.candidates}
    assert failures == {"r1": ["shift"], "r2": [], "r3": ["licence", "modality"]}
    scored = {c.reader.id for c in decision.candidates if c.score is not None}
    assert scored == {"r2"}
    assert chosen.choose(exam(), NOW).candidates == ()


def test_an_explained_decision_chooses_as_the_fast_one_does() -> None:
    readers = tuple(reader(f"r{n}") for n in range(5))
    chosen = engine(readers)
    for n in range(5):
        chosen.workload.add(work(f"w{n}", f"r{n}", rvu=float(5 - n)))
    fast, explained = chosen.choose(exam(), NOW), chosen.choose(exam(), NOW, explain=True)
    assert fast.reader == explained.reader and fast.score == explained.score
    assert fast.reason == explained.reason


def test_nobody_eligible_overflows_to_the_vendor_whose_contract_covers_it() -> None:
    off = reader("r1", shifts=(shift("20:00", "22:00"),))
    vendor = contract("ov2", group="v1", kind="overflow")
    mr_only = contract("ov1", group="v2", kind="overflow", modalities=frozenset({"MR"}))
    chosen = engine((off,), (contract(), vendor, mr_only))
    decision = chosen.choose(exam(), NOW)
    assert decision.overflow and decision.contract is not None
    assert decision.contract.id == "ov2" and decision.reader is None
    assert decision.reason == (
        "No eligible reader: 1 off shift or unavailable; overflow to partner v1 under contract ov2"
    )


def test_the_overflow_contract_with_the_shortest_turnaround_wins() -> None:
    slow = contract("a", group="v1", kind="overflow", targets=MappingProxyType({"stat": HOUR}))
    fast = contract("b", group="v2", kind="overflow", targets=MappingProxyType({"stat": MINUTE}))
    chosen = engine((reader(licences=()),), (slow, fast))
    overflow = chosen.overflow_contract(exam(priority="stat"), NOW)
    assert overflow is not None and overflow.id == "b"


def test_a_vendor_assigns_within_its_own_roster_under_its_overflow_contract() -> None:
    ours = reader("r1", shifts=(shift("20:00", "22:00"),))
    theirs = reader("v-r1", group="v1")
    chosen = engine((ours, theirs), (contract(), contract("ov", group="v1", kind="overflow")))
    assert chosen.choose(exam(), NOW).overflow
    decision = chosen.choose(exam(), NOW, groups={"v1"})
    assert decision.reader is not None and decision.reader.id == "v-r1"
    assert decision.contract is not None and decision.contract.id == "ov"


def test_with_nobody_and_no_overflow_the_reason_counts_what_blocks() -> None:
    readers = (
        reader("a", shifts=(shift("20:00", "22:00"),)),
        reader("b", shifts=(shift("20:00", "22:00"),)),
        reader("c", licences=(Licence("NY"),)),
        reader("d", privileges=(Privilege("f2"),)),
    )
    for explain in (False, True):
        decision = engine(readers).choose(exam(), NOW, explain=explain)
        assert decision.reader is None and decision.contract is None
        assert decision.reason == (
            "No eligible reader: 2 off shift or unavailable, 1 without a TX licence,"
            " 1 without privileges at the facility"
        )
        assert decision.deadline == NOW + 24 * HOUR


def test_an_empty_roster_says_so() -> None:
    assert engine((reader(group="g9"),)).choose(exam(), NOW, groups={"v1"}).reason == (
        "No eligible reader: no reader in the roster"
    )


def test_assigning_a_decision_opens_work_for_the_reader() -> None:
    chosen = engine()
    decision = chosen.choose(exam(priority="stat"), NOW)
    opened = chosen.assign(decision, NOW)
    assert opened is not None and chosen.workload.get("o1") == opened
    assert opened.deadline == NOW + HOUR and opened.reader == "r1"
    assert chosen.queue("r1", NOW) == [opened]


def test_unstarted_work_of_a_reader_gone_off_shift_is_stranded() -> None:
    leaving = reader("r1", shifts=(shift("08:00", "10:00"),))  # Chicago: until 16:00 UTC
    chosen = engine((leaving, reader("r2")))
    chosen.workload.add(work("opened", "r1"))
    chosen.workload.start("opened", NOW)
    chosen.workload.add(work("waiting", "r1"))
    chosen.workload.add(work("elsewhere", "r2"))
    assert chosen.stranded(NOW) == []
    later = NOW + 2 * HOUR
    assert [w.order_id for w in chosen.stranded(later)] == ["waiting"]
    [waiting] = chosen.stranded(later)
    failure = chosen.why_stranded(waiting, later)
    assert failure is not None and failure.constraint is Constraint.SHIFT


def test_work_of_a_reader_removed_from_the_roster_is_stranded() -> None:
    chosen = engine((reader("r1"), reader("r2")))
    chosen.workload.add(work("w", "r2"))
    chosen.replace_roster(type(chosen.roster)(readers=(reader("r1"),), contracts=(contract(),)))
    assert [w.order_id for w in chosen.stranded(NOW)] == ["w"]


def _assigned(chosen: Engine, order_id: str = "o1", **changes: Any) -> Work:
    decision = chosen.choose(exam(order_id, **changes), NOW)
    opened = chosen.assign(decision, NOW)
    assert opened is not None
    return opened


def _stranded_by(chosen: Engine, now: datetime) -> list[str]:
    found = []
    for w in chosen.stranded(now):
        failure = chosen.why_stranded(w, now)
        found.append(failure.constraint.value if failure else "-")
    return found


@pytest.mark.parametrize(
    ("change", "constraint"),
    [
        ({"licences": (Licence("TX", span("2026-01-01", "2026-11-25")),)}, "licence"),
        ({"privileges": (Privilege("f1", span("2026-01-01", "2026-11-25")),)}, "privileges"),
        ({"span": span("2026-01-01", "2026-11-25")}, "active"),
    ],
)
def test_unstarted_work_is_stranded_when_a_lapse_at_midnight_ends_the_readers_right(
    change: dict[str, Any], constraint: str
) -> None:
    chosen = engine((reader(**change),))
    _assigned(chosen)
    assert chosen.stranded(NOW) == []
    after_midnight = datetime.fromisoformat("2026-11-26T00:30+00:00")
    assert _stranded_by(chosen, after_midnight) == [constraint]


def test_unstarted_work_is_stranded_when_the_roster_no_longer_lets_its_reader_read_it() -> None:
    chosen = engine((reader("r1"), reader("r2")))
    _assigned(chosen, "ct")
    opened = _assigned(chosen, "begun")
    chosen.workload.start(opened.order_id, NOW)
    held = {w.reader for w in chosen.workload}
    no_ct = tuple(
        reader(r, modalities=frozenset({"MR"})) if r in held else reader(r) for r in ("r1", "r2")
    )
    chosen.replace_roster(type(chosen.roster)(readers=no_ct, contracts=(contract(),)))
    assert [w.order_id for w in chosen.stranded(NOW)] == ["ct"]  # a read begun is finished
    assert _stranded_by(chosen, NOW) == ["modality"]
    mr_contract = contract(modalities=frozenset({"MR"}))
    chosen.replace_roster(
        type(chosen.roster)(readers=(reader("r1"), reader("r2")), contracts=(mr_contract,))
    )
    assert _stranded_by(chosen, NOW) == ["contract"]


def test_a_reader_at_capacity_keeps_the_work_they_hold() -> None:
    chosen = engine((reader(max_open_tasks=1),))
    _assigned(chosen)
    assert chosen.stranded(NOW) == []


def test_work_stuck_behind_a_long_read_moves_to_a_reader_now_free() -> None:
    chosen = engine((reader("a"), reader("b")))
    for name in ("a", "b"):  # each reading, with another read queued
        chosen.workload.add(work(f"{name}-long", name, read_minutes=16.0))
        chosen.workload.start(f"{name}-long", NOW)
        chosen.workload.add(work(f"{name}-next", name, read_minutes=16.0, deadline=NOW + HOUR))
    queued = _assigned(chosen, "queued", deadline=NOW + 2 * HOUR)
    assert chosen.rebalance(NOW) == []  # nobody would read it sooner
    later = NOW + 40 * MINUTE  # b has read both; a's first read runs on and on
    chosen.workload.start("b-next", NOW + 16 * MINUTE)
    for order in ("b-long", "b-next"):
        chosen.workload.remove(order, completed_at=later)
    assert [w.order_id for w in chosen.rebalance(later)] == [queued.order_id]


def test_work_waiting_a_little_stays_where_it_is() -> None:
    chosen = engine((reader("a"), reader("b")))
    chosen.workload.add(work("short", "a", read_minutes=5.0))
    chosen.workload.start("short", NOW - 4 * MINUTE)
    chosen.workload.add(work("queued", "a", read_minutes=10.0, exam=exam("queued")))
    assert chosen.rebalance(NOW) == []  # opened in about 3 minutes: not worth a move
    never = engine((reader("a"), reader("b")), settings=EngineSettings(rebalance_after=None))
    never.workload.add(work("long", "a", read_minutes=60.0))
    never.workload.start("long", NOW)
    never.workload.add(work("queued", "a", exam=exam("queued")))
    assert never.rebalance(NOW) == []


def test_one_free_reader_receives_one_moved_read_at_a_time() -> None:
    chosen = engine((reader("a"), reader("b")))
    chosen.workload.add(work("long", "a", read_minutes=60.0))
    chosen.workload.start("long", NOW)
    for n in range(3):
        chosen.workload.add(work(f"q{n}", "a", exam=exam(f"q{n}"), deadline=NOW + (n + 1) * HOUR))
    assert [w.order_id for w in chosen.rebalance(NOW)] == ["q0"]
    assert chosen.rebalance(NOW, limit=0) == []  # a sweep's budget of decisions


def test_work_waiting_past_the_maximum_is_listed_longest_first() -> None:
    chosen = engine()
    chosen.workload.add(work("fresh", assigned_at=NOW - HOUR))
    chosen.workload.add(work("older", assigned_at=NOW - 5 * HOUR))
    chosen.workload.add(work("oldest", assigned_at=NOW - 6 * HOUR))
    chosen.workload.start("oldest", NOW)
    assert [w.order_id for w in chosen.waiting_past_max(NOW)] == ["older"]
