"""Figures and checks of bench/assign_service.py: per phase the throughput, latency
percentiles, stage times and the decision lock's share of the window; after the run, what
the database holds (one Task per order, no reader over their cap)."""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from typing import Any

import asyncpg

from bench.assign_service_probes import STAGES
from services.assignment.tasks import READ_TASK_SYSTEM


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (`share` in (0, 1])."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "mean": round(statistics.fmean(values) * 1000, 2),
        "p50": round(percentile(values, 0.50) * 1000, 2),
        "p95": round(percentile(values, 0.95) * 1000, 2),
        "p99": round(percentile(values, 0.99) * 1000, 2),
        "max": round(max(values) * 1000, 2),
    }


def phase_figures(
    name: str,
    mode: str,
    replicas: int,
    concurrency: int,
    reports: list[dict[str, Any]],
    cpu_s: dict[str, float],
    lock_waiters: list[int],
) -> dict[str, Any]:
    """One phase's figures from its processes' reports."""
    timings = [t for r in reports for t in r["timings"]]
    window = max(r["ended"] for r in reports) - min(r["began"] for r in reports)
    orders = len(timings)
    figures: dict[str, Any] = {
        "phase": name,
        "mode": mode,
        "replicas": replicas,
        "concurrency": concurrency,
        "orders": orders,
        "window_s": round(window, 2),
        "per_s": round(orders / window, 1),
        "latency_ms": _ms([t["total"] for t in timings]),
        "process_cpu_ms_per_order": round(sum(r["cpu_s"] for r in reports) / orders * 1000, 2),
        "postgres_cpu_ms_per_order": round(cpu_s["postgres"] / orders * 1000, 2),
        "gc_ms_per_order": round(sum(sum(r["gc_s"]) for r in reports) / orders * 1000, 2),
        "gc_collections": [sum(r["gc_collections"][g] for r in reports) for g in range(3)],
        # CPU of the rest of the machine: other people's work on the shared cores (the
        # processes' own CPU ends with their window; the machine's is read a little later).
        "others_cores": round(
            max(0.0, cpu_s["machine"] - cpu_s["postgres"] - sum(r["cpu_s"] for r in reports))
            / window,
            2,
        ),
        "failures": [f for r in reports for f in r["failures"]],
    }
    if mode == "route":
        figures |= _route_figures(timings, reports, window, lock_waiters)
    return figures


def _route_figures(
    timings: list[dict[str, float]],
    reports: list[dict[str, Any]],
    window: float,
    lock_waiters: list[int],
) -> dict[str, Any]:
    """Stage times, statements, the lock and the sweeps of a routed phase."""
    held = [t["held"] for t in timings]
    return {
        "stages_ms": {
            stage: _ms([t.get(stage, 0.0) for t in timings]) for stage in (*STAGES, "held")
        },
        "statements": {
            "before_lock": round(statistics.fmean(t["statements_before"] for t in timings), 1),
            "under_lock": round(statistics.fmean(t["statements_locked"] for t in timings), 1),
        },
        "lock": {
            "held_share_of_window": round(sum(held) / window, 3),
            "ceiling_per_s": round(len(held) / sum(held), 1),
            "waiting_backends_mean": round(statistics.fmean(lock_waiters), 2)
            if lock_waiters
            else None,
            "samples": len(lock_waiters),
        },
        "sweeps": _sweep_figures([s for r in reports for s in r["sweeps"]]),
        "engine_probe": next((r["engine"] for r in reports if r.get("engine")), None),
    }


def _sweep_figures(sweeps: list[dict[str, float]]) -> dict[str, Any]:
    if not sweeps:
        return {"count": 0, "held_ms_total": 0.0}
    return {
        "count": len(sweeps),
        "ms_mean": round(statistics.fmean(s["ms"] for s in sweeps), 1),
        "ms_max": round(max(s["ms"] for s in sweeps), 1),
        "held_ms_mean": round(statistics.fmean(s["held_ms"] for s in sweeps), 1),
        "held_ms_total": round(sum(s["held_ms"] for s in sweeps), 1),
    }


def comparison_rows(phases: list[dict[str, Any]]) -> list[list[str]]:
    """Routed against baseline per shape (replicas x in flight)."""
    by_shape: dict[tuple[int, int], dict[str, dict[str, Any]]] = {}
    for phase in phases:
        by_shape.setdefault((phase["replicas"], phase["concurrency"]), {})[phase["mode"]] = phase
    rows = []
    for (replicas, concurrency), pair in by_shape.items():
        base, routed = pair.get("baseline"), pair.get("route")
        if base is None or routed is None:
            continue
        rows.append(
            [
                f"{replicas} x {concurrency}",
                f"{base['per_s']:,.0f}",
                f"{routed['per_s']:,.0f}",
                f"{routed['per_s'] / base['per_s']:.2f}",
                f"{base['latency_ms']['p50']:.1f} / {routed['latency_ms']['p50']:.1f}",
                f"{routed['latency_ms']['p95']:.1f}",
                f"{base['latency_ms']['p99']:.1f} / {routed['latency_ms']['p99']:.1f}",
                f"{base['process_cpu_ms_per_order']:.1f} / {routed['process_cpu_ms_per_order']:.1f}",
                f"{base['postgres_cpu_ms_per_order']:.1f} / {routed['postgres_cpu_ms_per_order']:.1f}",
            ]
        )
    return rows


COMPARISON_HEADER = [
    "replicas x in flight",
    "baseline Tasks/s",
    "routed orders/s",
    "routed/baseline",
    "p50 ms base / routed",
    "p95 ms routed",
    "p99 ms base / routed",
    "app CPU ms/order base / routed",
    "PG CPU ms/order base / routed",
]


