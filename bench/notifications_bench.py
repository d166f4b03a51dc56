"""Notifications benchmark: how fast events reach an external subscriber while orders flow
through the whole platform on PostgreSQL.

    .venv/bin/python bench/notifications_bench.py [--rate 10] [--duration 30] [--warmup 5]
    make bench-events BENCH_ARGS="--rate 40 --duration 20"

One run (docs/benchmarks.md has the results and how to read them):

1. PostgreSQL: a throwaway cluster (initdb/pg_ctl), or the server of `--database-url` (or
   of TEST_DATABASE_URL, as for the tests) on 127.0.0.0/8; a migrated database per service.
2. The four services and the gateway as uvicorn processes on loopback (LocalPlatform).
3. Through the gateway: one facility, `--radiologists` licensed and privileged readers, and
   Subscriptions of this bench's receiver to order-registered and task-created.
4. Baseline: signed POSTs of a real notification Bundle straight to the same receiver, as
   the notifier sends them, at the same rate and then back to back.
5. Orders (patient + order transaction) at `--rate` per second, open loop, for `--warmup`
   then `--duration` seconds; then waits for every notification.
6. Prints events/s, lags and their stages, the loss/duplicate checks and CPU, and writes
   bench/results/notifications-<time>.json (with the services' logs beside it).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import ipaddress
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvloop
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from bench.intake_bench import _cpu_model, _git_state  # noqa: E402
from bench.notifications_figures import cpu_snapshot, figures, print_report  # noqa: E402
from bench.notifications_load import (  # noqa: E402
    OrderSent,
    Receiver,
    place_order,
    place_orders,
    webhook_baseline,
)
from scripts.local_platform import DATABASES, LocalPlatform, free_ports  # noqa: E402
from shared.events.topics import TOPIC_BASE  # noqa: E402
from tests.e2e.loop import (  # noqa: E402
    SECRET,
    facility,
    privileges,
    radiologist,
    subscribe,
    wait_until,
)
from tests.support.databases import postgres_database  # noqa: E402
from tests.support.postgres import postgres_server  # noqa: E402

TOKEN = "dev-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TOPICS = ("order-registered", "task-created")
DATABASE_SUFFIX = "bench_notifications"
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
# The platform's own consumers of the two topics, whose inboxes tell when they took each
# event: (consumer, consumption, publisher).
CONSUMERS = (
    ("assignment", "order-registered", "intake"),
    ("sla", "order-registered", "intake"),
    ("sla", "task-created", "assignment"),
)


# --------------------------------------------------------------------------- setup


@contextmanager
def postgres_admin_url(database_url: str | None) -> Iterator[str]:
    """The admin URL given, else the test suite's (tests/support/postgres.py)."""
    with ExitStack() as stack:
        url = make_url(database_url or stack.enter_context(postgres_server()))
        host = url.host or ""
        if host != "localhost" and not _loopback(host):
            raise SystemExit(f"refusing PostgreSQL at {host!r}: only 127.0.0.0/8 is loaded")
        # The services run on asyncpg whatever driver the URL names.
        yield url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host) in LOOPBACK
    except ValueError:
        return False


def service_databases(admin_url: str) -> dict[str, str]:
    """A freshly migrated database per service and for the audit log they share
    (test_<name>_bench_notifications)."""
    return {s: postgres_database(admin_url, s, DATABASE_SUFFIX) for s in DATABASES}


def start_platform(
    stack: ExitStack, urls: dict[str, str], args: argparse.Namespace
) -> LocalPlatform:
    """Every service and the gateway, ready; stopped when `stack` closes."""
    env = {
        "ENVIRONMENT": "development",
        "DEV_AUTH_TOKEN": TOKEN,
        "LOG_LEVEL": "WARNING",
        "OTEL_TRACES_EXPORTER": "none",
        **args.env,
    }
    platform = LocalPlatform(database_urls=urls, ports=free_ports(), env=env, log_dir=args.log_dir)
    stack.enter_context(platform)
    platform.start_all()
    platform.wait_ready()
    platform.wait_subscribed()
    return platform


def set_up_roster(platform: LocalPlatform, receiver: Receiver, radiologists: int) -> str:
    """A TX facility, its readers and the bench's subscriptions; the facility reference."""
    with httpx.Client(
        base_url=platform.fhir_base(), headers=AUTH, trust_env=False, timeout=30
    ) as client:
        ordering = facility(client, "TX")
        for index in range(radiologists):
            privileges(client, radiologist(client, f"Reader{index}", "TX"), ordering)
        for topic in TOPICS:
            subscribe(client, topic, receiver.url(f"/events/{topic}"))
    wait_until(lambda: _handshaken(receiver), what="the bench's handshakes")
    return ordering


