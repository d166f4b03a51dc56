"""One simulated day (or several): the world, its arrivals, every policy over them."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bench.assign.arrivals import Arrival, generate
from bench.assign.hours import hours_in, weekly_windows
from bench.assign.policies import Policy, settings_for
from bench.assign.report import figures
from bench.assign.sim import Behaviour, Simulation
from bench.assign.world import World, WorldShape, build_world

EASTERN = ZoneInfo("America/New_York")


@dataclass(frozen=True, slots=True)
class DayPlan:
    start: datetime
    days: int = 1
    load: float = 1.0
    seed: int = 1
    shape: WorldShape = field(default_factory=WorldShape)
    behaviour: Behaviour = field(default_factory=Behaviour)
    rebalance: bool = True  # the engine moves work stuck behind a long read

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


def prepare(plan: DayPlan) -> tuple[World, list[Arrival]]:
    """The seeded world and the arrivals every policy will see."""
    world = build_world(plan.shape, seed=plan.seed, first_day=plan.start.astimezone(EASTERN).date())
    return world, generate(world, plan.start, plan.end, load=plan.load, seed=plan.seed)


def run_policy(plan: DayPlan, world: World, arrivals: list[Arrival], name: str) -> dict[str, Any]:
    """Simulate `name` over the arrivals; its figures, with the wall time it took."""
    began = time.perf_counter()
    policy = Policy(name, world.roster, settings=settings_for(name, rebalance=plan.rebalance))
    simulation = Simulation(
        world,
        arrivals,
        policy,
        start=plan.start,
        end=plan.end,
        seed=plan.seed,
        behaviour=plan.behaviour,
    )
    result = figures(simulation.run(), plan.end)
    result["wall_s"] = time.perf_counter() - began
    return result


def describe(plan: DayPlan, world: World, arrivals: list[Arrival]) -> dict[str, Any]:
    """What the world and the day hold: sizes, mixes, and the load against the staffing."""
    active = [r for r in world.readers if r.active]
    contracts = Counter(c.kind for c in world.roster.contracts)
    on_shift = sum(
        hours_in(weekly_windows(r.shifts, r.timezone, plan.start, plan.end), plan.start, plan.end)
        for r in active
    )
    demand = sum(a.read_minutes for a in arrivals) / 60
    hourly = _hourly_load(plan, world, arrivals)
    first_day = plan.start.date()
    return {
        "facilities": len(world.facilities),
        "facilities_by_state": dict(Counter(f.state for f in world.facilities.values())),
        "facilities_by_kind": dict(Counter(f.kind for f in world.facilities.values())),
        "zones": sorted({f.timezone for f in world.facilities.values()}),
        "readers": len(world.readers),
        "readers_active": len(active),
        "readers_by_zone": dict(Counter(r.timezone for r in active)),
        "licences_per_reader": sum(len(r.licences) for r in active) / len(active),
        "licences_lapsing": sum(
            1 for r in active for lic in r.licences if lic.span.end and lic.span.end <= first_day
        ),
        "privileges_per_reader": sum(len(r.privileges) for r in active) / len(active),
        "contracts": dict(contracts),
        "orders": len(arrivals),
        "orders_by_priority": dict(
            Counter("stroke" if a.exam.stroke else a.exam.priority for a in arrivals)
        ),
        "orders_by_modality": dict(Counter(a.exam.modality or "?" for a in arrivals)),
        "reading_hours": demand,
        "on_shift_hours": on_shift,
        "utilisation": demand / on_shift if on_shift else float("nan"),
        "peak_hour_utilisation": max(hourly.values(), default=0.0),
        "peak_hour_eastern": max(hourly, key=lambda h: hourly[h]) if hourly else None,
    }


def _hourly_load(plan: DayPlan, world: World, arrivals: list[Arrival]) -> dict[int, float]:
    """Reading hours arriving per Eastern hour of day over reader-hours on shift then."""
    demand: defaultdict[int, float] = defaultdict(float)
    supply: defaultdict[int, float] = defaultdict(float)
    for arrival in arrivals:
        demand[arrival.exam.ordered_at.astimezone(EASTERN).hour] += arrival.read_minutes / 60
    hour = plan.start
    windows = [
        weekly_windows(r.shifts, r.timezone, plan.start, plan.end)
        for r in world.readers
        if r.active
    ]
    while hour < plan.end:
        supply[hour.astimezone(EASTERN).hour] += sum(
            hours_in(w, hour, hour + timedelta(hours=1)) for w in windows
        )
        hour += timedelta(hours=1)
    return {h: demand[h] / supply[h] for h in supply if supply[h] > 0}
