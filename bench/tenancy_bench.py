"""Tenant isolation benchmark: what the access filter costs a tenant-confined caller.

    .venv/bin/python bench/tenancy_bench.py [--orders 50000] [--facilities 200] [--rounds 5]
    make bench-tenancy BENCH_ARGS="--rounds 3 -n 20"

One run (docs/benchmarks.md, "Tenant isolation", has the results and how to read them):

1. PostgreSQL: a throwaway cluster (initdb/pg_ctl, as the tests make one), or the server of
   `--database-url` on 127.0.0.0/8; intake's database and the audit log, migrated.
2. A year of orders over `--facilities` facilities, with their patients and studies, one
   partner vendor granted `--vendor-share` of the orders and radiologists most of the rest,
   loaded in bulk with the rows intake itself writes (bench/tenancy_data.py).
3. The intake app in-process (no server: the ASGI app called directly), tokens signed with
   the test suite's platform key for three callers: the unrestricted `system` principal (the
   baseline, no access filter), one facility's EHR and the vendor.
4. Checks that each caller sees exactly what the data set says it may (counts per type), and
   that the labels the app gives a new patient, order and study are the loader's.
5. Measures read by id, search pages, `_include`, `_total=accurate` and type `_history` for
   each caller: the callers take turns in every round (bench/tenancy_measure.py).
6. Replays the statements of one request of each operation under EXPLAIN (ANALYZE, BUFFERS)
   and reports the indexes used and any sequential scan of a big table
   (bench/tenancy_plans.py); writes bench/results/tenancy-<time>.json and -plans.txt.

The filter measured is the code's own: the set of the caller's resources for statements over
many rows, the per-row probe otherwise, with custom plans (shared/fhir/access.py, shared/db.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import uvloop
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from bench.intake_bench import _cpu_model, _git_state  # noqa: E402
from bench.intake_inprocess import asgi_caller  # noqa: E402
from bench.notifications_bench import _asyncpg_dsn, postgres_admin_url, postgres_settings  # noqa: E402
from bench.tenancy_data import DataSet, Shape, build, load  # noqa: E402
from bench.tenancy_measure import Caller, measure, print_table  # noqa: E402
from bench.tenancy_plans import StatementLog, capture_plans, plan_report, plan_texts  # noqa: E402
from scripts.local_platform import AUDIT  # noqa: E402
from services.intake.codes import IDENTIFIER_TYPE_SYSTEM  # noqa: E402
from shared.auth import Principal  # noqa: E402
from shared.fhir.access import order_label  # noqa: E402
from shared.settings import ServiceSettings  # noqa: E402
from tests.support.databases import postgres_database  # noqa: E402
from tests.support.tokens import TEST_SIGNING_PEM, TEST_VERIFY_JWKS, issue_token  # noqa: E402

DATABASE_SUFFIX = "bench_tenancy"
DEV_TOKEN = "bench-tenancy-dev-token"
EVENTS_SECRET = "bench-tenancy-events-secret-0123456789abcdef"
COUNTED_TYPES = ("Organization", "Patient", "ServiceRequest", "ImagingStudy")


def app_settings(url: str, audit_url: str) -> ServiceSettings:
    """What a test app gets (tests/fixtures.py make_settings), without rate limits."""
    values: dict[str, Any] = dict(
        service_name="intake",
        environment="development",
        database_url=url,
        audit_database_url=audit_url,
        dev_auth_token=DEV_TOKEN,
        service_token=DEV_TOKEN,
        events_signing_secret=EVENTS_SECRET,
        auth_signing_key=TEST_SIGNING_PEM,
        auth_verify_jwks=TEST_VERIFY_JWKS,
        events_enabled=False,
        rate_limit_per_second=0,  # thousands of requests from one client, on purpose
        log_level="WARNING",
        otel_traces_exporter="none",
    )
    return ServiceSettings(**values)


def caller_keys(data: DataSet) -> dict[str, str]:
    """Each measured caller's key in `DataSet.visible` ("*": everything)."""
    return {
        "system": "*",
        "facility": f"Organization/{data.facilities[0]}",
        "vendor": f"Organization/{data.vendor}",
    }


