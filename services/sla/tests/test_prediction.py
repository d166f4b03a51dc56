"""Breach prediction, pure: what is left of a read by where it stands and which clock
counts, and the ladder's steps -- each due at its budget share while predicted late, never
twice, never while the clock is on hold or stopped; a passed deadline is a breach."""

from __future__ import annotations

import pytest

from services.sla.prediction import Shares, Step, due_steps, predict, remaining_work_minutes
from services.sla.tests.builders import at
from services.sla.tests.ladder_support import Facts

ACCEPT_WAIT = 5.0
SHARES = Shares(alert=0.5, reroute=0.75, operations=0.9)


def test_a_read_not_accepted_yet_needs_the_accept_wait_and_the_whole_read() -> None:
    routine = Facts(priority="routine")
    stat = Facts(priority="stat")

    assert remaining_work_minutes(routine, at(1), ACCEPT_WAIT) == pytest.approx(5 + 18.0)
    assert remaining_work_minutes(stat, at(1), ACCEPT_WAIT) == pytest.approx(5 / 3 + 18.0)


def test_an_accepted_read_running_long_is_expected_to_run_on() -> None:
    accepted = Facts(modality="DX", milestones={"accepted": at(0)})

    early = remaining_work_minutes(accepted, at(1), ACCEPT_WAIT)
    overdue = remaining_work_minutes(accepted, at(20), ACCEPT_WAIT)

    assert 0 < early < 3.5  # a radiograph's mean read time, one minute in
    assert overdue > 0


def test_the_stop_milestone_decides_what_is_left() -> None:
    prelim_written = {"accepted": at(0), "preliminary": at(15)}
    final_clock = Facts(clock="ordered-to-final", milestones=prelim_written)
    prelim_clock = Facts(clock="images-to-preliminary", milestones={"accepted": at(0)})

    assert remaining_work_minutes(final_clock, at(16), ACCEPT_WAIT) == pytest.approx(18.0 / 3)
    assert remaining_work_minutes(prelim_clock, at(16), ACCEPT_WAIT) > 18.0 / 3


def test_no_prediction_while_the_clock_is_on_hold_or_stopped() -> None:
    assert predict(Facts(on_hold=True), at(40), accept_wait=ACCEPT_WAIT) is None
    assert predict(Facts(stopped_at=at(30)), at(40), accept_wait=ACCEPT_WAIT) is None


def _steps(facts: Facts, minutes: float, done: set[Step] | None = None) -> list[Step]:
    prediction = predict(facts, at(minutes), accept_wait=ACCEPT_WAIT)
    assert prediction is not None
    return due_steps(prediction, at(minutes), shares=SHARES, done=done or set())


def test_the_ladder_climbs_with_the_budget_while_the_read_is_predicted_late() -> None:
    waiting = Facts(target=60.0)  # a CT nobody has accepted: 5/3 + 18 minutes of work left

    assert _steps(waiting, 29) == []  # under half the budget: no alert yet
    assert _steps(waiting, 31) == []  # half used, but finishing in time (31 + 19.7 < 60)
    assert _steps(waiting, 45) == [Step.ALERT, Step.REROUTE]  # 64.7 > 60, 75% used
    assert _steps(waiting, 45, {Step.ALERT, Step.REROUTE}) == []  # never twice
    assert _steps(waiting, 55, {Step.ALERT, Step.REROUTE}) == [Step.ESCALATE]
    assert _steps(waiting, 61, {Step.ALERT, Step.REROUTE, Step.ESCALATE}) == [Step.BREACHED]


def test_a_read_predicted_in_time_is_left_alone_even_late_in_its_budget() -> None:
    # A final clock whose preliminary is written: only the sign-off (18/3 = 6 min) is left.
    signing = Facts(target=60.0, milestones={"accepted": at(0), "preliminary": at(40)})

    assert _steps(signing, 50) == []  # 83% of the budget used, done at 56 < 60


def test_time_on_hold_extends_the_deadline_and_the_budget() -> None:
    resumed = Facts(target=60.0, paused=30.0)  # 30 minutes on hold: deadline at 90

    assert _steps(resumed, 61) == []  # 31 minutes of budget used, 61 + 19.7 < 90
