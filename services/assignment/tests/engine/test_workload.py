"""The open work per reader: running totals and the reading order, with the maximum-wait
guard that keeps routine work from starving behind a stream of urgent work; where a new
exam would stand in a queue, how long a read in progress is still expected to take, and
each reader's pace learnt from their completed reads."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.assignment.engine.workload import (
    DEFAULT_MAX_WAIT,
    Discipline,
    Workload,
    remaining_minutes,
)
from services.assignment.tests.engine.factory import NOW, exam, work

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


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


def test_a_routine_read_waiting_past_the_maximum_jumps_the_queue_but_not_stat() -> None:
    workload = Workload()
    workload.add(work("old-routine", assigned_at=NOW - 3 * HOUR, deadline=NOW + 21 * HOUR))
    workload.add(work("asap", priority="asap", deadline=NOW + HOUR))
    workload.add(work("stat", priority="stat", deadline=NOW + HOUR))
    assert _order(workload) == ["stat", "old-routine", "asap"]
    assert _order(workload, max_wait=4 * HOUR) == ["stat", "asap", "old-routine"]


def test_the_wait_counts_from_the_order_not_from_the_last_re_route() -> None:
    workload = Workload()
    ordered_long_ago = exam("old", ordered_at=NOW - 3 * HOUR)
    workload.add(work("old", assigned_at=NOW, deadline=NOW + 21 * HOUR, exam=ordered_long_ago))
    workload.add(work("asap", priority="asap", deadline=NOW + HOUR))
    assert _order(workload) == ["old", "asap"]


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


def test_a_new_exam_waits_behind_what_is_read_before_it_and_delays_the_rest() -> None:
    workload = Workload()
    workload.add(work("opened", read_minutes=20.0))
    workload.start("opened", NOW - 15 * MINUTE)
    workload.add(work("sooner", read_minutes=10.0, deadline=NOW + HOUR))
    workload.add(work("later", read_minutes=30.0, deadline=NOW + 20 * HOUR))
    pending = work("new", assigned_at=NOW, deadline=NOW + 2 * HOUR)
    place = workload.place("r1", NOW, pending=pending, sigma=0.0)
    assert place.ahead == 5.0 + 10.0
    assert [w.order_id for w in place.delayed] == ["later"]
    by_arrival = workload.place("r1", NOW, pending=pending, sigma=0.0, discipline="arrival")
    assert by_arrival.ahead == 5.0 + 10.0 + 30.0 and by_arrival.delayed == ()


def test_a_reader_between_reads_opens_what_they_hold_before_a_new_exam() -> None:
    workload = Workload()
    workload.add(work("routine", read_minutes=12.0))  # assigned, not yet opened
    stat = work("stat", priority="stat", assigned_at=NOW, deadline=NOW + HOUR)
    place = workload.place("r1", NOW, pending=stat)
    assert place.ahead == 12.0  # they may well open the routine read on accepting it
    assert [w.order_id for w in place.delayed] == ["routine"]


def test_a_read_in_progress_is_never_predicted_done_before_it_ends() -> None:
    assert remaining_minutes(16.0, 0.0) == 16.0
    assert remaining_minutes(16.0, 4.0) > 12.0  # a little more than mean less elapsed
    overrun = remaining_minutes(16.0, 16.0)
    assert 0.25 * 16.0 < overrun < 16.0  # past its mean: still a good part of one to go
    assert remaining_minutes(16.0, 40.0) > overrun  # the longer it runs, the longer it runs
    assert remaining_minutes(16.0, 20.0, sigma=0.0) == 0.0  # no spread: the mean is exact


def test_a_readers_pace_is_learnt_from_completed_reads_and_shrunk_towards_one() -> None:
    workload = Workload()
    assert workload.pace("r1") == 1.0
    for n in range(8):  # each 10-minute read took 20 minutes
        workload.add(work(f"w{n}", read_minutes=10.0))
        workload.start(f"w{n}", NOW)
        workload.remove(f"w{n}", completed_at=NOW + 20 * MINUTE)
    assert workload.pace("r1") == pytest.approx(2**0.5)  # 8 reads of 2x against a prior of 8
    workload.add(work("declined", read_minutes=10.0))
    workload.start("declined", NOW)
    workload.remove("declined")  # not completed: says nothing of the pace
    assert workload.pace("r1") == pytest.approx(2**0.5)
    pending = work("new", assigned_at=NOW)
    workload.add(work("queued", read_minutes=10.0, deadline=NOW))
    assert workload.place("r1", NOW, pending=pending).ahead == pytest.approx(10 * 2**0.5)


def test_what_a_reader_holds_says_when_each_read_opens_and_when_they_are_free() -> None:
    workload = Workload()
    workload.add(work("opened", read_minutes=20.0))
    workload.start("opened", NOW - 15 * MINUTE)
    workload.add(work("second", read_minutes=10.0, deadline=NOW + HOUR))
    workload.add(work("third", read_minutes=30.0, deadline=NOW + 2 * HOUR))
    starts = workload.starts("r1", NOW, sigma=0.0)
    assert [(w.order_id, minutes) for w, minutes in starts] == [("second", 5.0), ("third", 15.0)]
    assert workload.busy_for("r1", NOW, sigma=0.0) == 5.0
    assert workload.busy_for("nobody", NOW) == 0.0


def test_completed_rvus_can_be_counted_since_a_shift_began() -> None:
    workload = Workload()
    for n, hours_ago in enumerate((10, 3, 1)):
        workload.add(work(f"w{n}", rvu=1.0))
        workload.remove(f"w{n}", completed_at=NOW - hours_ago * HOUR)
    assert workload.completed_rvu("r1", NOW, 12 * HOUR) == 3.0
    assert workload.completed_rvu("r1", NOW, 12 * HOUR, since=NOW - 4 * HOUR) == 2.0
    assert workload.completed_rvu("r1", NOW, 2 * HOUR, since=NOW - 4 * HOUR) == 1.0
