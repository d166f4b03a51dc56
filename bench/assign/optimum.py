"""How far the engine is from the best possible, on a small instance: a few radiologists on
shift throughout, a burst of orders within a couple of hours, no declines, no-shows, caps or
vendors. Each policy is simulated over it (bench/assign/sim.py); a MILP (scipy.optimize.milp,
HiGHS) gives a lower bound on the weighted number of late reads any schedule could achieve --
one that knows every read time in advance, with the same eligibility (the engine's own
`evaluate` at the order's arrival).

The bound is a relaxation, so it is valid even when it is not reached: time in whole minutes
(a start rounded down, a read time rounded down), only the orders whose deadline falls within
`window + horizon` modelled (stroke, STAT, ASAP here; later deadlines count as met and their
reads as taking no one's time), and each modelled order either read on time by one eligible
radiologist, who reads one thing at a time, or counted late. A second MILP bounds the mean
turnaround of the STAT and stroke orders alone (every other read taking no one's time).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp  # type: ignore[import-untyped]
from scipy.sparse import coo_matrix  # type: ignore[import-untyped]

from bench.assign.arrivals import ALWAYS, Arrival, generate
from bench.assign.day import EASTERN
from bench.assign.policies import POLICIES, Policy
from bench.assign.report import class_of
from bench.assign.sim import Behaviour, Simulation
from bench.assign.world import World, WorldShape, build_world
from services.assignment.engine.engine import Engine
from services.assignment.engine.model import Roster

WEIGHTS = {"stroke": 20, "stat": 10, "asap": 4, "urgent": 2, "routine": 1}
CALM = Behaviour(
    decline_share=0.0, no_accept_share=0.0, no_show_share=0.0, accept_minutes=(0.0, 0.0)
)


@dataclass(frozen=True, slots=True)
class SmallShape:
    readers: int = 8
    facilities: int = 10
    exams: int = 90
    window: timedelta = timedelta(hours=2)
    horizon: timedelta = timedelta(hours=4)  # deadlines modelled: up to window + horizon
    start: datetime = datetime(2026, 11, 3, 18, tzinfo=EASTERN)  # a Tuesday evening
    time_limit_s: float = 60.0


def small_instance(shape: SmallShape, seed: int) -> tuple[World, list[Arrival]]:
    """Readers on shift throughout without caps, facilities read around the clock, no
    vendors; the first `exams` orders with at least one eligible radiologist."""
    world = build_world(
        WorldShape(shape.facilities, shape.readers, 0, 0, privilege_share=0.85),
        seed=seed,
        first_day=shape.start.date(),
    )
    readers = tuple(
        replace(r, shifts=ALWAYS, max_open_tasks=None, max_rvu_per_hour=None) for r in world.readers
    )
    world.facilities = {
        k: replace(f, kind="hospital", modalities=frozenset({"CT", "DX", "US", "MR"}))
        for k, f in world.facilities.items()
    }
    contracts = tuple(
        replace(c, hours=(), modalities=world.facilities[c.facility].modalities)
        for c in world.roster.contracts
        if c.kind == "primary"
    )
    world.roster = Roster(readers=readers, contracts=contracts)
    engine = Engine(world.roster)
    volume = sum(f.volume for f in world.facilities.values()) * shape.window / timedelta(days=1)
    load = 1.5 * shape.exams / volume
    arrivals = generate(world, shape.start, shape.start + shape.window, load=load, seed=seed)
    feasible = [
        a for a in arrivals if any(c.eligible for c in engine.evaluate(a.exam, a.exam.ordered_at))
    ]
    return world, feasible[: shape.exams]


def _late(
    world: World, arrivals: list[Arrival], name: str, shape: SmallShape, seed: int
) -> dict[str, Any]:
    policy = Policy(name, world.roster)
    end = shape.start + shape.window
    outcome = Simulation(
        world, arrivals, policy, start=shape.start, end=end, seed=seed, behaviour=CALM
    ).run()
    late = Counter(
        class_of(o) for o in outcome.orders if o.done_at is None or o.done_at > o.deadline
    )
    stat = [
        (o.done_at - o.arrival.exam.ordered_at).total_seconds() / 60
        for o in outcome.orders
        if o.arrival.exam.priority == "stat" and o.done_at is not None
    ]
    return {
        "policy": name,
        "weighted_late": sum(WEIGHTS[c] * n for c, n in late.items()),
        "late": dict(late),
        "stat_turnaround": sum(stat) / len(stat) if stat else float("nan"),
    }


Column = tuple[int, str, int, int]  # (order index, reader id, start minute, read minutes)


def _columns(
    world: World, arrivals: list[Arrival], shape: SmallShape, *, stat_only: bool
) -> tuple[list[int], list[Column], dict[int, float]]:
    """The orders modelled, each (order, eligible reader, start) column, and the exact
    release minute of each order. Late-count model: starts that finish by the deadline.
    Turnaround model (`stat_only`): STAT and stroke orders, any start up to `horizon`."""
    engine = Engine(world.roster)
    origin = shape.start
    cutoff = shape.start + shape.window + shape.horizon
    modelled: list[int] = []
    columns: list[Column] = []
    released: dict[int, float] = {}
    for e, arrival in enumerate(arrivals):
        deadline = engine.deadline(arrival.exam)
        if (arrival.exam.priority != "stat") if stat_only else deadline > cutoff:
            continue
        modelled.append(e)
        released[e] = (arrival.exam.ordered_at - origin).total_seconds() / 60
        due = (deadline - origin).total_seconds() / 60
        for candidate in engine.evaluate(arrival.exam, arrival.exam.ordered_at):
            if not candidate.eligible:
                continue
            minutes = math.floor(arrival.read_minutes * world.speed[candidate.reader.id])
            last = (
                released[e] + shape.horizon / timedelta(minutes=1) if stat_only else due - minutes
            )
            for start in range(max(math.floor(released[e]), 0), math.floor(last) + 1):
                columns.append((e, candidate.reader.id, start, minutes))
    return modelled, columns, released


def _solve(
    modelled: list[int],
    columns: list[Column],
    cost: np.ndarray,
    *,
    each_once: bool,
    shape: SmallShape,
) -> tuple[Any, float, int]:
    """min cost.x: each order at most (or exactly) once, a reader one read at a time."""
    rows, cols = [], []
    exam_row = {e: i for i, e in enumerate(modelled)}
    slot_row: dict[tuple[str, int], int] = {}
    for j, (e, reader, start, minutes) in enumerate(columns):
        rows.append(exam_row[e])
        cols.append(j)
        for t in range(start, start + minutes):
            rows.append(slot_row.setdefault((reader, t), len(modelled) + len(slot_row)))
            cols.append(j)
    size = len(modelled) + len(slot_row)
    matrix = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, len(columns))).tocsr()
    lower = np.concatenate(
        [np.full(len(modelled), 1.0 if each_once else -np.inf), np.full(len(slot_row), -np.inf)]
    )
    began = time.perf_counter()
    result = milp(
        c=cost,
        constraints=LinearConstraint(matrix, lower, 1.0),
        integrality=np.ones(len(columns)),
        bounds=Bounds(0, 1),
        options={"time_limit": shape.time_limit_s, "disp": False},
    )
    return result, time.perf_counter() - began, size


def lower_bounds(world: World, arrivals: list[Arrival], shape: SmallShape) -> dict[str, Any]:
    """The MILPs' lower bounds: weighted late reads, and mean STAT/stroke turnaround."""
    modelled, columns, _ = _columns(world, arrivals, shape, stat_only=False)
    weight = {e: WEIGHTS[class_of_arrival(arrivals[e])] for e in modelled}
    cost = -np.array([weight[e] for e, *_ in columns], dtype=float)
    result, seconds, rows = _solve(modelled, columns, cost, each_once=False, shape=shape)
    dual = getattr(result, "mip_dual_bound", None)
    best_on_time = -(float(dual) if dual is not None else float(result.fun))
    late = {
        "modelled": len(modelled),
        "variables": len(columns),
        "rows": rows,
        "status": result.message,
        "solve_s": seconds,
        "bound": max(sum(weight.values()) - best_on_time, 0.0),
    }
    stat, columns, released = _columns(world, arrivals, shape, stat_only=True)
    cost = np.array([start + minutes - released[e] for e, _, start, minutes in columns])
    result, seconds, rows = _solve(stat, columns, cost, each_once=True, shape=shape)
    dual = getattr(result, "mip_dual_bound", None)
    total = float(dual) if dual is not None and result.success else float("nan")
    turnaround = {
        "modelled": len(stat),
        "variables": len(columns),
        "rows": rows,
        "status": result.message,
        "solve_s": seconds,
        "bound": total / len(stat) if stat else float("nan"),
    }
    return {"late": late, "stat_turnaround": turnaround}


