"""How long one decision takes at scale: 1,000 readers, 2,000 facilities in 50 states,
10,000 open reads. Not a test (timings vary by machine); run it by hand:

    .venv/bin/python -m services.assignment.tests.engine.timing [--decisions 3000]

Readers hold 14 licences and privileges at 175 facilities in their licensed states
(vRad's averages, domain.md), shifts of 8-12 h in one of six zones, capacity caps; each
facility holds primary contracts with two of five reading groups (hours, modalities,
targets, subspecialist exams) and an overflow contract with a vendor.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time as clock
from datetime import UTC, datetime, time, timedelta
from types import MappingProxyType

from services.assignment.engine.engine import Engine
from services.assignment.engine.exams import CATALOGUE
from services.assignment.engine.model import (
    PRIORITIES,
    Contract,
    Exam,
    Licence,
    Privilege,
    Reader,
    Roster,
    Shift,
    Work,
)

STATES = [f"S{n:02d}" for n in range(50)]
ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Australia/Sydney",
    "Europe/Zurich",
)
GROUPS = ("g1", "g2", "g3", "g4", "g5")
MODALITIES = ("CT", "MR", "DX", "US", "MG")
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # evening in the US, day in Sydney


def _roster(rng: random.Random) -> Roster:
    facilities = {f"f{n:04d}": STATES[n % 50] for n in range(2000)}
    by_state: dict[str, list[str]] = {}
    for facility, state in facilities.items():
        by_state.setdefault(state, []).append(facility)
    readers = []
    for n in range(1000):
        states = rng.sample(STATES, 14)
        pool = [f for s in states for f in by_state[s]]
        start = rng.randrange(0, 24)
        readers.append(
            Reader(
                id=f"r{n:04d}",
                practitioner=f"p{n:04d}",
                name=f"Dr {n}",
                group=GROUPS[n % 5],
                timezone=rng.choice(ZONES),
                licences=tuple(Licence(s) for s in states),
                privileges=tuple(Privilege(f) for f in rng.sample(pool, 175)),
                modalities=frozenset(rng.sample(MODALITIES, 3)),
                subspecialties=frozenset(rng.sample(["neuro", "body", "chest", "msk"], 2)),
                shifts=(Shift(frozenset(range(7)), time(start), time((start + 10) % 24)),),
                max_open_tasks=25,
                max_rvu_per_hour=12.0,
            )
        )
    contracts = []
    for facility in facilities:
        for group in rng.sample(GROUPS, 2):
            contracts.append(
                Contract(
                    id=f"{facility}-{group}",
                    facility=facility,
                    group=group,
                    modalities=frozenset(rng.sample(MODALITIES, 4)),
                    hours=(Shift(frozenset(range(7)), time(18), time(8)),)
                    if rng.random() < 0.5
                    else (),
                    timezone="America/Chicago",
                    targets=MappingProxyType(
                        {"stat": timedelta(minutes=30), "stroke": timedelta(minutes=15)}
                    ),
                    subspecialist_exams=MappingProxyType({"70551": "neuro"}),
                )
            )
        contracts.append(
            Contract(id=f"{facility}-v", facility=facility, group="v1", kind="overflow")
        )
    return Roster(readers=tuple(readers), contracts=tuple(contracts))


def _exam(rng: random.Random, n: int, facilities: int = 2000) -> Exam:
    facility = rng.randrange(facilities)
    kind = rng.choice(list(CATALOGUE.values()))
    priority = rng.choices(PRIORITIES, weights=(2, 1, 2, 5))[0]
    return Exam(
        order_id=f"o{n}",
        facility=f"f{facility:04d}",
        state=STATES[facility % 50],
        code=kind.code,
        modality=kind.modality,
        priority=priority,
        ordered_at=NOW,
        rvu=kind.rvu,
        read_minutes=kind.read_minutes,
        patient=f"pat{rng.randrange(100_000)}",
        stroke=priority == "stat" and rng.random() < 0.1,
        subspecialty=kind.subspecialty,
    )


def _fill(engine: Engine, rng: random.Random, count: int) -> None:
    readers = [r.id for r in engine.roster.readers]
    for n in range(count):
        exam = _exam(rng, n)
        engine.workload.add(
            Work(
                order_id=f"open{n}",
                reader=rng.choice(readers),
                priority=exam.priority,
                rvu=exam.rvu,
                read_minutes=exam.read_minutes,
                deadline=NOW + timedelta(minutes=rng.randrange(10, 1440)),
                assigned_at=NOW - timedelta(minutes=rng.randrange(0, 600)),
                patient=exam.patient,
            )
        )


def _measure(
    engine: Engine, exams: list[Exam], *, explain: bool
) -> tuple[list[float], list[float]]:
    """Milliseconds per decision: wall clock, and this thread's CPU time (which another
    process on a busy machine does not inflate)."""
    wall, cpu = [], []
    for exam in exams:
        started, started_cpu = clock.perf_counter(), clock.thread_time()
        engine.choose(exam, NOW, explain=explain)
        wall.append((clock.perf_counter() - started) * 1000)
        cpu.append((clock.thread_time() - started_cpu) * 1000)
    return wall, cpu


def _summary(label: str, ms: list[float]) -> str:
    ordered = sorted(ms)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return (
        f"{label}: n={len(ms)} p50={statistics.median(ms):.3f} ms"
        f" p99={p99:.3f} ms max={ordered[-1]:.3f} ms"
    )


def main() -> None:
    """Build the roster and workload, then time choose() with and without explain."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = clock.perf_counter()
    engine = Engine(_roster(rng))
    built = clock.perf_counter() - started
    _fill(engine, rng, 10_000)
    exams = [_exam(rng, 100_000 + n) for n in range(args.decisions)]
    decisions = [engine.choose(exam, NOW) for exam in exams[:500]]
    assigned = sum(d.reader is not None for d in decisions)
    overflow = sum(d.overflow for d in decisions)
    print(f"roster built and indexed in {built:.2f} s; open work {len(engine.workload)}")
    print(f"of 500 decisions: {assigned} to a reader, {overflow} overflow")
    for label, explain, sample in (("choose", False, exams), ("explain", True, exams[:300])):
        wall, cpu = _measure(engine, sample, explain=explain)
        print(_summary(f"{label} wall", wall))
        print(_summary(f"{label} cpu ", cpu))


if __name__ == "__main__":
    main()
