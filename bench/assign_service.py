"""Assignment under replicas: what routing an order costs, and how far the decision lock
lets replicas go.

    .venv/bin/python bench/assign_service.py [--orders 2000] [--concurrency 8] [--replicas 3]
    make bench-assign-service BENCH_ARGS="--orders 500"

One run (docs/benchmarks.md, "Assignment: routing under replicas", has the results):

1. PostgreSQL: a throwaway cluster (initdb/pg_ctl, as the tests make one), or the server of
   `--database-url` on 127.0.0.0/8; assignment's database and the audit log, migrated.
2. The roster through the assignment API (bench/assign_service_world.py): `--readers`
   radiologists of one reading group over `--facilities` facilities in eight states, with
   licences, privileges, subspecialties, modalities, around-the-clock shifts and caps
   (a tenth of them low, so that caps bind), a primary and an overflow contract per facility.
3. Phases, each in fresh processes (bench/assign_service_replica.py: the app in-process,
   its own engine, warm-up, then a barrier), baseline and routed taking turns per shape:
   - baseline: the same read Tasks written through FhirService.create, nothing else;
   - routed: order events delivered as the consumer endpoint does (inbox row, Task lookup,
     Patient read from a fake intake, the decision lock, engine, Task, read_work, audit);
   shapes: one replica one at a time, one replica `--concurrency` in flight, `--replicas`
   replicas (processes) on the same database with `--concurrency` in flight each.
4. Checks the database afterwards (one Task per order, read_work agrees, no reader given a
   capped read at their cap, in clock order); prints the tables; writes
   bench/results/assign-service-<time>.json. Exit status 1 if a check or a delivery failed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import os
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import asyncpg
import uvloop
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from bench.assign_service_figures import (  # noqa: E402
    COMPARISON_HEADER,
    check_database,
    comparison_rows,
    lock_rows,
    markdown,
    phase_figures,
    stage_rows,
)
from bench.assign_service_replica import Job, replica_main, replica_settings  # noqa: E402
from bench.assign_service_world import Shape, World, make_orders, make_world, write_roster  # noqa: E402
from bench.intake_bench import _cpu_model, _git_state, machine_busy  # noqa: E402
from bench.notifications_bench import _asyncpg_dsn, postgres_admin_url, postgres_settings  # noqa: E402
from bench.tenancy_measure import _postgres_cpu, _spent  # noqa: E402
from scripts.local_platform import AUDIT  # noqa: E402
from tests.support.databases import postgres_database  # noqa: E402

DATABASE_SUFFIX = "bench_assign_service"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Routing orders in the assignment service, one and several replicas, "
        "against writing the same Tasks without deciding.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--orders", type=int, default=2000, help="measured orders per phase")
    parser.add_argument("--warmup", type=int, default=40, help="orders per process before")
    parser.add_argument("--concurrency", type=int, default=8, help="in flight per replica")
    parser.add_argument("--replicas", type=int, default=3, help="replicas of the last shape")
    parser.add_argument("--readers", type=int, default=200, help="radiologists")
    parser.add_argument("--facilities", type=int, default=40, help="client facilities")
    parser.add_argument("--cap", type=int, default=150, help="maxOpenTasks of most readers")
    parser.add_argument("--tight-cap", type=int, default=10, help="maxOpenTasks of a tenth")
    parser.add_argument("--sweep-seconds", type=float, default=5.0, help="sweeper period")
    parser.add_argument("--seed", type=int, default=1, help="of the roster and the orders")
    parser.add_argument(
        "--database-url",
        help="admin URL of a PostgreSQL on 127.0.0.0/8 that may create databases "
        "(default: as the tests, TEST_DATABASE_URL or a PostgreSQL DATABASE_URL, else a "
        "throwaway cluster)",
    )
    parser.add_argument("--output", type=Path, help="result JSON (default bench/results/...)")
    args = parser.parse_args(argv)
    if not (10 <= args.orders <= 100_000 and 0 <= args.warmup <= 1000):
        parser.error("--orders must be in [10, 100000] and --warmup in [0, 1000]")
    if not (1 <= args.concurrency <= 32 and 1 <= args.replicas <= 8):
        parser.error("--concurrency must be in [1, 32] and --replicas in [1, 8]")
    if not (1 <= args.readers <= 2000 and 1 <= args.facilities <= 500):
        parser.error("--readers must be in [1, 2000] and --facilities in [1, 500]")
    args.run_id = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    args.output = args.output or RESULTS / f"assign-service-{args.run_id}.json"
    return args


async def setup(url: str, audit_url: str, world: World) -> dict[str, int]:
    """The roster written through the assignment API (the app in this process, stopped
    before the phases so that its sweeper is not a replica of theirs)."""
    from asgi_lifespan import LifespanManager

    from services.assignment.app import create_app
    from tests.fixtures import client_for

    app = create_app(replica_settings(url, audit_url))
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=60),
        client_for(app) as client,
    ):
        return await write_roster(client, world)


class LockSampler(threading.Thread):
    """Counts the backends of the database waiting on a lock, every 50 ms, until stopped."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        self.dsn, self.samples, self.halt = dsn, list[int](), threading.Event()

    def run(self) -> None:
        asyncio.run(self._sample())

    async def _sample(self) -> None:
        connection = await asyncpg.connect(self.dsn)
        try:
            while not self.halt.is_set():
                waiting = await connection.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                self.samples.append(int(waiting))
                await asyncio.sleep(0.05)
        finally:
            await connection.close()


