"""Decisions as the service relies on them: deadlines from contracts, the explanation of
every candidate, overflow to a partner vendor, nobody eligible with the reason, and the
work to re-route when readers leave or work waits too long."""

from __future__ import annotations

from datetime import timedelta
from types import MappingProxyType

from services.assignment.engine.model import Licence, Privilege
from services.assignment.tests.engine.factory import (
    NOW,
    contract,
    engine,
    exam,
    reader,
    shift,
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
    assert chosen.readers_off_shift(later) == ["r1"]
    assert [w.order_id for w in chosen.stranded(later)] == ["waiting"]


def test_work_of_a_reader_removed_from_the_roster_is_stranded() -> None:
    chosen = engine((reader("r1"), reader("r2")))
    chosen.workload.add(work("w", "r2"))
    chosen.replace_roster(type(chosen.roster)(readers=(reader("r1"),), contracts=(contract(),)))
    assert [w.order_id for w in chosen.stranded(NOW)] == ["w"]


def test_work_waiting_past_the_maximum_is_listed_longest_first() -> None:
    chosen = engine()
    chosen.workload.add(work("fresh", assigned_at=NOW - HOUR))
    chosen.workload.add(work("older", assigned_at=NOW - 5 * HOUR))
    chosen.workload.add(work("oldest", assigned_at=NOW - 6 * HOUR))
    chosen.workload.start("oldest", NOW)
    assert [w.order_id for w in chosen.waiting_past_max(NOW)] == ["older"]