def class_of_arrival(arrival: Arrival) -> str:
    return "stroke" if arrival.exam.stroke else arrival.exam.priority


def run_optimum(*, seed: int, shape: SmallShape | None = None) -> dict[str, Any]:
    """Simulate every policy on the small instance, bound the optimum, print both."""
    shape = shape or SmallShape()
    world, arrivals = small_instance(shape, seed)
    mix = Counter(class_of_arrival(a) for a in arrivals)
    demand = sum(a.read_minutes for a in arrivals) / 60
    print(
        f"\n== Offline optimum: {len(world.readers)} radiologists on shift throughout, "
        f"{len(arrivals)} orders in {shape.window} from {shape.start.isoformat()} {dict(mix)}; "
        f"{demand:.1f} h of reading ({demand / (len(world.readers) * shape.window / timedelta(hours=1)):.0%} "
        f"of the radiologist-hours of the window)"
    )
    policies = [_late(world, arrivals, name, shape, seed) for name in POLICIES]
    bounds = lower_bounds(world, arrivals, shape)
    for name, what in (("late", "late-count"), ("stat_turnaround", "STAT/stroke turnaround")):
        b = bounds[name]
        print(
            f"MILP ({what}): {b['modelled']} orders modelled, {b['variables']:,} variables, "
            f"{b['rows']:,} rows, {b['solve_s']:.1f} s: {b['status']}"
        )
    late_bound, tat_bound = bounds["late"]["bound"], bounds["stat_turnaround"]["bound"]
    print(
        "| schedule | weighted late (stroke 20, stat 10, asap 4, urgent 2, routine 1) "
        "| late by class | gap | mean STAT+stroke turnaround min | gap |"
    )
    print("|---|---:|---|---:|---:|---:|")
    for p in policies:
        print(
            f"| {p['policy']} | {p['weighted_late']} | {p['late'] or '-'} "
            f"| {p['weighted_late'] - late_bound:.0f} | {p['stat_turnaround']:.1f} "
            f"| {p['stat_turnaround'] - tat_bound:+.1f} |"
        )
    print(f"| lower bound (MILP) | {late_bound:.0f} | | | {tat_bound:.1f} | |")
    return {"orders": len(arrivals), "mix": dict(mix), "policies": policies, "bounds": bounds}