def run_phase(
    name: str, jobs: list[Job], *, dsn: str, port: int | None
) -> tuple[list[dict[str, Any]], dict[str, float], list[int]]:
    """Start one process per job, release them together once all are warm, and collect
    their reports with the CPU PostgreSQL and the whole machine used (seconds) and the lock
    waiters over the window."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(jobs) + 1)
    queue = context.Queue()
    processes = [context.Process(target=replica_main, args=(job, barrier, queue)) for job in jobs]
    for process in processes:
        process.start()
    try:
        try:
            barrier.wait(timeout=600)
        except threading.BrokenBarrierError:
            raise SystemExit(f"phase {name}: a process failed:\n{queue.get(timeout=60)}") from None
        before, machine = _postgres_cpu(port), machine_busy()[0]
        sampler = LockSampler(dsn)
        sampler.start()
        reports: list[dict[str, Any]] = []
        probes: list[dict[str, Any]] = []
        while len(reports) < len(processes):  # a probe may come before another's report
            message = queue.get(timeout=1800)
            (probes if "probe" in message else reports).append(message)
        cpu = {
            "postgres": _spent(_postgres_cpu(port), before),
            "machine": machine_busy()[0] - machine,
        }
        sampler.halt.set()
        sampler.join()
        while len(probes) < sum(job.probe_engine for job in jobs):
            if any("fatal" in r for r in reports):
                break
            probes.append(queue.get(timeout=600))
    finally:
        for process in processes:
            process.join(timeout=120)
            if process.is_alive():
                process.terminate()
    fatal = [r["fatal"] for r in reports + probes if "fatal" in r]
    if fatal:
        raise SystemExit(f"phase {name}: a process failed:\n{fatal[0]}")
    for probe in probes:
        reports[0]["engine"] = probe["probe"]
    return reports, cpu, sampler.samples


def shapes(args: argparse.Namespace) -> list[tuple[int, int]]:
    return [(1, 1), (1, args.concurrency), (args.replicas, args.concurrency)]


def phase_jobs(
    args: argparse.Namespace,
    world: World,
    name: str,
    mode: str,
    shape: tuple[int, int],
    urls: tuple[str, str],
) -> tuple[list[Job], list[str]]:
    """One job per replica of a phase (its share of new orders, its warm-up), and the ids
    of every order the phase sends."""
    replicas, concurrency = shape
    orders = make_orders(world, name, args.orders)
    jobs = []
    for r in range(replicas):
        mine, warmup = orders[r::replicas], make_orders(world, f"{name}-warm{r}", args.warmup)
        references = {o["subject"]["reference"] for o in mine + warmup}
        jobs.append(
            Job(
                name=f"{name}-{r}",
                mode=mode,
                database_url=urls[0],
                audit_url=urls[1],
                orders=mine,
                warmup=warmup,
                patients={ref: world.patients[ref] for ref in references},
                concurrency=concurrency,
                readers=sorted(world.names.items()),
                sweep_seconds=args.sweep_seconds,
                probe_engine=mode == "route" and r == 0,
            )
        )
    return jobs, [o["id"] for job in jobs for o in job.orders + job.warmup]


def measure(args: argparse.Namespace, world: World, url: str, audit_url: str) -> dict[str, Any]:
    """Every phase, baseline then routed per shape; the figures and the orders sent."""
    dsn, port = _asyncpg_dsn(url), make_url(url).port
    phases: list[dict[str, Any]] = []
    sent: dict[str, list[str]] = {"route": [], "baseline": []}
    for replicas, concurrency in shapes(args):
        for mode in ("baseline", "route"):
            name = f"{mode}-{replicas}x{concurrency}"
            jobs, ids = phase_jobs(
                args, world, name, mode, (replicas, concurrency), (url, audit_url)
            )
            started = time.monotonic()
            reports, cpu, waiters = run_phase(name, jobs, dsn=dsn, port=port)
            failures = [f for r in reports for f in r["failures"]]
            if failures:
                raise SystemExit(
                    f"phase {name}: {len(failures)} deliveries failed; the first:\n{failures[0]}"
                )
            figures = phase_figures(name, mode, replicas, concurrency, reports, cpu, waiters)
            phases.append(figures)
            sent[mode].extend(ids)
            print(
                f"{name}: {figures['orders']} in {figures['window_s']} s, {figures['per_s']}/s, "
                f"p50 {figures['latency_ms']['p50']} ms, p99 {figures['latency_ms']['p99']} ms, "
                f"others {figures['others_cores']} cores (phase {time.monotonic() - started:.0f} s)",
                flush=True,
            )
    return {"phases": phases, "routed": sent["route"], "written": sent["baseline"]}


def report(result: dict[str, Any]) -> dict[str, str]:
    """Print the tables; return them as markdown."""
    phases = result["phases"]
    tables = {
        "comparison": markdown(COMPARISON_HEADER, comparison_rows(phases)),
        "stages": markdown(*stage_rows(phases)),
        "lock": markdown(*lock_rows(phases)),
    }
    print("\nRouted orders against baseline Task writes (same run):\n" + tables["comparison"])
    print("\nRouted: mean ms per order in each stage (p99):\n" + tables["stages"])
    print("\nThe decision lock:\n" + tables["lock"])
    probe = next((p["engine_probe"] for p in phases if p.get("engine_probe")), None)
    if probe:
        print(f"\nEngine at the end of a window: {json.dumps(probe)}")
    checks = result["checks"]
    print(
        f"\nChecks: {checks['tasks']} Tasks, {checks['read_work_rows']} read_work rows, "
        f"outcomes {checks['outcomes']}, {checks['readers_at_cap']} readers at their cap, "
        f"most open reads held by one reader {checks['max_open_per_reader']}"
    )
    return tables


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    shape = Shape(args.readers, args.facilities, args.cap, args.tight_cap, seed=args.seed)
    world = make_world(shape)
    with ExitStack() as stack:
        admin_url = stack.enter_context(postgres_admin_url(args.database_url))
        url = postgres_database(admin_url, "assignment", DATABASE_SUFFIX)
        audit_url = postgres_database(admin_url, AUDIT, DATABASE_SUFFIX)
        started = time.monotonic()
        counts = uvloop.run(setup(url, audit_url, world))
        print(f"roster: {counts} written in {time.monotonic() - started:.0f} s", flush=True)
        result = measure(args, world, url, audit_url)
        result["checks"] = uvloop.run(
            check_database(_asyncpg_dsn(url), result["routed"], result["written"], world.caps)
        )
        result["postgres"] = uvloop.run(postgres_settings(url))
    result["tables"] = report(result)
    failures = [f for p in result["phases"] for f in p["failures"]]
    problems = result["checks"]["problems"] + [f"{len(failures)} deliveries failed"] * bool(
        failures
    )
    result["run"] = {
        "id": args.run_id,
        "argv": sys.argv[1:],
        "roster": counts,
        "git": _git_state(),
        "machine": {"cpus": os.cpu_count(), "model": _cpu_model()},
    }
    del result["routed"], result["written"]
    args.output.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nresult: {args.output}")
    if problems:
        print(
            "CHECKS FAILED:\n  "
            + "\n  ".join(problems)
            + (f"\nfirst failure:\n{failures[0]}" if failures else "")
        )
        return 1
    print("checks passed: one Task per order, read_work agrees, no cap exceeded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
