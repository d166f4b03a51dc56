"""The intake app (or the bare baseline) called in-process, one request at a time.

No server, no load generator, no concurrency: for counting what one request costs the
service process. Wall and CPU time are printed, but on a shared machine the dependable
measure is the instruction count under Valgrind (deterministic), as docs/benchmarks.md
uses it: run once with the phase's requests and once without, and subtract.

    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \\
        .venv/bin/python bench/intake_inprocess.py --phase create -n 100
    valgrind ... .venv/bin/python bench/intake_inprocess.py --phase create -n 0
    # instructions per create = (I refs of the first - I refs of the second) / 100

The database must exist and be migrated, and its audit log beside it (bench/intake_bench.py
leaves `bench_intake` and `bench_intake_audit` so).
Both runs warm up the same way first (100 creates, 100 reads, 20 searches). The events
relay and notifier are off unless `--events`: this measures the request path.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.intake_bench import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    TOKEN,
    audit_url,
    order_body,
    organization_body,
    patient_body,
)

Call = Callable[..., Awaitable[tuple[int, bytes]]]


def asgi_caller(app: Any, headers: list[tuple[bytes, bytes]]) -> Call:
    """Call the ASGI `app` directly with one HTTP request; returns (status, body)."""

    async def call(
        method: str, path: str, query: bytes = b"", body: bytes = b""
    ) -> tuple[int, bytes]:
        request_headers = [(b"host", b"127.0.0.1"), *headers]
        if body:
            request_headers.append((b"content-length", str(len(body)).encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query,
            "root_path": "",
            "headers": request_headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
        }
        received = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # no disconnect while the request runs
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(scope, receive, send)
        return status, b"".join(chunks)

    return call


async def run(args: argparse.Namespace) -> None:
    from asgi_lifespan import LifespanManager

    if args.target == "fhir":
        os.environ.update(
            ENVIRONMENT="development",
            DATABASE_URL=args.database_url,
            AUDIT_DATABASE_URL=audit_url(args.database_url),
            DEV_AUTH_TOKEN=TOKEN,
            OTEL_TRACES_EXPORTER="none",
            LOG_LEVEL="WARNING",
            # The events relay and notifier poll on timers: under Valgrind (~50 times
            # slower) they would be charged to the requests out of all proportion.
            EVENTS_ENABLED="true" if args.events else "false",
        )
        from services.intake.app import create_app

        app = create_app()
        headers = [
            (b"authorization", f"Bearer {TOKEN}".encode()),
            (b"accept", b"application/fhir+json"),
            (b"content-type", b"application/fhir+json"),
        ]
        paths = {"create": "/fhir/ServiceRequest", "read": "/fhir/ServiceRequest/{id}"}
        search = ("/fhir/ServiceRequest", "patient=Patient/{patient}&_count=50")
    else:
        os.environ["BASELINE_DATABASE_URL"] = args.database_url
        from bench.baseline_app import create_app as create_bare_app

        app = create_bare_app()
        headers = [(b"accept", b"application/json"), (b"content-type", b"application/json")]
        paths = {"create": "/orders", "read": "/orders/{id}"}
        search = ("/orders", "patient=Patient/{patient}&_count=50")

    # Start-up under Valgrind is slow: generous lifespan timeouts.
    async with LifespanManager(app, startup_timeout=900, shutdown_timeout=900) as manager:
        call = asgi_caller(manager.app, headers)
        run_id = f"{time.time_ns()}"
        if args.target == "fhir":
            status, body = await call("POST", "/fhir/Organization", b"", organization_body())
            assert status in (200, 201), body  # 200: the NPI is already known
            organization = orjson.loads(body)["id"]
            status, body = await call("POST", "/fhir/Patient", b"", patient_body(1, run_id))
            assert status == 201, body
            patient = orjson.loads(body)["id"]
        else:
            organization, patient = "organization", f"patient-{run_id}"
        ids: list[str] = []

        async def create(n: int) -> None:
            for _ in range(n):
                accession = f"inproc-{run_id}-{len(ids)}"
                status, body = await call(
                    "POST", paths["create"], b"", order_body(accession, patient, organization)
                )
                assert status == 201, body
                ids.append(orjson.loads(body)["id"])

        async def read(n: int) -> None:
            for i in range(n):
                status, body = await call("GET", paths["read"].format(id=ids[i % len(ids)]))
                assert status == 200, body

        async def search_first_page(n: int) -> None:
            query = search[1].format(patient=patient).encode()
            for _ in range(n):
                status, body = await call("GET", search[0], query)
                assert status == 200, body

        phases = {"create": create, "read": read, "search": search_first_page}
        await create(100)
        await read(100)
        await search_first_page(20)
        if args.n:
            started, cpu = time.perf_counter(), time.process_time()
            await phases[args.phase](args.n)
            wall = (time.perf_counter() - started) / args.n * 1000
            cpu = (time.process_time() - cpu) / args.n * 1000
            print(f"{args.target} {args.phase}: wall {wall:.3f} ms, CPU {cpu:.3f} ms per request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=("fhir", "bare"), default="fhir")
    parser.add_argument("--phase", choices=("create", "read", "search"), default="create")
    parser.add_argument("-n", type=int, default=200, help="measured requests (0: warm-up only)")
    parser.add_argument(
        "--events", action="store_true", help="run the events relay and notifier too (FHIR)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="a migrated database (bench/intake_bench.py leaves bench_intake migrated)",
    )
    args = parser.parse_args()
    if args.target == "fhir":
        args.database_url = args.database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
