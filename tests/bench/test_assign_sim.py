"""The simulated day of `make bench-assign` on a small world: it must keep running against the
real engine, never lose an order, never let a radiologist read what they may not, replay the
same day for the same seed, and its MILP must bound every schedule from below."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bench.assign.arrivals import Arrival
from bench.assign.day import EASTERN, DayPlan, prepare, run_policy
from bench.assign.optimum import SmallShape, lower_bounds, run_optimum, small_instance
from bench.assign.policies import POLICIES, Policy
from bench.assign.sim import Outcome, Simulation
from bench.assign.world import World, WorldShape

SMALL = WorldShape(facilities=24, us_readers=18, sydney_readers=3, zurich_readers=2)
PLAN = DayPlan(start=datetime(2026, 10, 31, 19, tzinfo=EASTERN), shape=SMALL, seed=7)
Day = tuple[World, list[Arrival], dict[str, Outcome]]


@pytest.fixture(scope="module")
def day() -> Day:
    world, arrivals = prepare(PLAN)
    outcomes: dict[str, Outcome] = {}
    for name in POLICIES:
        policy = Policy(name, world.roster)
        simulation = Simulation(
            world, arrivals, policy, start=PLAN.start, end=PLAN.end, seed=PLAN.seed
        )
        outcomes[name] = simulation.run()
    return world, arrivals, outcomes


def test_every_order_is_read_overflowed_or_waiting_under_every_policy(day: Day) -> None:
    _, arrivals, outcomes = day
    assert len(arrivals) > 100
    for outcome in outcomes.values():
        assert len(outcome.orders) == len(arrivals)
        for order in outcome.orders:
            assert order.done_at is not None or order.vendor is not None or order.waiting_since
        assert sum(1 for o in outcome.orders if o.done_at is not None) > 0.95 * len(arrivals)


def test_every_read_went_to_a_radiologist_licensed_privileged_and_on_shift(day: Day) -> None:
    world, _, outcomes = day
    readers = {r.id: r for r in world.readers}
    for outcome in outcomes.values():
        for order in outcome.orders:
            if order.started_at is None:
                continue
            exam, reader = order.arrival.exam, readers[order.reader or ""]
            read_on = order.started_at.date()
            assert any(
                lic.state == exam.state and lic.span.covers(read_on) for lic in reader.licences
            )
            assert any(p.facility == exam.facility for p in reader.privileges)
            assert exam.modality in reader.modalities


def test_the_same_seed_replays_the_same_day() -> None:
    world, arrivals = prepare(PLAN)
    again_world, again = prepare(PLAN)
    assert [a.exam for a in arrivals] == [a.exam for a in again]
    assert world.roster == again_world.roster
    first = run_policy(PLAN, world, arrivals, "engine")
    second = run_policy(PLAN, again_world, again, "engine")
    assert first["classes"] == second["classes"]


def test_a_seed_changes_the_day() -> None:
    _, arrivals = prepare(PLAN)
    _, other = prepare(DayPlan(start=PLAN.start, shape=SMALL, seed=8))
    assert [a.exam for a in arrivals] != [a.exam for a in other]


def test_the_milp_bound_is_below_every_policys_schedule() -> None:
    shape = SmallShape(
        readers=4, facilities=6, exams=30, window=timedelta(hours=1), time_limit_s=10
    )
    result = run_optimum(seed=3, shape=shape)
    bound = result["bounds"]["late"]["bound"]
    turnaround = result["bounds"]["stat_turnaround"]["bound"]
    for policy in result["policies"]:
        assert policy["weighted_late"] >= bound - 1e-6
        assert policy["stat_turnaround"] >= turnaround - 1e-6


def test_the_small_instance_has_only_orders_someone_may_read() -> None:
    world, arrivals = small_instance(SmallShape(readers=4, facilities=6, exams=20), seed=3)
    assert 0 < len(arrivals) <= 20
    bounds = lower_bounds(world, arrivals, SmallShape(readers=4, facilities=6, exams=20))
    assert bounds["late"]["modelled"] <= len(arrivals)


def test_the_simulation_keeps_its_clock_in_utc_across_the_night_the_clocks_go_back() -> None:
    # A plan in US Eastern wall time: "now + 22 min" on an Eastern datetime at 01:59 on
    # 2026-11-01 would be 02:21 EST, an hour late; the simulation's times are UTC.
    plan = DayPlan(start=datetime(2026, 11, 1, 1, 50, tzinfo=EASTERN), shape=SMALL, seed=7)
    world, arrivals = prepare(plan)
    simulation = Simulation(
        world, arrivals, Policy("engine", world.roster), start=plan.start, end=plan.end, seed=7
    )
    assert simulation.start == datetime(2026, 11, 1, 5, 50, tzinfo=UTC)
    assert all(when.tzinfo is UTC for when, *_ in simulation._events)
    for order in simulation.run().orders:
        if order.started_at and order.done_at and not order.vendor:
            took = (order.done_at - order.started_at).total_seconds() / 60
            expected = order.arrival.read_minutes * world.speed[order.reader or ""]
            assert took == pytest.approx(expected, abs=0.01)
