"""Choosing among the eligible: the deadline first, then RVU balance, subspecialists, one
patient's studies with one reader; reproducible ties and an explanation of the choice."""

from __future__ import annotations

from datetime import timedelta

from services.assignment.tests.engine.factory import (
    NOW,
    engine,
    exam,
    reader,
    shift,
    work,
)

HOUR = timedelta(hours=1)


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


def test_balance_decides_when_every_reader_meets_the_deadline() -> None:
    chosen = engine((reader("busy"), reader("idle")))
    chosen.workload.add(work("done", "busy", rvu=5.0))
    chosen.workload.remove("done", completed_at=NOW - HOUR)
    chosen.workload.add(work("short", "idle", rvu=0.5, read_minutes=5, deadline=NOW + HOUR))
    decision = chosen.choose(exam(), NOW)
    assert decision.reader is not None and decision.reader.id == "idle"


def test_a_stat_goes_to_the_reader_with_the_lowest_open_stat_load() -> None:
    chosen = engine((reader("r1"), reader("r2")))
    chosen.workload.add(
        work("stat", "r1", priority="stat", rvu=0.2, read_minutes=5, deadline=NOW + HOUR)
    )
    chosen.workload.start("stat", NOW - HOUR)  # nearly done: nothing left to wait for
    chosen.workload.add(work("heavy", "r2", rvu=4.0))  # routine, read after the STAT
    decision = chosen.choose(exam(priority="stat"), NOW)
    assert decision.reader is not None and decision.reader.id == "r2"


def test_a_subspecialist_is_preferred() -> None:
    neuro = reader("r2", subspecialties=frozenset({"neuro"}))
    decision = engine((reader("r1"), neuro)).choose(exam(subspecialty="neuro"), NOW)
    assert decision.reader is not None and decision.reader.id == "r2"
    assert "neuro subspecialist" in decision.reason


def test_a_patients_open_studies_stay_with_one_reader() -> None:
    chosen = engine((reader("r1"), reader("r2")))
    chosen.workload.add(work("earlier", "r2", patient="pat-7"))
    decision = chosen.choose(exam(patient="pat-7"), NOW)
    assert decision.reader is not None and decision.reader.id == "r2"
    assert decision.score is not None and decision.score.parts["patient"] < 0
    other = chosen.choose(exam("o2", patient="pat-8"), NOW)
    assert other.reader is not None and other.reader.id == "r1"


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
        "deadline_share",
        "after_shift",
        "balance",
        "subspecialty",
        "patient",
    }
    assert decision.score.total == sum(decision.score.parts.values())
