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
radiologist, who reads one thing at a time, or counted late.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from bench.assign.arrivals import ALWAYS, Arrival, generate
from bench.assign.day import EASTERN
from bench.assign.policies import POLICIES, Policy
from bench.assign.report import class_of
from bench.assign.sim import Behaviour, Simulation
from bench.assign.world import World, WorldShape, build_world
from services.assignment.engine.engine import Engine
from services.assignment.engine.model import Roster

WEIGHTS = {"stroke": 20, "stat": 10, "asap": 4, "urgent": 2, "routine": 1}
CALM = Behaviour(decline_share=0.0, no_accept_share=0.0, no_show_share=0.0, accept_minutes=(0.0, 0.0))


@dataclass(frozen=True, slots=True)
class SmallShape:
    readers: int = 8
    facilities: int = 10
    exams: int = 70
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


def _late(world: World, arrivals: list[Arrival], name: str, shape: SmallShape, seed: int) -> dict[str, Any]:
    policy = Policy(name, world.roster)
    end = shape.start + shape.window
    outcome = Simulation(world, arrivals, policy, start=shape.start, end=end, seed=seed, behaviour=CALM).run()
    late = Counter(
        class_of(o) for o in outcome.orders if o.done_at is None or o.done_at > o.deadline
    )
    return {
        "policy": name,
        "weighted_late": sum(WEIGHTS[c] * n for c, n in late.items()),
        "late": dict(late),
    }


def lower_bound(world: World, arrivals: list[Arrival], shape: SmallShape) -> dict[str, Any]:
    """The MILP's lower bound on the weighted late reads of any schedule."""
    engine = Engine(world.roster)
    origin = shape.start
    cutoff = shape.start + shape.window + shape.horizon
    columns: list[tuple[int, str, int, int]] = []  # (exam index, reader id, start, minutes)
    modelled: list[int] = []
    for e, arrival in enumerate(arrivals):
        deadline = engine.deadline(arrival.exam)
        if deadline > cutoff:
            continue
        modelled.append(e)
        release = math.floor((arrival.exam.ordered_at - origin).total_seconds() / 60)
        due = (deadline - origin).total_seconds() / 60
        for candidate in engine.evaluate(arrival.exam, arrival.exam.ordered_at):
            if not candidate.eligible:
                continue
            minutes = math.floor(arrival.read_minutes * world.speed[candidate.reader.id])
            for start in range(max(release, 0), math.floor(due - minutes) + 1):
                columns.append((e, candidate.reader.id, start, minutes))
    weight = {e: WEIGHTS[class_of_arrival(arrivals[e])] for e in modelled}
    total = sum(weight.values())
    if not columns:
        return {"modelled": len(modelled), "weighted_late_bound": total, "status": "no on-time start"}
    rows, cols = [], []
    exam_row = {e: i for i, e in enumerate(modelled)}
    slot_row: dict[tuple[str, int], int] = {}
    for j, (e, reader, start, minutes) in enumerate(columns):
        rows.append(exam_row[e])
        cols.append(j)
        for t in range(start, start + minutes):
            rows.append(slot_row.setdefault((reader, t), len(modelled) + len(slot_row)))
            cols.append(j)
    matrix = coo_matrix(
        (np.ones(len(rows)), (rows, cols)), shape=(len(modelled) + len(slot_row), len(columns))
    ).tocsr()
    began = time.perf_counter()
    result = milp(
        c=-np.array([weight[e] for e, *_ in columns], dtype=float),
        constraints=LinearConstraint(matrix, -np.inf, 1.0),
        integrality=np.ones(len(columns)),
        bounds=Bounds(0, 1),
        options={"time_limit": shape.time_limit_s, "disp": False},
    )
    best_on_time = -float(getattr(result, "mip_dual_bound", result.fun) or result.fun)
    return {
        "modelled": len(modelled),
        "variables": len(columns),
        "rows": matrix.shape[0],
        "status": result.message,
        "solve_s": time.perf_counter() - began,
        "weighted_late_bound": max(total - best_on_time, 0.0),
        "weighted_late_of_solution": total + float(result.fun),
    }


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
    bound = lower_bound(world, arrivals, shape)
    print(
        f"MILP: {bound['modelled']} orders with deadlines within {shape.window + shape.horizon} modelled, "
        f"{bound.get('variables', 0):,} variables, {bound.get('rows', 0):,} rows, "
        f"{bound.get('solve_s', 0.0):.1f} s: {bound['status']}"
    )
    print("| schedule | weighted late (stroke 20, stat 10, asap 4, urgent 2, routine 1) | late by class | gap to bound |")
    print("|---|---:|---|---:|")
    for p in policies:
        gap = p["weighted_late"] - bound["weighted_late_bound"]
        print(f"| {p['policy']} | {p['weighted_late']} | {p['late'] or '-'} | {gap:.0f} |")
    print(f"| lower bound (MILP) | {bound['weighted_late_bound']:.0f} | | |")
    return {"orders": len(arrivals), "mix": dict(mix), "policies": policies, "bound": bound}
