"""What bench/reports_bench.py and bench/sla_bench.py share: a PostgreSQL database of their
own (created, migrated, dropped), latency figures, a closed loop of in-process requests, and
how busy the machine was.

In-process means one Python process and one event loop: the app is called as an ASGI app (no
server, no sockets) by `concurrency` coroutines. The figures are the service's cost on one
core plus PostgreSQL's, with no HTTP server in front; throughput is bounded by that one core.
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from bench.intake_bench import machine_busy, process_tree
from bench.notifications_bench import _asyncpg_dsn
from bench.tenancy_measure import _cpu_with_children, _spent
from scripts.local_platform import AUDIT
from tests.support.databases import postgres_database

# The local PostgreSQL the benchmarks use (trust auth); any database it may create works.
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_url(given: str | None) -> str:
    """The admin URL (asyncpg driver), refusing anything but a loopback server."""
    url = make_url(given or os.environ.get("BENCH_DATABASE_URL") or DEFAULT_ADMIN_URL)
    if url.host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing PostgreSQL at {url.host!r}: only the local one is loaded")
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


@contextmanager
def bench_databases(
    admin: str, service: str, suffix: str, *, keep: bool
) -> Iterator[tuple[str, str]]:
    """(service URL, audit URL): `test_<service>_<suffix>` and `test_audit_<suffix>`, freshly
    migrated, dropped afterwards unless `keep`."""
    urls = (postgres_database(admin, service, suffix), postgres_database(admin, AUDIT, suffix))
    try:
        yield urls
    finally:
        if not keep:
            asyncio.run(_drop(admin, [make_url(u).database or "" for u in urls]))


async def _drop(admin: str, names: list[str]) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(admin))
    try:
        for name in names:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def postmaster_of(url: str) -> int | None:
    """The pid of the server's postmaster (the parent of a backend), None when /proc does
    not show it: the CPU of that server alone is counted, not of other clusters about."""
    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:  # read while the backend lives: it exits with the connection
        return _parent(await connection.fetchval("SELECT pg_backend_pid()"))
    finally:
        await connection.close()


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def server_cpu(postmaster: int | None) -> dict[int, float]:
    """CPU seconds of each process of the server (none known: empty)."""
    if postmaster is None:
        return {}
    return {pid: _cpu_with_children(pid) for pid in process_tree(postmaster)}


def load_average(when: str) -> tuple[float, float, float]:
    """The 1/5/15-minute load averages, printed: above the core count, other work shared the
    machine and the figures are slower than this code alone would be."""
    found = os.getloadavg()
    print(
        f"load average at {when}: {found[0]:.2f} {found[1]:.2f} {found[2]:.2f} "
        f"({os.cpu_count()} cores)"
    )
    return found


def p(ordered: list[float], percent: float) -> float:
    """Nearest-rank percentile of ascending `ordered`."""
    return ordered[max(1, math.ceil(percent / 100 * len(ordered))) - 1]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    """p50, p95, mean and max of latencies given in seconds, in ms."""
    ordered = sorted(seconds)
    return {
        "n": len(ordered),
        "p50_ms": round(p(ordered, 50) * 1000, 2),
        "p95_ms": round(p(ordered, 95) * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


async def timed(n: int, action: Callable[[], Awaitable[Any]]) -> list[float]:
    """`action` run `n` times one after another; each run's seconds."""
    found = []
    for _ in range(n):
        started = time.perf_counter()
        await action()
        found.append(time.perf_counter() - started)
    return found


@dataclass(slots=True)
class LoadResult:
    """A closed loop's figures."""

    concurrency: int
    seconds: float
    latencies_s: list[float] = field(default_factory=list)
    process_cpu_s: float = 0.0
    postgres_cpu_s: float = 0.0
    others_cores: float = 0.0

    def figures(self) -> dict[str, Any]:
        n = len(self.latencies_s)
        return {
            "concurrency": self.concurrency,
            **summary_ms(self.latencies_s),
            "per_second": round(n / self.seconds, 1),
            "process_cpu_ms": round(self.process_cpu_s / n * 1000, 2),
            "postgres_cpu_ms": round(self.postgres_cpu_s / n * 1000, 2),
            "others_cores": round(self.others_cores, 2),
        }


async def closed_loop(
    request: Callable[[], Awaitable[None]],
    *,
    concurrency: int,
    duration: float,
    postmaster: int | None,
) -> LoadResult:
    """`concurrency` coroutines sending `request` back to back for `duration` seconds."""
    result = LoadResult(concurrency, duration)
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await request()
            result.latencies_s.append(time.perf_counter() - started)

    busy, own = machine_busy()[0], time.process_time()
    postgres = server_cpu(postmaster)
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    result.process_cpu_s = time.process_time() - own
    result.postgres_cpu_s = _spent(server_cpu(postmaster), postgres)
    others = machine_busy()[0] - busy - result.process_cpu_s - result.postgres_cpu_s
    result.others_cores = max(0.0, others) / result.seconds
    return result