def _handshaken(receiver: Receiver) -> bool:
    return all(
        any(a.notification.kind == "handshake" for a in receiver.received(f"/events/{topic}"))
        for topic in TOPICS
    )


# --------------------------------------------------------------------------- the run


async def measure(
    platform: LocalPlatform, receiver: Receiver, ordering: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Prime one order, run the baseline, then the order stream; raw observations."""
    async with httpx.AsyncClient(
        base_url=platform.fhir_base(),
        headers=AUTH,
        trust_env=False,
        timeout=60,
        limits=httpx.Limits(max_connections=512, max_keepalive_connections=64),
    ) as client:
        primer = await place_order(client, ordering)
        sample = await _first_event_body(receiver, "order-registered")
        baseline = await webhook_baseline(
            receiver, sample, rate=args.rate, seconds=args.baseline, max_seconds=3.0
        )
        stream_start = time.time()
        postgres_port = make_url(platform.database_urls["intake"]).port
        window = asyncio.create_task(_cpu_window(args.warmup, args.duration, postgres_port))
        orders = await place_orders(
            client, ordering, rate=args.rate, seconds=args.warmup + args.duration
        )
        cpu = await window
    return {
        "orders": [primer, *orders],
        "stream_start": stream_start,
        "window": (stream_start + args.warmup, stream_start + args.warmup + args.duration),
        "baseline": baseline,
        "cpu": cpu,
    }


async def _first_event_body(receiver: Receiver, topic: str) -> bytes:
    async with asyncio.timeout(30):
        while True:
            for arrival in receiver.received(f"/events/{topic}"):
                if arrival.notification.kind == "event-notification":
                    return arrival.body
            await asyncio.sleep(0.05)


async def _cpu_window(warmup: float, duration: float, postgres_port: int | None) -> dict[str, Any]:
    await asyncio.sleep(warmup)
    start = cpu_snapshot(postgres_port)
    await asyncio.sleep(duration)
    return cpu_snapshot(postgres_port).since(start)


def drain(receiver: Receiver, orders: list[OrderSent], timeout: float) -> float:
    """Wait until each accepted order's two events arrived (or `timeout`); seconds waited."""
    expected = sum(1 for o in orders if o.order_id)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        counts = [_event_count(receiver, topic) for topic in TOPICS]
        if min(counts) >= expected:
            break
        time.sleep(0.1)
    return time.monotonic() - started


def _event_count(receiver: Receiver, topic: str) -> int:
    arrivals = receiver.received(f"/events/{topic}")
    return sum(
        len(a.notification.events) for a in arrivals if a.notification.kind == "event-notification"
    )


async def read_back(urls: dict[str, str]) -> dict[str, Any]:
    """What the databases tell after the run: relay moments and the server settings."""
    return {
        "dispatched": await dispatched_at(urls),
        "postgres": await postgres_settings(urls["intake"]),
    }


def settle(urls: dict[str, str], expected: int, timeout: float) -> dict[str, dict[str, float]]:
    """The consumers' inbox moments, once each took `expected` events (or after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        consumed = asyncio.run(consumed_at(urls))
        if min(map(len, consumed.values())) >= expected or time.monotonic() > deadline:
            return consumed
        time.sleep(0.5)


async def dispatched_at(urls: dict[str, str]) -> dict[str, dict[str, float]]:
    """When the relay dispatched each created order and Task, by resource id."""
    moments: dict[str, dict[str, float]] = {}
    for service, resource_type in (("intake", "ServiceRequest"), ("assignment", "Task")):
        rows = await _fetch(
            urls[service],
            "SELECT resource_id, dispatched_at FROM outbox_event WHERE resource_type = $1"
            " AND interaction = 'create' AND dispatched_at IS NOT NULL",
            resource_type,
        )
        moments[resource_type] = {r["resource_id"]: r["dispatched_at"].timestamp() for r in rows}
    return moments


async def consumed_at(urls: dict[str, str]) -> dict[str, dict[str, float]]:
    """When each consumer took each event (inbox), by "<topic>@<consumer>" and resource id."""
    # The inbox knows only (subscription, event number): the publisher's event table
    # names the resource.
    moments: dict[str, dict[str, float]] = {}
    for consumer, topic, publisher in CONSUMERS:
        numbered = await _fetch(
            urls[publisher],
            "SELECT subscription_id, event_number, resource_id FROM subscription_event"
            " WHERE topic = $1",
            f"{TOPIC_BASE}/{topic}",
        )
        resources = {(r["subscription_id"], r["event_number"]): r["resource_id"] for r in numbered}
        inbox = await _fetch(
            urls[consumer],
            "SELECT subscription, event_number, received_at FROM inbox_event WHERE consumer = $1",
            topic,
        )
        moments[f"{topic}@{consumer}"] = {
            resources[key]: row["received_at"].timestamp()
            for row in inbox
            if (key := (row["subscription"].rsplit("/", 1)[-1], row["event_number"])) in resources
        }
    return moments


async def _fetch(url: str, query: str, *arguments: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        return list(await connection.fetch(query, *arguments))
    finally:
        await connection.close()


async def postgres_settings(url: str) -> dict[str, str]:
    """The server's version and the settings that bound commit latency."""
    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        names = ("server_version", "fsync", "synchronous_commit", "shared_buffers")
        return {name: str(await connection.fetchval(f"SHOW {name}")) for name in names}
    finally:
        await connection.close()


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def stored_tasks(platform: LocalPlatform) -> int:
    """How many Tasks assignment holds."""
    with httpx.Client(headers=AUTH, trust_env=False, timeout=30) as client:
        answer = client.get(f"{platform.fhir_base()}/Task", params={"_summary": "count"})
        answer.raise_for_status()
        return int(answer.json()["total"])


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Event notifications to an external subscriber under a steady order rate.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--rate", type=float, default=10.0, help="orders per second")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of orders before")
    parser.add_argument("--baseline", type=float, default=5.0, help="seconds of paced webhooks")
    parser.add_argument("--radiologists", type=int, default=3, help="readers at the facility")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="seconds to wait")
    parser.add_argument(
        "--database-url",
        help="admin URL of a PostgreSQL on 127.0.0.0/8 that may create databases "
        "(default: as the tests, TEST_DATABASE_URL or a PostgreSQL DATABASE_URL, else a "
        "throwaway cluster)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra setting for every platform process (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--output", type=Path, help="result JSON (default bench/results/...)")
    args = parser.parse_args(argv)
    if bad := [e for e in args.env if "=" not in e]:
        parser.error(f"--env takes NAME=VALUE, not {bad}")
    args.env = dict(e.split("=", 1) for e in args.env)
    if not (0 < args.rate <= 500 and 0 < args.duration <= 600 and 0 <= args.warmup <= 600):
        parser.error("--rate must be in (0, 500], --duration in (0, 600], --warmup in [0, 600]")
    if not (0 < args.baseline <= 60 and 1 <= args.radiologists <= 50):
        parser.error("--baseline must be in (0, 60] and --radiologists in [1, 50]")
    args.run_id = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    args.output = args.output or RESULTS / f"notifications-{args.run_id}.json"
    args.log_dir = RESULTS / f"notifications-{args.run_id}-logs"
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole run; everything it started is stopped (and the cluster removed) on exit."""
    with ExitStack() as stack:
        urls = service_databases(stack.enter_context(postgres_admin_url(args.database_url)))
        receiver = stack.enter_context(Receiver(SECRET))
        platform = start_platform(stack, urls, args)
        ordering = set_up_roster(platform, receiver, args.radiologists)
        raw = uvloop.run(measure(platform, receiver, ordering, args))
        raw["drain_s"] = drain(receiver, raw["orders"], args.drain_timeout)
        accepted = sum(1 for o in raw["orders"] if o.order_id)
        raw["consumed"] = settle(urls, accepted, args.drain_timeout)
        raw.update(asyncio.run(read_back(urls)))
        raw["tasks_stored"] = stored_tasks(platform)
        exited = platform.exited()
        if exited:
            raise RuntimeError(f"platform processes exited during the run: {exited}")
        return figures(raw, receiver, args)


INTERRUPTED = threading.Event()


def _interrupt(signum: int, _frame: object) -> None:
    # Ctrl-C also reaches the platform's processes: whatever fails first as they go, the
    # run ends as interrupted.
    INTERRUPTED.set()
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = run(args)
    result["run"] = {
        "id": args.run_id,
        "argv": sys.argv[1:],
        "git": _git_state(),
        "machine": {"cpus": os.cpu_count(), "model": _cpu_model()},
    }
    args.output.write_text(json.dumps(result, indent=2))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result)
        print(f"\nresult: {args.output}\nlogs: {args.log_dir}")
    return 0 if result["checks"]["ok"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (KeyboardInterrupt, Exception):
        if not INTERRUPTED.is_set():
            raise
        print("interrupted: what the run started is stopped", file=sys.stderr)
        sys.exit(130)
