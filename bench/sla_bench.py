"""What sla's reports, metrics and breach predictor cost as the clocks pile up, on the local
PostgreSQL.

    .venv/bin/python bench/sla_bench.py [--closed 10000,100000] [--open 500,5000]
    make bench-sla BENCH_ARGS="--closed 10000 --open 1000"

One run (docs/benchmarks.md, "SLA reports and the predictor", has results and readings):

1. Creates and migrates `test_sla_bench_sla` (and its audit log) on the PostgreSQL of
   `--database-url` (default the local one), dropped at the end unless `--keep-database`;
   starts the sla app in-process (its predictor worker asleep: the run sweeps itself), its
   calls to assignment's `$reroute` answered at the HTTP level by a stand-in (rerouted).
2. Open clocks, at each `--open` size: reads ordered in the last hour, due a day later, filled
   as bench/sla_seed.py says. Measures `GET $open-orders` against the bare
   `order_facts(open_only=True)` it is built on, a `/metrics` scrape, and one predictor sweep
   (services/sla/predictor.py `sweep`) with nothing due; at the first size also one sweep
   with every order stepping (the sweep's `now` a day and a half on: past every deadline, so
   each order is alerted, re-routed, escalated and marked breached).
3. Closed clocks, at each `--closed` size: reads reported over consecutive days (about one
   in eight late). Measures `GET $compliance?by=facility,priority&period=day` over all of
   them against the bare `order_facts` fetch of the same range, the same report over the
   last day only, and again `$open-orders`, `/metrics` and an idle sweep with that history
   beside the open clocks.

Each measurement is repeated `--repeat` times after one warm-up call (a call slower than
2 s: twice, the first included; sweeps: once each); p50 and max are printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import uvloop
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from bench.inprocess_load import (  # noqa: E402
    admin_url,
    bench_databases,
    load_average,
    summary_ms,
    timed,
)
from bench.intake_bench import _cpu_model, _git_state  # noqa: E402
from bench.intake_inprocess import Call, asgi_caller  # noqa: E402
from bench.notifications_bench import _asyncpg_dsn, postgres_settings  # noqa: E402
from bench.sla_seed import (  # noqa: E402
    OPEN_BUDGET,
    closed_reads,
    grow,
    open_reads,
    seed_template,
    table_rows,
)

SUFFIX = "bench_sla"
DEV_TOKEN = "bench-sla-dev-token"
EVENTS_SECRET = "bench-sla-events-secret-0123456789abcdef"
ASSIGNMENT_URL = "http://assignment.bench"
SLOW_SECONDS = 2.0  # a call this slow is measured twice, its first call included
HEADERS = [
    (b"authorization", f"Bearer {DEV_TOKEN}".encode()),
    (b"accept", b"application/fhir+json"),
]


def sla_app(url: str, audit_url: str) -> Any:
    from services.sla.app import create_app
    from services.sla.settings import SlaSettings

    values: dict[str, Any] = dict(
        service_name="sla",
        environment="development",
        database_url=url,
        audit_database_url=audit_url,
        dev_auth_token=DEV_TOKEN,
        service_token=DEV_TOKEN,
        events_signing_secret=EVENTS_SECRET,
        events_enabled=False,
        rate_limit_per_second=0,
        log_level="ERROR",  # the escalation's warning line, once per order, is not measured
        otel_traces_exporter="none",
        assignment_url=ASSIGNMENT_URL,
        sla_sweep_seconds=3600.0,
    )
    return create_app(SlaSettings(**values))


class Reroutes:
    """Assignment's `$reroute`, answered at once: the read moved."""

    def __init__(self) -> None:
        self.asked = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.asked += 1
        answer = {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "rerouted", "valueBoolean": True},
                {"name": "owner", "valueReference": {"reference": "PractitionerRole/other"}},
                {"name": "reason", "valueString": "bench"},
            ],
        }
        return httpx.Response(200, json=answer, headers={"content-type": "application/fhir+json"})


