"""The open work per reader: running totals and the reading order, with the maximum-wait
guard that keeps routine work from starving behind a stream of urgent work."""

from __future__ import annotations

from datetime import timedelta

from services.assignment.engine.workload import DEFAULT_MAX_WAIT, Discipline, Workload
from services.assignment.tests.engine.factory import NOW, work

HOUR = timedelta(hours=1)


def _order(
    workload: Workload,
    *,
    discipline: Discipline = "deadline",
    max_wait: timedelta = DEFAULT_MAX_WAIT,
) -> list[str]:
    queue = workload.queue("r1", NOW, discipline=discipline, max_wait=max_wait)
    return [w.order_id for w in queue]


def test_totals_follow_additions_and_removals() -> None:
    workload = Workload()
    workload.add(work("a", rvu=1.0, patient="p1"))
    workload.add(work("b", rvu=2.0, priority="stat", patient="p1"))
    workload.add(work("c", reader="r2", rvu=0.5, stroke=True))
    assert (workload.open_count("r1"), workload.open_rvu("r1"), workload.stat_open("r1")) == (
        2,
        3.0,
        1,
    )
    assert workload.stat_open("r2") == 1 and len(workload) == 3
    workload.remove("b", completed_at=NOW)
    assert (workload.open_count("r1"), workload.open_rvu("r1"), workload.stat_open("r1")) == (
        1,
        1.0,
        0,
    )
    assert workload.holds_patient("r1", "p1")
    workload.remove("a")
    assert not workload.holds_patient("r1", "p1")
    assert workload.completed_rvu("r1", NOW, 8 * HOUR) == 2.0
    assert workload.completed_rvu("r1", NOW + 8 * HOUR, 8 * HOUR) == 0.0


def test_adding_an_order_again_moves_it_to_its_new_reader() -> None:
    workload = Workload()
    workload.add(work("a"))
    workload.add(work("a", reader="r2"))
    assert workload.open_count("r1") == 0 and workload.open_count("r2") == 1
    assert len(workload) == 1 and workload.remove("missing") is None


def test_started_work_is_read_first_then_earliest_deadline() -> None:
    workload = Workload()
    workload.add(work("routine", deadline=NOW + 24 * HOUR))
    workload.add(work("stat", deadline=NOW + HOUR, priority="stat"))
    workload.add(work("urgent", deadline=NOW + 12 * HOUR))
    workload.add(work("opened", deadline=NOW + 24 * HOUR))
    workload.start("opened", NOW)
    assert _order(workload) == ["opened", "stat", "urgent", "routine"]


def test_work_waiting_past_the_maximum_goes_ahead_of_earlier_deadlines() -> None:
    workload = Workload()
    workload.add(work("old-routine", assigned_at=NOW - 5 * HOUR, deadline=NOW + 19 * HOUR))
    workload.add(work("stat", deadline=NOW + HOUR, priority="stat"))
    assert _order(workload) == ["old-routine", "stat"]
    assert _order(workload, max_wait=6 * HOUR) == ["stat", "old-routine"]


def test_the_baseline_disciplines_read_by_arrival_or_by_priority() -> None:
    workload = Workload()
    workload.add(work("routine", assigned_at=NOW - 2 * HOUR))
    workload.add(work("urgent", priority="urgent", assigned_at=NOW - HOUR))
    workload.add(work("stat", priority="stat", assigned_at=NOW))
    assert _order(workload, discipline="arrival") == ["routine", "urgent", "stat"]
    assert _order(workload, discipline="priority") == ["stat", "urgent", "routine"]


def test_work_on_hold_is_read_last_until_resumed() -> None:
    workload = Workload()
    workload.add(work("a", deadline=NOW + HOUR))
    workload.add(work("b", deadline=NOW + 2 * HOUR))
    workload.hold("a")
    assert workload.is_held("a") and _order(workload) == ["b", "a"]
    workload.resume("a")
    assert _order(workload) == ["a", "b"]


def test_minutes_ahead_count_the_queue_a_new_exam_would_wait_behind() -> None:
    workload = Workload()
    workload.add(work("opened", read_minutes=20.0))
    workload.start("opened", NOW - timedelta(minutes=15))
    workload.add(work("sooner", read_minutes=10.0, deadline=NOW + HOUR))
    workload.add(work("later", read_minutes=30.0, deadline=NOW + 20 * HOUR))
    ahead = workload.minutes_ahead("r1", NOW, deadline=NOW + 2 * HOUR, urgency_rank=3)
    assert ahead == 5.0 + 10.0
    everything = workload.minutes_ahead(
        "r1", NOW, deadline=NOW + 2 * HOUR, urgency_rank=3, discipline="arrival"
    )
    assert everything == 5.0 + 10.0 + 30.0