def stage_rows(phases: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Mean ms per routed order in each stage, per routed phase (p99 in brackets)."""
    routed = [p for p in phases if p["mode"] == "route"]
    header = ["stage", *(f"{p['replicas']} x {p['concurrency']}" for p in routed)]
    rows = []
    for stage in (*STAGES, "held"):
        cells = []
        for phase in routed:
            figures = phase["stages_ms"][stage]
            cells.append(f"{figures['mean']:.2f} ({figures['p99']:.1f})")
        rows.append(["lock held (advance -> commit)" if stage == "held" else stage, *cells])
    rows.append(
        [
            "total",
            *(f"{p['latency_ms']['mean']:.2f} ({p['latency_ms']['p99']:.1f})" for p in routed),
        ]
    )
    return header, rows


def lock_rows(phases: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    routed = [p for p in phases if p["mode"] == "route"]
    header = ["", *(f"{p['replicas']} x {p['concurrency']}" for p in routed)]
    rows = [
        ["orders/s measured", *(f"{p['per_s']:,.0f}" for p in routed)],
        [
            "SQL statements per order before / under the lock",
            *(
                f"{p['statements']['before_lock']} / {p['statements']['under_lock']}"
                for p in routed
            ),
        ],
        [
            "lock held, share of the window",
            *(f"{p['lock']['held_share_of_window']:.2f}" for p in routed),
        ],
        [
            "1 / mean hold (decisions/s ceiling)",
            *(f"{p['lock']['ceiling_per_s']:,.0f}" for p in routed),
        ],
        [
            "backends waiting on a lock (mean)",
            *(str(p["lock"]["waiting_backends_mean"]) for p in routed),
        ],
        ["sweeps: count, lock held mean / all (ms)", *(_sweeps(p["sweeps"]) for p in routed)],
    ]
    return header, rows


def _sweeps(sweeps: dict[str, Any]) -> str:
    if not sweeps["count"]:
        return "0"
    return f"{sweeps['count']}, {sweeps['held_ms_mean']} / {sweeps['held_ms_total']}"


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- checks


async def check_database(
    dsn: str, routed: list[str], written: list[str], caps: dict[str, int]
) -> dict[str, Any]:
    """One Task per order (routed and baseline), a read_work row per routed order agreeing
    with its Task, and -- replaying decisions in the order the clock gave them -- no reader
    given a non-STAT read while at their cap. Problems are listed, not raised."""
    connection = await asyncpg.connect(dsn)
    try:
        contents = await connection.fetch(
            "SELECT content FROM fhir_resource WHERE resource_type = 'Task' AND NOT deleted"
        )
        rows = await connection.fetch("SELECT * FROM read_work ORDER BY changed")
    finally:
        await connection.close()
    tasks: dict[str, list[dict[str, Any]]] = {}
    for (content,) in contents:
        task = json.loads(content)
        for identifier in task.get("identifier") or []:
            if identifier.get("system") == READ_TASK_SYSTEM:
                tasks.setdefault(identifier["value"], []).append(task)
    problems = []
    expected = set(routed) | set(written)
    wrong = [o for o in expected if len(tasks.get(o, [])) != 1]
    if wrong:
        problems.append(f"{len(wrong)} orders without exactly one Task, e.g. {sorted(wrong)[:3]}")
    if extra := set(tasks) - expected:
        problems.append(f"{len(extra)} Tasks of orders never sent, e.g. {sorted(extra)[:3]}")
    by_order = {row["order_id"]: row for row in rows}
    if missing := set(routed) - set(by_order):
        problems.append(f"{len(missing)} routed orders without a read_work row")
    problems += _owners_agree(tasks, by_order)
    over, outcomes = _replay_caps(rows, caps)
    if over:
        problems.append(
            f"{len(over)} decisions gave a reader at their cap a capped read: {over[:3]}"
        )
    held = Counter(row["reader"] for row in rows if row["reader"])
    at_cap = sum(1 for reader, cap in caps.items() if held[reader] >= cap)
    return {
        "tasks": len(contents),
        "read_work_rows": len(rows),
        "outcomes": dict(outcomes),
        "readers_at_cap": at_cap,
        "max_open_per_reader": max(held.values(), default=0),
        "problems": problems,
    }


def _owners_agree(tasks: dict[str, list[dict[str, Any]]], by_order: dict[str, Any]) -> list[str]:
    disagree = []
    for order_id, row in by_order.items():
        (task,) = tasks.get(order_id) or [{}]
        owner = (task.get("owner") or {}).get("reference")
        wanted = (
            f"PractitionerRole/{row['reader']}"
            if row["reader"]
            else f"Organization/{row['vendor']}"
            if row["vendor"]
            else None
        )
        if owner != wanted:
            disagree.append(order_id)
    return (
        [f"{len(disagree)} Tasks whose owner is not read_work's: {disagree[:3]}"]
        if disagree
        else []
    )


def _replay_caps(rows: list[Any], caps: dict[str, int]) -> tuple[list[str], Counter[str]]:
    """Decisions in clock order: a routine/urgent/asap read given to a reader already
    holding their cap of open reads (STAT and stroke reads may exceed it, by design)."""
    held: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    over = []
    for row in rows:
        reader = row["reader"]
        outcomes["assigned" if reader else "overflow" if row["vendor"] else "unassigned"] += 1
        if reader is None:
            continue
        bypass = row["priority"] == "stat" or row["stroke"]
        if not bypass and held[reader] >= caps.get(reader, math.inf):
            over.append(f"{row['order_id']} -> {reader} holding {held[reader]}")
        held[reader] += 1
    return over, outcomes
