"""Choosing among the eligible: the deadline first -- urgent work to whoever reads it
soonest, a long read in progress never taken for a free reader -- then RVU balance per hour
on shift, subspecialists, one patient's studies with one reader; reproducible ties and an
explanation of the choice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.assignment.engine.engine import Engine
from services.assignment.engine.model import Decision
from services.assignment.tests.engine.factory import (
    NOW,
    engine,
    exam,
    reader,
    shift,
    work,
)

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def test_meeting_the_deadline_outweighs_balancing_the_load() -> None:
    chosen = engine((reader("busy"), reader("idle")))
    for n in range(10):  # 20 RVU completed within the balance window
        chosen.workload.add(work(f"done{n}", "busy", rvu=2.0, assigned_at=NOW - 2 * HOUR))
        chosen.workload.remove(f"done{n}", completed_at=NOW - HOUR)
    # the idle reader's queue: five hours of reads due before the exam
    chosen.workload.add(work("long", "idle", rvu=0.5, read_minutes=300, deadline=NOW + HOUR))
    asap = exam(priority="asap")  # due in 4 h
    decision = chosen.choose(asap, NOW)
    assert decision.reader is not None and decision.reader.id == "busy"
    assert decision.score is not None and decision.score.parts["lateness"] == 0.0


def _completed(chosen: Engine, reader_id: str, rvu: float, hours_ago: float) -> None:
    order = f"done-{reader_id}-{rvu}-{hours_ago}"
    chosen.workload.add(work(order, reader_id, rvu=rvu))
    chosen.workload.remove(order, completed_at=NOW - timedelta(hours=hours_ago))


def _reading(chosen: Engine, reader_id: str, minutes_in: float, **changes: Any) -> None:
    order = f"reading-{reader_id}"
    chosen.workload.add(work(order, reader_id, read_minutes=16.0, **changes))
    chosen.workload.start(order, NOW - timedelta(minutes=minutes_in))


def _chosen(decision: Decision) -> str | None:
    return decision.reader.id if decision.reader else None


def test_balance_decides_among_readers_who_would_start_equally_soon() -> None:
    chosen = engine((reader("a"), reader("b")))
    _completed(chosen, "a", 5.0, hours_ago=1)
    assert _chosen(chosen.choose(exam(), NOW)) == "b"


def test_balance_counts_rvus_per_hour_on_shift_not_since_the_day_began() -> None:
    veteran = reader("a", shifts=(shift("01:00", "17:00"),))  # Chicago: on for 8 h at NOW
    newcomer = reader("b", shifts=(shift("08:00", "17:00"),))  # on for 1 h
    chosen = engine((veteran, newcomer))
    _completed(chosen, "a", 8.0, hours_ago=4)  # 1 RVU an hour
    _completed(chosen, "b", 2.0, hours_ago=0.5)  # 2 RVU an hour: the busier of the two
    decision = chosen.choose(exam(), NOW)
    assert _chosen(decision) == "a" and "below the mean load" in decision.reason


def test_a_routine_read_does_not_queue_behind_others_while_someone_is_free() -> None:
    chosen = engine((reader("a"), reader("b")))
    _completed(chosen, "b", 3.0, hours_ago=1)  # b has read more
    _reading(chosen, "a", minutes_in=1)
    chosen.workload.add(work("queued", "a", read_minutes=20.0, deadline=NOW + 2 * HOUR))
    assert _chosen(chosen.choose(exam(), NOW)) == "b"


def test_a_stat_goes_to_the_idle_reader_rather_than_the_busy_subspecialist() -> None:
    neuro = reader("a", subspecialties=frozenset({"neuro"}))
    chosen = engine((neuro, reader("b")))
    _reading(chosen, "a", minutes_in=10, patient="pat-7")  # the same patient's other study
    stat = exam(priority="stat", subspecialty="neuro", patient="pat-7")
    decision = chosen.choose(stat, NOW)
    assert _chosen(decision) == "b"
    assert decision.reason.startswith("Earliest predicted completion")
    with_stroke = chosen.choose(exam("o2", priority="stat", stroke=True, subspecialty="neuro"), NOW)
    assert _chosen(with_stroke) == "b"


def test_a_reader_whose_read_runs_past_its_mean_does_not_look_free() -> None:
    chosen = engine((reader("a"), reader("c")))
    _reading(chosen, "a", minutes_in=30)  # a 16-minute read, 30 minutes in
    decision = chosen.choose(exam(priority="stat"), NOW)
    assert _chosen(decision) == "c"
    [a] = [c for c in chosen.evaluate(exam(priority="stat"), NOW) if c.reader.id == "a"]
    assert a.score is not None and a.score.predicted_completion > NOW + timedelta(minutes=20)


def test_a_stat_goes_to_the_reader_with_the_lowest_open_stat_load() -> None:
    chosen = engine((reader("r1"), reader("r2")))
    _reading(chosen, "r1", minutes_in=5, priority="stat", deadline=NOW + HOUR)
    _reading(chosen, "r2", minutes_in=5)  # as long to go, but a routine read
    decision = chosen.choose(exam(priority="stat"), NOW)
    assert _chosen(decision) == "r2"


def test_a_stat_goes_to_the_reader_who_reads_faster() -> None:
    chosen = engine((reader("a"), reader("b")))
    for n in range(20):  # b has read twenty studies in 70 % of their mean time
        chosen.workload.add(work(f"w{n}", "b", read_minutes=10.0, rvu=0.0))
        chosen.workload.start(f"w{n}", NOW - 2 * HOUR)
        chosen.workload.remove(f"w{n}", completed_at=NOW - 2 * HOUR + timedelta(minutes=7))
    decision = chosen.choose(exam(priority="stat"), NOW)
    assert _chosen(decision) == "b"


def test_new_work_does_not_pile_onto_a_reader_holding_an_unopened_stroke() -> None:
    neuro = reader("a", subspecialties=frozenset({"neuro"}))
    chosen = engine((neuro, reader("b")))
    _completed(chosen, "b", 4.0, hours_ago=1)  # a is below the mean load
    stroke = work("stroke", "a", priority="stat", stroke=True, deadline=NOW + 18 * MINUTE)
    chosen.workload.add(stroke)  # assigned, not yet opened: a may open the new one first
    decision = chosen.choose(exam(subspecialty="neuro"), NOW)
    assert _chosen(decision) == "b"


def test_a_subspecialist_is_preferred() -> None:
    neuro = reader("r2", subspecialties=frozenset({"neuro"}))
    decision = engine((reader("r1"), neuro)).choose(exam(subspecialty="neuro"), NOW)
    assert decision.reader is not None and decision.reader.id == "r2"
    assert "neuro subspecialist" in decision.reason


def test_a_patients_open_studies_stay_with_one_reader_who_reads_them_as_soon() -> None:
    chosen = engine((reader("r1"), reader("r2")))
    _reading(chosen, "r1", minutes_in=5)
    _reading(chosen, "r2", minutes_in=5, patient="pat-7")  # as far into the first study
    decision = chosen.choose(exam(patient="pat-7"), NOW)
    assert _chosen(decision) == "r2"
    assert decision.score is not None and decision.score.parts["patient"] < 0
    assert "already reading this patient's open studies" in decision.reason
    assert _chosen(chosen.choose(exam("o2", patient="pat-8"), NOW)) == "r1"


def test_a_patients_second_study_does_not_wait_long_for_their_reader() -> None:
    chosen = engine((reader("r1"), reader("r2")))
    _reading(chosen, "r2", minutes_in=1, patient="pat-7")  # 15 more minutes, about
    assert _chosen(chosen.choose(exam(patient="pat-7"), NOW)) == "r1"


def test_a_read_predicted_past_the_shift_end_goes_to_someone_staying() -> None:
    leaving = reader("r1", shifts=(shift("08:00", "09:05"),))  # Chicago: leaves at 15:05 UTC
    staying = reader("r2", shifts=(shift("08:00", "17:00"),))
    decision = engine((leaving, staying)).choose(exam(), NOW)
    assert decision.reader is not None and decision.reader.id == "r2"


def test_ties_fall_to_the_reader_id_whatever_the_roster_order() -> None:
    decisions = [engine((reader("b"), reader("a"))).choose(exam(), NOW) for _ in range(3)]
    assert {d.reader.id for d in decisions if d.reader} == {"a"}


def test_the_reason_states_the_predicted_completion_against_the_deadline() -> None:
    decision = engine().choose(exam(), NOW)
    assert decision.reason == (
        "Earliest predicted completion 15:16 UTC, 1424 min before the deadline; of 1 eligible"
    )
    late = engine().choose(exam(deadline=NOW + timedelta(minutes=10)), NOW)
    assert late.reason.startswith("Earliest predicted completion 15:16 UTC, 6 min after")


def test_the_score_names_each_of_its_terms() -> None:
    decision = engine().choose(exam(), NOW)
    assert decision.score is not None
    assert set(decision.score.parts) == {
        "lateness",
        "completion",
        "queue_delay",
        "after_shift",
        "balance",
        "subspecialty",
        "patient",
    }
    assert decision.score.total == sum(decision.score.parts.values())