def getter(call: Call, path: str, query: str = "") -> Callable[[], Awaitable[int]]:
    """A GET that must answer 200; returns the body's length."""

    async def get() -> int:
        status, body = await call("GET", path, query.encode())
        if status != 200:
            raise SystemExit(f"GET {path}?{query}: {status} {body[:300]!r}")
        return len(body)

    return get


class Bench:
    """The app, its callers and what was measured, by size."""

    def __init__(self, app: Any, call: Call, repeat: int) -> None:
        self.app, self.call, self.repeat = app, call, repeat
        self.rows: list[dict[str, Any]] = []

    async def measure(
        self,
        size: str,
        name: str,
        action: Callable[[], Awaitable[Any]],
        n: int | None = None,
        **extra: Any,
    ) -> Any:
        started = time.perf_counter()
        outcome = await action()  # warm (and what it answers)
        first = time.perf_counter() - started
        if first > SLOW_SECONDS:  # warm enough: the first call counts, and one more
            figures = summary_ms([first, *await timed(1, action)])
        else:
            figures = summary_ms(await timed(n or self.repeat, action))
        row = {"size": size, "what": name, **figures, **extra}
        self.rows.append(row)
        print(
            f"  {size:>22} | {name:58} | p50 {figures['p50_ms']:>9.1f} ms | "
            f"max {figures['max_ms']:>9.1f} ms" + (f" | {extra}" if extra else "")
        )
        return outcome

    async def bare(self, **window: Any) -> int:
        from services.sla.facts import order_facts

        async with self.app.state.database.transaction() as session:
            return len(await order_facts(session, **window))

    async def sweep_once(
        self, size: str, name: str, now: dt.datetime | None = None
    ) -> Counter[str]:
        from services.sla.predictor import sweep

        started = time.perf_counter()
        taken = await sweep(self.app.state, now=now)
        seconds = time.perf_counter() - started
        steps = Counter(str(step.value if hasattr(step, "value") else step) for _, step in taken)
        row = {
            "size": size,
            "what": name,
            "n": 1,
            "p50_ms": round(seconds * 1000, 1),
            "max_ms": round(seconds * 1000, 1),
            "steps": dict(steps),
        }
        self.rows.append(row)
        print(f"  {size:>22} | {name:58} | once  {seconds * 1000:>9.1f} ms | steps {dict(steps)}")
        return steps

    async def open_side(self, size: str, stepping: bool) -> None:
        open_count = await self.bare(open_only=True)
        await self.measure(
            size,
            "bare order_facts(open_only=True)",
            lambda: self.bare(open_only=True),
            open_clocks=open_count,
        )
        await self.measure(size, "GET $open-orders", getter(self.call, "/fhir/$open-orders"))
        await self.measure(size, "GET /metrics", getter(self.call, "/metrics"))
        await self.sweep_once(size, "predictor sweep, nothing due")
        if stepping:
            later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=OPEN_BUDGET + 30)
            await self.sweep_once(size, "predictor sweep, every order stepping", later)

    async def closed_side(
        self, size: str, start: dt.datetime, end: dt.datetime, total: int
    ) -> None:
        window = {"stopped_from": start, "stopped_to": end}
        query = f"start={_instant(start)}&end={_instant(end)}&by=facility,priority&period=day"
        found = await self.bare(**window)
        if found != total:
            raise SystemExit(
                f"order_facts finds {found} closed clocks in the range, seeded {total}"
            )
        await self.measure(
            size,
            "bare order_facts(stopped in range)",
            lambda: self.bare(**window),
            closed_clocks=found,
        )
        length = await getter(self.call, "/fhir/$compliance", query)()
        await self.measure(
            size,
            "GET $compliance by facility,priority,day",
            getter(self.call, "/fhir/$compliance", query),
            response_bytes=length,
        )
        last_day = (
            f"start={_instant(end - dt.timedelta(days=1))}&end={_instant(end)}"
            "&by=facility,priority&period=day"
        )
        await self.measure(
            size, "GET $compliance, last day only", getter(self.call, "/fhir/$compliance", last_day)
        )