def principals(data: DataSet) -> dict[str, Principal]:
    """The three measured callers (scopes as their clients would be registered)."""
    facility = caller_keys(data)["facility"]
    return {
        "system": Principal("bench-system", frozenset({"system/*.cruds"}), "system"),
        "facility": Principal(
            "bench-ehr", frozenset({"system/*.cruds"}), "facility", frozenset({facility})
        ),
        "vendor": Principal(
            "bench-vendor",
            frozenset({"system/*.rs"}),
            "vendor",
            frozenset({f"Organization/{data.vendor}"}),
        ),
    }


def make_caller(
    app: Any, name: str, principal: Principal, settings: ServiceSettings, orders: list[str]
) -> Caller:
    """`principal` calling `app` with a token as the platform would issue it."""
    token = issue_token(principal, settings=settings, lifetime_seconds=3600)
    headers = [
        (b"authorization", f"Bearer {token}".encode()),
        (b"accept", b"application/fhir+json"),
        (b"content-type", b"application/fhir+json"),
    ]
    return Caller(name, asgi_caller(app, headers), orders)


async def check_visibility(
    callers: dict[str, Caller], data: DataSet, principal_keys: dict[str, str]
) -> None:
    """Each caller sees exactly the resources the data set gives it, type by type."""
    for who, caller in callers.items():
        for resource_type in COUNTED_TYPES:
            status, body = await caller.call("GET", f"/fhir/{resource_type}", b"_summary=count")
            seen = orjson.loads(body).get("total") if status == 200 else (status, body[:200])
            expected = data.visible[(principal_keys[who], resource_type)]
            if seen != expected:
                raise SystemExit(f"{who} sees {seen} {resource_type}, the data set says {expected}")


def _probe_order(facility: str, patient_id: str) -> dict[str, Any]:
    acsn = {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": "ACSN"}]}
    return {
        "resourceType": "ServiceRequest",
        "identifier": [{"type": acsn, "system": f"urn:bench:{facility}:acsn", "value": "probe"}],
        "status": "active",
        "intent": "order",
        "code": {"text": "probe"},
        "subject": {"reference": f"Patient/{patient_id}"},
        "requester": {"reference": f"Organization/{facility}"},
    }


async def check_labels(app: Any, settings: ServiceSettings, data: DataSet, dsn: str) -> None:
    """A patient, order and study written through the app (by a facility not measured) get
    the labels the loader gives its own."""
    facility = data.facilities[-1]
    keys = frozenset({f"Organization/{facility}"})
    principal = Principal("bench-probe", frozenset({"system/*.cruds"}), "facility", keys)
    writer = make_caller(app, "probe", principal, settings, [])
    managing = {"reference": f"Organization/{facility}"}
    patient = await _created(writer, {"resourceType": "Patient", "managingOrganization": managing})
    order = await _created(writer, _probe_order(facility, patient))
    study = await _created(
        writer,
        {
            "resourceType": "ImagingStudy",
            "status": "available",
            "subject": {"reference": f"Patient/{patient}"},
            "basedOn": [{"reference": f"ServiceRequest/{order}"}],
        },
    )
    expected = {f"Organization/{facility}", order_label(order)}
    connection = await asyncpg.connect(dsn)
    try:
        for resource_type, resource_id in (
            ("Patient", patient),
            ("ServiceRequest", order),
            ("ImagingStudy", study),
        ):
            rows = await connection.fetch(
                "SELECT label FROM resource_access JOIN fhir_resource ON pk = resource_pk"
                " WHERE resource_type = $1 AND id = $2",
                resource_type,
                resource_id,
            )
            if {row[0] for row in rows} != expected:
                raise SystemExit(
                    f"the app labels a {resource_type} {sorted(row[0] for row in rows)}; "
                    f"the loader {sorted(expected)}"
                )
    finally:
        await connection.close()


async def _created(caller: Caller, resource: dict[str, Any]) -> str:
    resource_type = resource["resourceType"]
    status, body = await caller.call("POST", f"/fhir/{resource_type}", b"", orjson.dumps(resource))
    if status != 201:
        raise SystemExit(f"probe {resource_type}: {status} {body[:300]!r}")
    return str(orjson.loads(body)["id"])


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="What tenant isolation (the access filter) costs, on intake in-process.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--facilities", type=int, default=200, help="client facilities")
    parser.add_argument("--orders", type=int, default=50_000, help="orders over a year")
    parser.add_argument("--vendor-share", type=float, default=0.01, help="of orders, to the vendor")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; callers take turns in each")
    parser.add_argument("-n", type=int, default=30, help="requests per operation, caller, round")
    parser.add_argument("--warmup", type=int, default=10, help="requests per operation and caller")
    parser.add_argument("--seed", type=int, default=20261128, help="of the data set and the reads")
    parser.add_argument(
        "--database-url",
        help="admin URL of a PostgreSQL on 127.0.0.0/8 that may create databases "
        "(default: as the tests, TEST_DATABASE_URL or a PostgreSQL DATABASE_URL, else a "
        "throwaway cluster)",
    )
    parser.add_argument("--output", type=Path, help="result JSON (default bench/results/...)")
    args = parser.parse_args(argv)
    if not (1 <= args.facilities <= 5000 and 100 <= args.orders <= 500_000):
        parser.error("--facilities must be in [1, 5000] and --orders in [100, 500000]")
    if not (0 < args.vendor_share <= 0.5):
        parser.error("--vendor-share must be in (0, 0.5]")
    if not (1 <= args.rounds <= 20 and 1 <= args.n <= 1000 and 0 <= args.warmup <= 1000):
        parser.error("--rounds must be in [1, 20], -n in [1, 1000], --warmup in [0, 1000]")
    args.run_id = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = f"tenancy-{args.run_id}.json"
    args.output = args.output or RESULTS / name
    return args


