"""The simulated day of the assignment engine, with its baselines, an offline optimum on a
small instance and decision latency at scale.

    .venv/bin/python -m bench.assign [--seed 1] [--load 1.0] [--days 1]
    make bench-assign BENCH_ARGS="--load 1.3 --days 2"

docs/benchmarks.md ("Assignment: a simulated day") has the results and how to read them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.assign.day import EASTERN, DayPlan, describe, prepare, run_policy  # noqa: E402
from bench.assign.policies import POLICIES  # noqa: E402
from bench.assign.report import class_table, policy_table  # noqa: E402
from bench.assign.world import WorldShape  # noqa: E402

# A Saturday whose night crosses the end of US daylight saving time (2026-11-01 02:00).
DEFAULT_START = "2026-10-31T07:00"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="world, arrivals and behaviour (default 1)"
    )
    parser.add_argument(
        "--load", type=float, default=1.0, help="times the realistic volume (default 1.0)"
    )
    parser.add_argument(
        "--days", type=int, default=1, help="simulated days of arrivals (default 1)"
    )
    parser.add_argument(
        "--start",
        default=DEFAULT_START,
        help=f"first arrival, US Eastern wall clock (default {DEFAULT_START})",
    )
    parser.add_argument("--facilities", type=int, default=WorldShape().facilities)
    parser.add_argument(
        "--policies", default=",".join(POLICIES), help=f"comma-separated, of {', '.join(POLICIES)}"
    )
    parser.add_argument(
        "--no-rebalance",
        action="store_true",
        help="the engine does not move work stuck behind a long read (Engine.rebalance)",
    )
    parser.add_argument("--no-day", action="store_true", help="skip the simulated day")
    parser.add_argument("--no-optimum", action="store_true", help="skip the offline optimum")
    parser.add_argument("--no-latency", action="store_true", help="skip decision latency at scale")
    parser.add_argument(
        "--latency-calls", type=int, default=2000, help="choose() calls timed at scale"
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    return parser.parse_args(argv)


def _git_commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip()


def _machine() -> str:
    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(
                line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}"


def _print_world(world: dict[str, Any]) -> None:
    print(
        f"world: {world['facilities']} facilities {world['facilities_by_state']} "
        f"{world['facilities_by_kind']} in {len(world['zones'])} zones; "
        f"{world['readers_active']} active radiologists (of {world['readers']}) {world['readers_by_zone']}"
    )
    print(
        f"       {world['licences_per_reader']:.1f} licences and {world['privileges_per_reader']:.0f} "
        f"privileges per radiologist, {world['licences_lapsing']} licences lapsed or lapsing; "
        f"contracts {world['contracts']}"
    )
    print(
        f"day:   {world['orders']:,} orders {world['orders_by_priority']} {world['orders_by_modality']}; "
        f"{world['reading_hours']:.0f} h of reading against {world['on_shift_hours']:.0f} h on shift "
        f"({world['utilisation']:.0%}; busiest Eastern hour {world['peak_hour_eastern']}:00 "
        f"at {world['peak_hour_utilisation']:.0%})"
    )


def run_day(args: argparse.Namespace, out: dict[str, Any]) -> None:
    start = datetime.fromisoformat(args.start).replace(tzinfo=EASTERN)
    plan = DayPlan(
        start=start,
        days=args.days,
        load=args.load,
        seed=args.seed,
        shape=WorldShape(facilities=args.facilities),
        rebalance=not args.no_rebalance,
    )
    world, arrivals = prepare(plan)
    out["world"] = describe(plan, world, arrivals)
    print(
        f"\n== A simulated day: {args.days} day(s) from {start.isoformat()}, load {args.load}, seed {args.seed}"
    )
    _print_world(out["world"])
    results = []
    for name in args.policies.split(","):
        results.append(run_policy(plan, world, arrivals, name))
        print(f"  simulated {name}: {results[-1]['wall_s']:.1f} s", flush=True)
    out["day"] = results
    print()
    print("\n".join(class_table(results)))
    print()
    print("\n".join(policy_table(results)))
    _print_aims(results)


def _print_aims(results: list[dict[str, Any]]) -> None:
    engine = next((r for r in results if r["policy"] == "engine"), None)
    baselines = [r for r in results if r["policy"] != "engine"]
    if engine is None:
        return
    print("\naims (engine vs the best baseline; wait: order to the start of a read by the group):")
    for cls in ("stroke", "stat"):
        print(f"  {cls} compliance {engine['classes'][cls]['sla_pct']:.1f} % (aim >= 99 %)")
    for cls in ("stroke", "stat", "asap", "urgent", "routine", "all"):
        mine = engine["classes"][cls]
        if not mine["orders"] or not baselines:
            continue
        best = {
            key: (max if key == "sla_pct" else min)(b["classes"][cls][key] for b in baselines)
            for key in ("sla_pct", "max_wait_min", "max_in_house_min")
        }
        sla_ok = _verdict(mine["sla_pct"], best["sla_pct"], higher_is_better=True)
        wait_ok = _verdict(mine["max_wait_min"], best["max_wait_min"], higher_is_better=False)
        own_ok = _verdict(
            mine["max_in_house_min"], best["max_in_house_min"], higher_is_better=False
        )
        print(
            f"  {cls:8} SLA {mine['sla_pct']:.1f} % vs {best['sla_pct']:.1f} % ({sla_ok}); "
            f"max wait {mine['max_wait_min']:.0f} vs {best['max_wait_min']:.0f} min ({wait_ok}); "
            f"max turnaround of own reads {mine['max_in_house_min']:.0f} "
            f"vs {best['max_in_house_min']:.0f} min ({own_ok})"
        )


def _verdict(mine: float, best: float, *, higher_is_better: bool) -> str:
    if abs(mine - best) < 0.05:
        return "level"
    return "ahead" if (mine > best) == higher_is_better else "BEHIND"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out: dict[str, Any] = {
        "commit": _git_commit(),
        "machine": _machine(),
        "args": vars(args) | {"json": None},
    }
    began = time.perf_counter()
    print(f"bench-assign at {out['commit']} on {out['machine']}")
    if not args.no_day:
        run_day(args, out)
    if not args.no_optimum:
        from bench.assign.optimum import run_optimum

        out["optimum"] = run_optimum(seed=args.seed)
    if not args.no_latency:
        from bench.assign.latency import run_latency

        out["latency"] = run_latency(seed=args.seed, calls=args.latency_calls)
    print(f"\ndone in {time.perf_counter() - began:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=_plain))
    return 0


def _plain(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
