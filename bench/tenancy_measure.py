"""The measured part of bench/tenancy_bench.py: the operations, the callers taking turns in
rounds, and the figures per operation and caller (latency, CPU of this process and of
PostgreSQL)."""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.intake_bench import CLK_TCK, machine_busy
from bench.notifications_figures import cluster_pids

Call = Callable[..., Awaitable[tuple[int, bytes]]]

# name -> (path, query): what a caller asks of intake, one request at a time.
OPERATIONS: dict[str, tuple[str, bytes]] = {
    "read": ("/fhir/ServiceRequest/{id}", b""),
    "search": ("/fhir/ServiceRequest", b"_count=50&_total=none"),
    "search active, newest": (
        "/fhir/ServiceRequest",
        b"status=active&_sort=-_lastUpdated&_count=50&_total=none",
    ),
    "search + _include": (
        "/fhir/ServiceRequest",
        b"_count=50&_include=ServiceRequest:patient&_total=none",
    ),
    "_total=accurate": ("/fhir/ServiceRequest", b"_total=accurate&_count=0"),
    "type _history": ("/fhir/ServiceRequest/_history", b"_count=50"),
}
CALLERS = ("system", "facility", "vendor")


@dataclass(slots=True)
class Caller:
    """One principal's way into the app, and the orders it may read by id."""

    name: str
    call: Call
    orders: list[str]


@dataclass(slots=True)
class Tally:
    """Everything measured for one operation and caller, over all rounds."""

    latencies_s: list[float] = field(default_factory=list)
    process_cpu_s: float = 0.0
    postgres_cpu_s: float = 0.0
    round_p50_ms: list[float] = field(default_factory=list)
    entries: int | None = None  # entries of one answer (bundles); total for a count

    def figures(self, baseline_p50: float | None) -> dict[str, Any]:
        n = len(self.latencies_s)
        ordered = sorted(self.latencies_s)
        p50 = statistics.median(ordered) * 1000
        p95 = ordered[math.ceil(0.95 * n) - 1] * 1000  # nearest rank
        return {
            "requests": n,
            "p50_ms": round(p50, 2),
            "p95_ms": round(p95, 2),
            "x_system_p50": round(p50 / baseline_p50, 2) if baseline_p50 else None,
            "process_cpu_ms": round(self.process_cpu_s / n * 1000, 2),
            "postgres_cpu_ms": round(self.postgres_cpu_s / n * 1000, 2),
            "round_p50_ms": [round(v, 2) for v in self.round_p50_ms],
            "entries": self.entries,
        }


def _cpu_with_children(pid: int) -> float:
    """CPU seconds of a process and of its children that ended (the postmaster's parallel
    query workers live for one statement: their CPU reaches its parent when they exit)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / CLK_TCK


def _postgres_cpu(port: int | None) -> dict[int, float]:
    return {pid: _cpu_with_children(pid) for pid in cluster_pids(port)}


def _spent(after: dict[int, float], before: dict[int, float]) -> float:
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def _target(operation: str, caller: Caller, rng: random.Random) -> tuple[str, bytes]:
    path, query = OPERATIONS[operation]
    return path.format(id=rng.choice(caller.orders)) if "{id}" in path else path, query


async def answer_size(caller: Caller, operation: str, rng: random.Random) -> int:
    """Entries in one answer (1 for a read, the total for a count); fails on an error."""
    path, query = _target(operation, caller, rng)
    status, body = await caller.call("GET", path, query)
    if status != 200:
        raise SystemExit(f"{caller.name} {operation}: {status} {body[:300]!r}")
    document = orjson.loads(body)
    if document.get("resourceType") != "Bundle":
        return 1
    if operation == "_total=accurate":
        return int(document["total"])
    return len(document.get("entry") or ())


async def batch(
    caller: Caller, operation: str, n: int, rng: random.Random, port: int | None, tally: Tally
) -> None:
    """`n` requests back to back, added to `tally`."""
    if n == 0:
        return
    latencies = []
    postgres, cpu = _postgres_cpu(port), time.process_time()
    for _ in range(n):
        path, query = _target(operation, caller, rng)
        started = time.perf_counter()
        status, body = await caller.call("GET", path, query)
        latencies.append(time.perf_counter() - started)
        if status != 200:
            raise SystemExit(f"{caller.name} {operation}: {status} {body[:300]!r}")
    tally.process_cpu_s += time.process_time() - cpu
    tally.postgres_cpu_s += _spent(_postgres_cpu(port), postgres)
    tally.latencies_s += latencies
    tally.round_p50_ms.append(statistics.median(latencies) * 1000)


async def measure(
    callers: dict[str, Caller], *, rounds: int, n: int, warmup: int, port: int | None, seed: int
) -> dict[str, Any]:
    """Every operation for every caller: a warm-up, then `rounds` rounds in which the callers
    take turns on each operation (in a rotated order), so that load from elsewhere on the
    machine falls on all three alike."""
    rng = random.Random(seed)
    tallies = {(op, who): Tally() for op in OPERATIONS for who in CALLERS}
    for (op, who), tally in tallies.items():
        tally.entries = await answer_size(callers[who], op, rng)
        await batch(callers[who], op, warmup, rng, port, Tally())
    busy, wall, own = machine_busy(), time.monotonic(), time.process_time()
    postgres = _postgres_cpu(port)
    for index in range(rounds):
        order = CALLERS[index % 3 :] + CALLERS[: index % 3]
        for op in OPERATIONS:
            for who in order:
                await batch(callers[who], op, n, rng, port, tallies[(op, who)])
    seconds = time.monotonic() - wall
    others = (machine_busy()[0] - busy[0]) - (time.process_time() - own)
    others -= _spent(_postgres_cpu(port), postgres)
    results: dict[str, Any] = {}
    for op in OPERATIONS:
        baseline = statistics.median(tallies[(op, "system")].latencies_s) * 1000
        results[op] = {who: tallies[(op, who)].figures(baseline) for who in CALLERS}
    return {
        "results": results,
        "seconds": round(seconds, 1),
        "others_cores": round(max(0.0, others) / seconds, 2),
    }


def print_table(measured: dict[str, Any]) -> list[str]:
    """The figures as a Markdown table (printed, and kept for the JSON)."""
    lines = [
        "| operation | caller | p50 ms | p95 ms | p50 vs system | app CPU ms | PostgreSQL "
        "CPU ms | entries |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for op, by_caller in measured["results"].items():
        for who, f in by_caller.items():
            lines.append(
                f"| {op} | {who} | {f['p50_ms']:.2f} | {f['p95_ms']:.2f} | "
                f"{f['x_system_p50']:.2f} | {f['process_cpu_ms']:.2f} | "
                f"{f['postgres_cpu_ms']:.2f} | {f['entries']} |"
            )
    print("\n".join(lines))
    print(
        f"\nmeasured {measured['seconds']} s; other processes used "
        f"{measured['others_cores']} cores meanwhile"
    )
    return lines