async def prepare(args: argparse.Namespace, shape: Shape, dsn: str) -> DataSet:
    """The data set built and loaded."""
    started = time.monotonic()
    data, tables = build(shape)
    built = time.monotonic()
    await load(dsn, tables)
    print(
        f"data set: {data.rows['fhir_resource']:,} resources, "
        f"{data.rows['fhir_resource_version']:,} versions, "
        f"{data.rows['resource_access']:,} labels, {data.rows['access_grant']:,} grants "
        f"(built in {built - started:.0f} s, loaded in {time.monotonic() - built:.0f} s)"
    )
    return data


async def run_app(args: argparse.Namespace, url: str, audit_url: str) -> dict[str, Any]:
    """Build and load the data set, start intake in-process, check, measure, explain."""
    from asgi_lifespan import LifespanManager

    from services.intake.app import create_app

    dsn = _asyncpg_dsn(url)
    shape = Shape(args.facilities, args.orders, args.vendor_share, seed=args.seed)
    data = await prepare(args, shape, dsn)
    settings = app_settings(url, audit_url)
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager:
        log = StatementLog(app.state.database.engine)
        readable = {
            "system": data.all_orders,
            "facility": data.orders[data.facilities[0]],
            "vendor": data.vendor_orders,
        }
        callers = {
            who: make_caller(manager.app, who, principal, settings, readable[who])
            for who, principal in principals(data).items()
        }
        await check_visibility(callers, data, caller_keys(data))
        await check_labels(manager.app, settings, data, dsn)
        print("checks passed: each caller sees what the data set gives it; labels match")
        measured = await measure(
            callers,
            rounds=args.rounds,
            n=args.n,
            warmup=args.warmup,
            port=make_url(url).port,
            seed=args.seed,
        )
        plans = await capture_plans(log, callers, dsn)
    return {
        "data": {
            "shape": {name: getattr(shape, name) for name in Shape.__slots__},
            "rows": data.rows,
            "visible": {f"{who}:{rtype}": n for (who, rtype), n in sorted(data.visible.items())},
        },
        "measured": measured,
        "plans": plans,
        "postgres": await postgres_settings(url),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        admin_url = stack.enter_context(postgres_admin_url(args.database_url))
        url = postgres_database(admin_url, "intake", DATABASE_SUFFIX)
        audit_url = postgres_database(admin_url, AUDIT, DATABASE_SUFFIX)
        result = uvloop.run(run_app(args, url, audit_url))
    print()
    table = print_table(result["measured"])
    report = plan_report(result["plans"])
    print("\nplans, execution ms with a custom / the generic plan:\n" + "\n".join(report))
    result |= {
        "table": table,
        "plan_report": report,
        "run": {
            "id": args.run_id,
            "argv": sys.argv[1:],
            "git": _git_state(),
            "machine": {"cpus": os.cpu_count(), "model": _cpu_model()},
        },
    }
    plans_file = args.output.with_name(args.output.stem + "-plans.txt")
    plans_file.write_text(plan_texts(result["plans"]))
    args.output.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nresult: {args.output}\nplans: {plans_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
