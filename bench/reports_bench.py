"""What a final report write costs at reporting, against the same write without reporting's
rules, on the local PostgreSQL.

    .venv/bin/python bench/reports_bench.py [--concurrency 1,4,16] [--duration 4]
    make bench-reports BENCH_ARGS="--duration 8"

One run (docs/benchmarks.md, "Reporting", has the results and how to read them):

1. Creates and migrates `test_reporting_bench_reports` and its audit log beside it on the
   PostgreSQL of `--database-url` (default the local one, 127.0.0.1:5432), dropped at the end
   unless `--keep-database`.
2. Starts two apps in-process on that database (bench/reports_world.py): reporting as it is
   (`services.reporting.app:create_app`), and the baseline -- reporting's registry served by
   the same generic FHIR store with DiagnosticReport's rules switched off. Reporting's calls
   to assignment (the read Task by order, the owning PractitionerRole) are answered at the
   HTTP level by a stand-in that answers at once.
3. At each concurrency, the two take turns: `--warmup` then `--duration` seconds of
   `POST DiagnosticReport` (a complete final CT head report of a new order, by the Task's
   owner) back to back; p50/p95 latency, writes/s, CPU of this process and of PostgreSQL
   per write.
4. Breaks a write down by timing reporting's functions one at a time on the same report
   (`--repeat` times each): transition + content check, the two assignment lookups through
   the stand-in, the PDF render (fpdf2), opening the signer's key, the ES256 signature, and
   the signature check `$verify` makes.
5. `GET DiagnosticReport/{id}/$verify` on reports written in step 3, against a plain read of
   the same report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import uvloop
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from bench.inprocess_load import (  # noqa: E402
    admin_url,
    bench_databases,
    closed_loop,
    load_average,
    postmaster_of,
    summary_ms,
    timed,
)
from bench.intake_bench import _cpu_model, _git_state  # noqa: E402
from bench.intake_inprocess import Call, asgi_caller  # noqa: E402
from bench.notifications_bench import postgres_settings  # noqa: E402
from bench.reports_world import (  # noqa: E402
    DEV_TOKEN,
    OWNER_ROLE,
    SIGNER,
    Assignment,
    baseline_app,
    final_report,
    reach_assignment,
    settings,
)

SUFFIX = "bench_reports"
HEADERS = [
    (b"authorization", f"Bearer {DEV_TOKEN}".encode()),
    (b"accept", b"application/fhir+json"),
    (b"content-type", b"application/fhir+json"),
]


def writer(call: Call, written: list[str]) -> Any:
    """One report write of a new order through `call`; its id kept in `written`."""

    async def write() -> None:
        status, body = await call(
            "POST", "/fhir/DiagnosticReport", b"", orjson.dumps(final_report())
        )
        if status != 201:
            raise SystemExit(f"report write: {status} {body[:400]!r}")
        written.append(orjson.loads(body)["id"])

    return write


async def writes(
    calls: dict[str, Call], args: argparse.Namespace, postmaster: int | None
) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Each concurrency, the targets taking turns; reporting's report ids."""
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in calls}
    kept: list[str] = []
    for index, concurrency in enumerate(args.concurrency):
        order = list(calls) if index % 2 == 0 else list(reversed(calls))
        for name in order:
            written: list[str] = []
            write = writer(calls[name], written)
            await closed_loop(
                write, concurrency=concurrency, duration=args.warmup, postmaster=postmaster
            )
            run = await closed_loop(
                write, concurrency=concurrency, duration=args.duration, postmaster=postmaster
            )
            results[name].append(run.figures())
            if name == "reporting":
                kept += written
    return results, kept


async def _fetched(call: Call, path: str) -> dict[str, Any]:
    status, body = await call("GET", path, b"")
    if status != 200:
        raise SystemExit(f"GET {path}: {status} {body[:300]!r}")
    return dict(orjson.loads(body))


