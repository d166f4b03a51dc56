"""The hard constraints, each passing and failing with a reason a person can act on;
STAT and stroke bypass capacity only, never licensure, privileges or contract."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import MappingProxyType

from services.assignment.engine.engine import Engine, EngineSettings
from services.assignment.engine.model import Exam, Licence, Privilege
from services.assignment.tests.engine.factory import (
    NOW,
    WEEKDAYS,
    constraints_failed,
    contract,
    engine,
    exam,
    reader,
    shift,
    span,
    work,
)


def _details(engine_: Engine, exam_: Exam, now: datetime = NOW) -> list[str]:
    """The failure details of the roster's first reader."""
    return [f.detail for f in engine_.evaluate(exam_, now)[0].failures]


def test_a_reader_meeting_every_constraint_is_eligible_with_its_contract() -> None:
    [candidate] = engine().evaluate(exam(), NOW)
    assert candidate.eligible and candidate.score is not None
    assert candidate.contract is not None and candidate.contract.id == "c1"


def test_an_inactive_or_expired_reading_role_is_not_eligible() -> None:
    ended = engine((reader(span=span(end="2026-11-24")),))
    assert _details(ended, exam()) == ["Reading role is not in force on 2026-11-25"]
    assert constraints_failed(engine((reader(active=False),)), exam()) == {"r1": ["active"]}


def test_a_licence_counts_through_its_last_day_in_utc_and_not_after() -> None:
    last_day = engine((reader(licences=(Licence("TX", span(end="2026-11-25")),)),))
    assert constraints_failed(last_day, exam(), NOW.replace(hour=23, minute=59)) == {"r1": []}
    midnight = NOW.replace(hour=0) + timedelta(days=1)
    assert _details(last_day, exam(), midnight) == [
        "No active licence in TX on 2026-11-26 (expired or not yet valid)"
    ]
    not_yet = engine((reader(licences=(Licence("TX", span(start="2026-11-26")),)),))
    assert constraints_failed(not_yet, exam()) == {"r1": ["licence"]}
    assert constraints_failed(not_yet, exam(), midnight) == {"r1": []}


def test_a_licence_in_another_state_does_not_count() -> None:
    assert _details(engine(), exam(state="NY")) == ["No active licence in NY on 2026-11-25"]
    assert _details(engine(), exam(state=None)) == ["The patient's state is unknown"]


def test_privileges_count_through_their_last_day_and_only_at_their_facility() -> None:
    ending = engine((reader(privileges=(Privilege("f1", span(end="2026-11-25")),)),))
    assert constraints_failed(ending, exam()) == {"r1": []}
    assert constraints_failed(ending, exam(), NOW + timedelta(days=1)) == {"r1": ["privileges"]}
    elsewhere = engine((reader(privileges=(Privilege("f2"),)),))
    assert _details(elsewhere, exam()) == ["No privileges at facility f1 on 2026-11-25"]


def test_without_a_contract_between_the_group_and_the_facility_nobody_reads() -> None:
    other_group = engine(contracts=(contract(group="g2"),))
    assert _details(other_group, exam()) == ["No contract between group g1 and facility f1"]
    ended = engine(contracts=(contract(span=span(end="2026-11-01")),))
    assert _details(ended, exam()) == ["Contract c1 is not in force on 2026-11-25"]
    assert constraints_failed(engine(contracts=(contract(active=False),)), exam()) == {
        "r1": ["contract"]
    }


def test_a_contract_covers_only_its_modalities_and_priorities() -> None:
    ct_only = engine(contracts=(contract(modalities=frozenset({"CT"})),))
    assert constraints_failed(ct_only, exam()) == {"r1": []}
    assert _details(ct_only, exam(modality="MR")) == ["Contract c1 does not cover MR"]
    stat_only = engine(contracts=(contract(priorities=frozenset({"stat"})),))
    assert _details(stat_only, exam()) == ["Contract c1 does not cover routine exams"]
    assert constraints_failed(stat_only, exam(priority="stat")) == {"r1": []}


def test_a_stroke_exam_counts_as_stat_for_a_contract() -> None:
    stat_only = engine(contracts=(contract(priorities=frozenset({"stat"})),))
    assert constraints_failed(stat_only, exam(priority="urgent", stroke=True)) == {"r1": []}


def test_a_contract_covers_only_orders_placed_in_its_hours_in_its_own_time_zone() -> None:
    days = contract(hours=(shift("07:00", "19:00", WEEKDAYS),), timezone="America/Chicago")
    hours = engine(contracts=(days,))
    assert constraints_failed(hours, exam()) == {"r1": []}  # ordered Wed 09:00 Chicago
    saturday = datetime.fromisoformat("2026-11-28T09:00+00:00")  # Sat 03:00 Chicago
    assert _details(hours, exam(ordered_at=saturday), saturday) == [
        "Contract c1 does not cover orders placed Sat 03:00 America/Chicago"
        " (hours Mon-Fri 07:00-19:00)"
    ]


def test_an_order_placed_in_the_contracts_hours_is_still_covered_after_they_close() -> None:
    days = contract(hours=(shift("07:00", "19:00", WEEKDAYS),), timezone="America/Chicago")
    before_close = datetime.fromisoformat("2026-11-25T00:55+00:00")  # Tue 18:55 Chicago
    after_close = datetime.fromisoformat("2026-11-25T01:10+00:00")  # Tue 19:10 Chicago
    late_read = engine(contracts=(days,))
    assert constraints_failed(late_read, exam(ordered_at=before_close), after_close) == {"r1": []}