def _instant(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def run(args: argparse.Namespace, url: str, audit_url: str) -> dict[str, Any]:
    from asgi_lifespan import LifespanManager

    dsn, rng = _asyncpg_dsn(url), random.Random(args.seed)
    app, reroutes = sla_app(url, audit_url), Reroutes()
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as managed:
        await app.state.peers.client.aclose()
        app.state.peers.client = httpx.AsyncClient(transport=httpx.MockTransport(reroutes.handle))
        bench = Bench(app, asgi_caller(managed.app, HEADERS), args.repeat)
        now = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        opened = await seed_template(app, open_reads(min(args.template, args.open[0]), now, rng))
        print(
            f"open template: {len(opened.template)} reads recorded in "
            f"{time.perf_counter() - started:.1f} s"
        )
        print("open clocks:")
        for index, size in enumerate(args.open):
            await grow(dsn, opened, size, unit="-1 minute")
            await bench.open_side(f"open {opened.size:,}", stepping=index == 0)
        day0 = now.replace(hour=0, minute=0, second=0, microsecond=0)
        day0 -= dt.timedelta(days=-(-max(args.closed) // args.template) + 3)
        started = time.perf_counter()
        closed = await seed_template(app, closed_reads(args.template, day0, rng))
        print(
            f"closed template: {args.template} reads recorded in "
            f"{time.perf_counter() - started:.1f} s"
        )
        print("closed clocks (beside the open ones):")
        for size in args.closed:
            await grow(dsn, closed, size, unit="1 day")
            end = day0 + dt.timedelta(days=closed.copies + 3)  # routine reads end days later
            label = f"closed {closed.size:,} + open {opened.size:,}"
            await bench.closed_side(label, day0, end, closed.size)
            await bench.open_side(label, stepping=False)
        rows = await table_rows(dsn)
    return {
        "measured": bench.rows,
        "reroutes_asked": reroutes.asked,
        "table_rows": rows,
        "postgres": await postgres_settings(url),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="sla's $compliance, $open-orders, /metrics and predictor sweep by size.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--closed", default="10000,100000", help="closed clocks, ascending")
    parser.add_argument("--open", default="500,5000", help="open clocks, ascending")
    parser.add_argument(
        "--template",
        type=int,
        default=500,
        help="reads recorded through sla's code; the rest are copies",
    )
    parser.add_argument("--repeat", type=int, default=3, help="of each request")
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument(
        "--database-url",
        help="admin URL of a local PostgreSQL (default: "
        "BENCH_DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/postgres)",
    )
    parser.add_argument("--keep-database", action="store_true", help="do not drop it after")
    parser.add_argument("--output", type=Path, help="result JSON (default bench/results/...)")
    args = parser.parse_args(argv)
    args.closed = sorted(int(n) for n in args.closed.split(","))
    args.open = sorted(int(n) for n in args.open.split(","))
    if not (10 <= args.template <= 20_000 and 1 <= args.repeat <= 100):
        parser.error("--template in [10, 20000], --repeat in [1, 100]")
    if min(args.closed + args.open) < 10 or max(args.closed + args.open) > 1_000_000:
        parser.error("sizes in [10, 1000000]")
    if -(-max(args.closed) // args.template) > 390:
        parser.error("closed clocks span one day per template: at most 390 days (--template)")
    args.run_id = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    args.output = args.output or RESULTS / f"sla-{args.run_id}.json"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = load_average("start")
    admin = admin_url(args.database_url)
    with bench_databases(admin, "sla", SUFFIX, keep=args.keep_database) as (url, audit):
        print(f"databases: {make_url(url).database}, {make_url(audit).database}")
        result = uvloop.run(run(args, url, audit))
    ended = load_average("end")
    result["run"] = {
        "id": args.run_id,
        "argv": sys.argv[1:],
        "git": _git_state(),
        "machine": {"cpus": os.cpu_count(), "model": _cpu_model()},
        "load_average": {"start": started, "end": ended},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nresult: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