async def breakdown(app: Any, repeat: int, report_id: str, call: Call) -> dict[str, Any]:
    """Reporting's parts of a write, each timed alone on the same report (ms)."""
    import jwt
    from cryptography.hazmat.primitives import serialization
    from sqlalchemy import select

    from services.reporting import keys
    from services.reporting.authority import interpreters
    from services.reporting.lifecycle import transition_issues
    from services.reporting.pdf import pdf_attachment, render_report
    from services.reporting.signing import canonical, verify_signature
    from services.reporting.tables import signing_key
    from services.reporting.validation import content_issues

    resource = final_report()
    secret = app.state.settings.report_signing_key_secret.get_secret_value()
    peers, database = app.state.peers, app.state.database
    order = resource["basedOn"][0]["reference"]
    stored = await _fetched(call, f"/fhir/DiagnosticReport/{report_id}")
    answer = await _fetched(call, f"/fhir/DiagnosticReport/{report_id}/$verify")
    provenance = next(p["resource"] for p in answer["parameter"] if p["name"] == "provenance")

    async def checks() -> None:
        if transition_issues(None, resource) or content_issues(resource):
            raise SystemExit("the bench report fails reporting's content check")

    async def lookups() -> None:
        await peers.search("assignment", "Task", {"focus": order, "_count": "20"})
        await peers.read("assignment", OWNER_ROLE)

    async def render() -> None:
        moment = dt.datetime.now(dt.UTC)
        content = render_report(resource, signers=interpreters(resource), issued=moment)
        pdf_attachment(content, moment.isoformat())

    async def open_key() -> None:
        async with database.transaction() as session:
            await keys.signing_key_of(session, SIGNER, secret=secret)

    async with database.transaction() as session:
        key = await keys.signing_key_of(session, SIGNER, secret=secret)

    async with database.transaction() as session:
        pem = await session.scalar(
            select(signing_key.c.private_key).where(signing_key.c.kid == key.kid)
        )

    async def decrypt() -> None:
        serialization.load_pem_private_key(pem.encode(), secret.encode())

    async def sign() -> None:
        jwt.api_jws.PyJWS().encode(
            canonical(stored),
            key.key,
            algorithm=keys.ALGORITHM,
            headers={"kid": key.kid},
            is_payload_detached=True,
        )

    async def check_signature() -> None:
        async with database.transaction() as session:
            found = await verify_signature(session, stored, provenance)
        if not found.valid:
            raise SystemExit(f"the signature does not hold: {found.reason}")

    parts = {
        "status + content check": checks,
        "assignment lookups (stand-in, 2 calls)": lookups,
        "PDF render (fpdf2) + base64": render,
        "open the signer's key (DB read + PEM decrypt)": open_key,
        "  of which the PEM decrypt alone": decrypt,
        "ES256 signature of the canonical JSON": sign,
        "$verify's signature check (key read + ES256 verify)": check_signature,
    }
    found: dict[str, Any] = {}
    for name, part in parts.items():
        await timed(max(1, repeat // 10), part)  # warm
        found[name] = summary_ms(await timed(repeat, part))
    found["_stored_bytes"] = len(orjson.dumps(stored))
    return found


async def verifies(call: Call, ids: list[str], n: int) -> dict[str, Any]:
    """`$verify` of `n` reports, against a read of the same reports."""
    chosen = (ids * (n // max(1, len(ids)) + 1))[:n]
    found: dict[str, Any] = {}
    for name, suffix in (("read", ""), ("$verify", "/$verify")):
        latencies = []
        for report_id in chosen:
            started = time.perf_counter()
            status, body = await call("GET", f"/fhir/DiagnosticReport/{report_id}{suffix}", b"")
            latencies.append(time.perf_counter() - started)
            if status != 200 or (suffix and b'"valueBoolean":true' not in body):
                raise SystemExit(f"{name}: {status} {body[:300]!r}")
        found[name] = summary_ms(latencies)
    return found


async def run(args: argparse.Namespace, url: str, audit_url: str) -> dict[str, Any]:
    from asgi_lifespan import LifespanManager

    from services.reporting.app import create_app

    resolved = settings(url, audit_url)
    assignment = Assignment()
    reporting, baseline = create_app(resolved), baseline_app(resolved)
    async with (
        LifespanManager(reporting, startup_timeout=60, shutdown_timeout=60) as managed,
        LifespanManager(baseline, startup_timeout=60, shutdown_timeout=60) as managed_baseline,
    ):
        await reporting.state.peers.client.aclose()
        reach_assignment(reporting, assignment)
        calls = {
            "baseline": asgi_caller(managed_baseline.app, HEADERS),
            "reporting": asgi_caller(managed.app, HEADERS),
        }
        postmaster = await postmaster_of(url)
        loads, written = await writes(calls, args, postmaster)
        parts = await breakdown(reporting, args.repeat, written[0], calls["reporting"])
        verified = await verifies(calls["reporting"], written[-args.repeat :], args.repeat)
    return {
        "writes": loads,
        "breakdown": parts,
        "verify": verified,
        "assignment_calls": assignment.calls,
        "postgres": await postgres_settings(url),
    }


def print_results(result: dict[str, Any]) -> None:
    print("\nfinal report writes (in-process, one event loop):")
    print(
        "| concurrency | target | writes/s | p50 ms | p95 ms | app CPU ms | PostgreSQL CPU ms |"
        " others (cores) |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    loads = result["writes"]
    for index in range(len(loads["reporting"])):
        for name in ("baseline", "reporting"):
            f = loads[name][index]
            print(
                f"| {f['concurrency']} | {name} | {f['per_second']} | {f['p50_ms']} | "
                f"{f['p95_ms']} | {f['process_cpu_ms']} | {f['postgres_cpu_ms']} | "
                f"{f['others_cores']} |"
            )
        ratio = loads["reporting"][index]["per_second"] / loads["baseline"][index]["per_second"]
        print(f"|  | reporting/baseline | {ratio:.2f} |  |  |  |  |  |")
    print("\nwhere a write's time goes (each part alone, same report, ms):")
    print("| part | p50 | p95 | mean |")
    print("|---|---:|---:|---:|")
    for name, f in result["breakdown"].items():
        if not name.startswith("_"):
            print(f"| {name} | {f['p50_ms']} | {f['p95_ms']} | {f['mean_ms']} |")
    print(f"(stored report with its PDF: {result['breakdown']['_stored_bytes']:,} bytes of JSON)")
    print("\n$verify against a read of the same reports (one at a time, ms):")
    for name, f in result["verify"].items():
        print(f"  {name:8} p50 {f['p50_ms']}  p95 {f['p95_ms']}  (n={f['n']})")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="A final report write at reporting vs the generic FHIR store (PostgreSQL).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--concurrency", default="1,4,16", help="comma-separated levels")
    parser.add_argument("--duration", type=float, default=4.0, help="measured seconds per level")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each")
    parser.add_argument("--repeat", type=int, default=50, help="of each part, and of $verify")
    parser.add_argument(
        "--database-url",
        help="admin URL of a local PostgreSQL (default: "
        "BENCH_DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/postgres)",
    )
    parser.add_argument("--keep-database", action="store_true", help="do not drop it after")
    parser.add_argument("--output", type=Path, help="result JSON (default bench/results/...)")
    args = parser.parse_args(argv)
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    if not all(1 <= c <= 256 for c in args.concurrency) or not 0.5 <= args.duration <= 120:
        parser.error("--concurrency levels in [1, 256], --duration in [0.5, 120]")
    if not 1 <= args.repeat <= 10_000:
        parser.error("--repeat in [1, 10000]")
    args.run_id = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    args.output = args.output or RESULTS / f"reports-{args.run_id}.json"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = load_average("start")
    admin = admin_url(args.database_url)
    with bench_databases(admin, "reporting", SUFFIX, keep=args.keep_database) as (url, audit):
        print(f"databases: {make_url(url).database}, {make_url(audit).database}")
        result = uvloop.run(run(args, url, audit))
    print_results(result)
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