def test_one_covering_contract_among_several_is_enough() -> None:
    night = contract("c1", hours=(shift("19:00", "07:00"),), timezone="America/Chicago")
    day = contract("c2", hours=(shift("07:00", "19:00"),), timezone="America/Chicago")
    [candidate] = engine(contracts=(night, day)).evaluate(exam(), NOW)
    assert candidate.eligible and candidate.contract is not None
    assert candidate.contract.id == "c2"


def test_an_overflow_contract_alone_makes_nobody_eligible_in_the_normal_pass() -> None:
    overflow = engine(contracts=(contract(kind="overflow"),))
    assert constraints_failed(overflow, exam()) == {"r1": ["contract"]}
    [candidate] = overflow.evaluate(exam(), NOW, groups={"g1"})
    assert candidate.eligible


def test_a_reader_must_read_the_modality() -> None:
    assert _details(engine(), exam(modality="MG")) == ["Does not read MG (reads CT, DX, MR)"]
    assert _details(engine(), exam(modality=None)) == ["The exam's modality is unknown"]


def test_a_contract_naming_a_subspecialist_exam_needs_that_subspecialty() -> None:
    needs_neuro = contract(subspecialist_exams=MappingProxyType({"70450": "neuro"}))
    general = engine((reader(),), (needs_neuro,))
    assert _details(general, exam()) == [
        "Contract c1 requires a neuro subspecialist for exam 70450"
    ]
    neuro = engine((reader(subspecialties=frozenset({"neuro"})),), (needs_neuro,))
    assert constraints_failed(neuro, exam()) == {"r1": []}
    assert constraints_failed(general, exam(code="71250")) == {"r1": []}


def test_a_reader_excluded_from_the_exam_is_not_eligible() -> None:
    assert _details(engine(), exam(excluded=frozenset({"p-r1"}))) == [
        "Excluded from this exam (second read, or declined it)"
    ]
    assert constraints_failed(engine(), exam(excluded=frozenset({"p-r2"}))) == {"r1": []}


def test_a_reader_at_the_open_task_cap_gets_no_routine_work() -> None:
    capped = engine((reader(max_open_tasks=2),))
    capped.workload.add(work("w1"))
    assert constraints_failed(capped, exam()) == {"r1": []}
    capped.workload.add(work("w2"))
    assert _details(capped, exam()) == ["At capacity: 2 open reads (max 2)"]


def test_the_rvu_cap_counts_the_last_hour_of_assignments_only() -> None:
    capped = engine((reader(max_rvu_per_hour=2.0),))
    capped.workload.add(work("w1", rvu=1.5, assigned_at=NOW - timedelta(minutes=30)))
    assert _details(capped, exam()) == [
        "RVU cap: 1.50 assigned in the last hour + 0.83 > 2.00 per hour"
    ]
    assert constraints_failed(capped, exam(), NOW + timedelta(minutes=31)) == {"r1": []}


def test_completed_work_still_counts_against_the_rvu_cap_but_declined_work_does_not() -> None:
    capped = engine((reader(max_rvu_per_hour=2.0),))
    capped.workload.add(work("w1", rvu=1.5))
    capped.workload.remove("w1", completed_at=NOW)
    assert constraints_failed(capped, exam()) == {"r1": ["capacity"]}
    capped.workload.add(work("w2", rvu=1.5))
    capped.workload.remove("w1")  # gone already: no effect
    capped.workload.remove("w2")  # declined
    assert capped.workload.rvu_last_hour("r1", NOW) == 1.5


def test_stat_and_stroke_bypass_capacity_caps() -> None:
    capped = engine((reader(max_open_tasks=1, max_rvu_per_hour=0.5),))
    capped.workload.add(work("w1"))
    assert constraints_failed(capped, exam(priority="stat")) == {"r1": []}
    assert constraints_failed(capped, exam(priority="routine", stroke=True)) == {"r1": []}
    assert constraints_failed(capped, exam(priority="asap")) == {"r1": ["capacity"]}


def test_the_capacity_bypass_can_be_switched_off() -> None:
    strict = engine(
        (reader(max_open_tasks=1),), settings=EngineSettings(stat_bypasses_capacity=False)
    )
    strict.workload.add(work("w1"))
    assert constraints_failed(strict, exam(priority="stat")) == {"r1": ["capacity"]}


def test_stat_and_stroke_never_bypass_licence_privileges_or_contract() -> None:
    readers = (
        reader("unlicensed", licences=(), max_open_tasks=0),
        reader("unprivileged", privileges=(), max_open_tasks=0),
        reader("uncontracted", group="g9", max_open_tasks=0),
    )
    stroke = exam(priority="stat", stroke=True)
    assert constraints_failed(engine(readers), stroke) == {
        "unlicensed": ["licence"],
        "unprivileged": ["privileges"],
        "uncontracted": ["contract"],
    }
    decision = engine(readers).choose(stroke, NOW)
    assert decision.reader is None


def test_every_failure_is_listed_in_constraint_order() -> None:
    hopeless = reader(
        active=False,
        licences=(),
        privileges=(),
        group="g9",
        modalities=frozenset({"US"}),
        timezone="America/Chicago",
        shifts=(shift("20:00", "22:00"),),
        max_open_tasks=0,
    )
    failed = constraints_failed(
        engine((hopeless,)), exam(excluded=frozenset({"p-r1"}), priority="urgent")
    )
    assert failed == {
        "r1": [
            "active",
            "licence",
            "privileges",
            "contract",
            "modality",
            "shift",
            "conflict",
            "capacity",
        ]
    }
