"""Intake benchmark: the FHIR service against a bare FastAPI + asyncpg baseline, on PostgreSQL.

    .venv/bin/python bench/intake_bench.py [--duration 5] [--rounds 3] [--concurrency 32]
    make bench BENCH_ARGS="--rounds 5 --concurrency 64"

What it does, in one run (docs/benchmarks.md has the results and how to read them):

1. (Re)creates a `bench_*` database (default `bench_intake` on 127.0.0.1:5432), migrates it
   with intake's Alembic migrations and adds the baseline's one table.
2. Starts both targets -- `bare` (bench/baseline_app.py) and `fhir` (services.intake.app)
   -- under real uvicorn on 127.0.0.1 with the same options (worker count, uvloop,
   httptools, no access log), and seeds them.
3. Runs three closed-loop phases at a fixed concurrency, for `--rounds` rounds; within a
   round the targets take turns on each phase (warm-up, then a measured window), so that
   other load on the machine hits both alike:
     create  POST a new ServiceRequest (unique accession) / the same JSON to the baseline
     read    GET one of the resources created, by id
     search  GET ServiceRequest?patient=X&_count=50 and follow `next` links to the end
             (the baseline pages the same patient's orders by primary key)
4. Prints requests/s and p50/p99 latency per phase with the FHIR/bare ratio, the CPU
   milliseconds per request of the server processes, PostgreSQL and the load generator,
   and how busy other processes kept the machine; writes it all to
   bench/results/intake-<time>.json.

The FHIR server runs as it would in development: bearer-token auth, full validation,
business rules, index rows, history, outbox, OpenTelemetry spans (exporter `none`); it
logs at WARNING so that neither uvicorn's nor the service's access log writes a line per
request (`--log-level INFO` turns the service's on).

The load generator is a small asyncio HTTP/1.1 client (uvloop, httptools, one keep-alive
connection per concurrent user) in this process, cheap next to the servers; its share is
reported. `--profile` samples the FHIR workers with py-spy during the first round and
prints where the time goes (throughput is then perturbed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httptools
import orjson
import uvloop

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from bench.baseline_app import TABLE_DDL  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/bench_intake"
TOKEN = "dev-token"
ACSN_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"
PHASES = ("create", "read", "search")
TARGETS = ("bare", "fhir")
CLK_TCK = os.sysconf("SC_CLK_TCK")

# --------------------------------------------------------------------------- payloads

_ORDER = {
    "resourceType": "ServiceRequest",
    "identifier": [
        {
            "type": {"coding": [{"system": ACSN_TYPE_SYSTEM, "code": "ACSN"}]},
            "system": "urn:oid:2.16.840.1.113883.3.9999.1.1",
            "value": "@ACSN@",
        }
    ],
    "status": "active",
    "intent": "order",
    "priority": "routine",
    "category": [
        {
            "coding": [
                {"system": "http://snomed.info/sct", "code": "363679005", "display": "Imaging"}
            ]
        }
    ],
    "code": {
        "coding": [
            {"system": "http://loinc.org", "code": "36643-5", "display": "XR Chest 2 Views"}
        ],
        "text": "Chest X-ray, 2 views",
    },
    "subject": {"reference": "Patient/@PATIENT@"},
    "authoredOn": "2025-01-15T10:30:00Z",
    "occurrenceDateTime": "2025-01-16T08:00:00Z",
    "requester": {"reference": "Organization/@ORG@", "display": "Riverside Imaging Center"},
    "reasonCode": [{"text": "Persistent cough, rule out pneumonia"}],
    "note": [{"text": "Patient can stand; prior study 2023 at the same facility."}],
}
ORDER_TEMPLATE = orjson.dumps(_ORDER)


def order_body(accession: str, patient: str, organization: str) -> bytes:
    return (
        ORDER_TEMPLATE.replace(b"@ACSN@", accession.encode())
        .replace(b"@PATIENT@", patient.encode())
        .replace(b"@ORG@", organization.encode())
    )


def organization_body() -> bytes:
    return orjson.dumps(
        {
            "resourceType": "Organization",
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
            "active": True,
            "name": "Riverside Imaging Center",
            "address": [{"state": "OR"}],
        }
    )


def patient_body(index: int, run: str) -> bytes:
    return orjson.dumps(
        {
            "resourceType": "Patient",
            "identifier": [
                {
                    "type": {"coding": [{"system": ACSN_TYPE_SYSTEM, "code": "MR"}]},
                    "system": "urn:oid:2.16.840.1.113883.3.9999.2",
                    "value": f"MRN-{run}-{index}",
                }
            ],
            "name": [{"family": f"Bench{index}", "given": ["Pat"]}],
            "gender": "female" if index % 2 else "male",
            "birthDate": f"19{50 + index % 50:02d}-0{1 + index % 9}-1{index % 10}",
        }
    )


# --------------------------------------------------------------------------- HTTP client


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one request at a time (no pipelining)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.chunks: list[bytes] = []
        self.status = 0

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(lambda: cls(loop), host, port)
        return protocol

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail(exc or ConnectionError("connection closed by the server"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.chunks = []

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((self.status, b"".join(self.chunks)))

    def _fail(self, exc: BaseException) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        if self.transport is None:
            raise ConnectionError("connection closed")
        self.waiter = self.loop.create_future()
        self.transport.write(raw)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def http_request(
    method: str, path: str, host: str, headers: tuple[str, ...] = (), body: bytes | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *headers]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


# --------------------------------------------------------------------------- CPU accounting


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of one process, 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                found += [int(c) for c in children.read().split()]
    except OSError:
        pass
    return found


def process_tree(pid: int) -> list[int]:
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += _children(current)
    return tree


def postgres_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as comm:
                    if comm.read().strip() == "postgres":
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


@dataclass
class CpuSnapshot:
    client: float
    server: dict[int, float]
    postgres: dict[int, float]
    machine: tuple[float, float]

    @classmethod
    def take(cls, server_pid: int) -> CpuSnapshot:
        times = os.times()
        return cls(
            client=times.user + times.system,
            server={p: _proc_cpu(p) for p in process_tree(server_pid)},
            postgres={p: _proc_cpu(p) for p in postgres_pids()},
            machine=machine_busy(),
        )

    def since(self, start: CpuSnapshot) -> dict[str, Any]:
        def delta(now: dict[int, float], before: dict[int, float]) -> float:
            return sum(v - before.get(p, 0.0) for p, v in now.items())

        busy = self.machine[0] - start.machine[0]
        total = self.machine[1] - start.machine[1]
        client = self.client - start.client
        server = delta(self.server, start.server)
        postgres = delta(self.postgres, start.postgres)
        return {
            "client_s": round(client, 3),
            "server_s": round(server, 3),
            "server_per_process_s": sorted(
                (round(v - start.server.get(p, 0.0), 3) for p, v in self.server.items()),
                reverse=True,
            ),
            "postgres_s": round(postgres, 3),
            # Busy CPU outside this benchmark (other processes on the machine): noise.
            "other_s": round(max(0.0, busy - client - server - postgres), 3),
            "machine_busy_pct": round(100 * busy / total, 1) if total else None,
        }


# --------------------------------------------------------------------------- load phases

# A step sends one request on a connection and returns (latency_s, ok, error sample).
Step = Callable[[HttpConnection, int], Awaitable[tuple[float, bool, str | None]]]


@dataclass
class PhaseResult:
    name: str
    requests: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    cpu: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] | None = None

    @classmethod
    def merge(cls, parts: list[PhaseResult]) -> PhaseResult:
        """Several measured windows of one phase as one (CPU seconds add up)."""
        merged = cls(parts[0].name, profile=next((p.profile for p in parts if p.profile), None))
        for part in parts:
            merged.requests += part.requests
            merged.errors += part.errors
            merged.error_samples += part.error_samples
            merged.seconds += part.seconds
            merged.latencies += part.latencies
            for key, value in part.cpu.items():
                if isinstance(value, (int, float)) and key != "machine_busy_pct":
                    merged.cpu[key] = round(merged.cpu.get(key, 0) + value, 3)
                elif key == "server_per_process_s":  # the first round's: worker balance
                    merged.cpu.setdefault(key, value)
        busy = [p.cpu["machine_busy_pct"] for p in parts if p.cpu.get("machine_busy_pct")]
        if busy:
            merged.cpu["machine_busy_pct"] = round(sum(busy) / len(busy), 1)
        return merged

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)

        def pct(q: float) -> float | None:
            if not lat:
                return None
            return round(1000 * lat[min(len(lat) - 1, int(q * len(lat)))], 2)

        ok = self.requests - self.errors
        per_request = {
            f"{k[:-2]}_ms_per_req": round(1000 * v / ok, 3)
            for k, v in self.cpu.items()
            if k in ("client_s", "server_s", "postgres_s") and ok
        }
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_samples": self.error_samples[:3],
            "seconds": round(self.seconds, 3),
            "rps": round(ok / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": pct(0.50),
            "p90_ms": pct(0.90),
            "p99_ms": pct(0.99),
            "max_ms": round(1000 * lat[-1], 2) if lat else None,
            "cpu": {**self.cpu, **per_request},
            **({"profile": self.profile} if self.profile else {}),
        }


async def open_connections(host: str, port: int, count: int) -> list[HttpConnection]:
    return list(await asyncio.gather(*(HttpConnection.open(host, port) for _ in range(count))))


async def run_phase(
    name: str,
    *,
    host: str,
    port: int,
    concurrency: int,
    step: Step,
    warmup: float,
    duration: float,
    server_pid: int,
    on_measure: Callable[[], Awaitable[Any]] | None = None,
) -> PhaseResult:
    """Closed loop: `concurrency` connections each sending back-to-back requests; requests
    started inside the measured window count (the window follows `warmup` seconds)."""
    result = PhaseResult(name)
    connections = await open_connections(host, port, concurrency)
    started = time.perf_counter()
    measure_from = started + warmup
    end = measure_from + duration

    async def user(index: int) -> None:
        connection = connections[index]
        while True:
            begun = time.perf_counter()
            if begun >= end:
                return
            try:
                latency, ok, error = await step(connection, index)
            except (ConnectionError, httptools.HttpParserError, OSError) as exc:
                latency, ok, error = time.perf_counter() - begun, False, repr(exc)
                connection.close()
                connection = connections[index] = await HttpConnection.open(host, port)
            if begun >= measure_from:
                result.requests += 1
                result.latencies.append(latency)
                if not ok:
                    result.errors += 1
                    if len(result.error_samples) < 3 and error:
                        result.error_samples.append(error)

    async def monitor() -> Any:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        before = CpuSnapshot.take(server_pid)
        extra = asyncio.ensure_future(on_measure()) if on_measure else None
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        result.cpu = CpuSnapshot.take(server_pid).since(before)
        return await extra if extra else None

    users = [asyncio.ensure_future(user(i)) for i in range(concurrency)]
    watcher = asyncio.ensure_future(monitor())
    # Every loop above ends at `end`; a request the server never answers is cut off here.
    done, pending = await asyncio.wait([*users, watcher], timeout=warmup + duration + 60)
    for task in pending:
        task.cancel()
    for task in done:
        if task.exception() is not None and task is not watcher:
            raise task.exception()  # type: ignore[misc]
    result.seconds = duration
    if watcher in done and watcher.exception() is None:
        result.profile = watcher.result()
    for connection in connections:
        connection.close()
    return result


async def run_count(
    *, host: str, port: int, concurrency: int, total: int, step: Step
) -> tuple[int, list[str]]:
    """Send `total` requests (seeding, not measured); returns (errors, samples)."""
    connections = await open_connections(host, port, min(concurrency, total))
    remaining = total
    errors: list[str] = []

    async def user(index: int) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            _, ok, error = await step(connections[index], index)
            if not ok:
                errors.append(error or "error")

    await asyncio.wait_for(asyncio.gather(*(user(i) for i in range(len(connections)))), 300)
    for connection in connections:
        connection.close()
    return len(errors), errors[:3]


# --------------------------------------------------------------------------- targets


@dataclass
class Target:
    """How to talk to one server: paths, headers, and how to read its answers."""

    name: str
    host: str
    create_path: str
    read_path: str  # with {id}
    search_path: str  # with {patient}
    headers: tuple[str, ...]
    body_headers: tuple[str, ...]
    created_ids: list[str] = field(default_factory=list)
    # FHIR resources, the baseline stores bare ids.
    patient_reference: Callable[[str], str] = lambda pid: pid

    def post(self, path: str, body: bytes) -> bytes:
        return http_request("POST", path, self.host, self.headers + self.body_headers, body)

    def get(self, path: str) -> bytes:
        return http_request("GET", path, self.host, self.headers)


def fhir_target(host: str) -> Target:
    return Target(
        name="fhir",
        host=host,
        create_path="/fhir/ServiceRequest",
        read_path="/fhir/ServiceRequest/{id}",
        search_path="/fhir/ServiceRequest?patient=Patient/{patient}&_count={count}",
        headers=(f"Authorization: Bearer {TOKEN}", "Accept: application/fhir+json"),
        body_headers=("Content-Type: application/fhir+json",),
    )


def bare_target(host: str) -> Target:
    return Target(
        name="bare",
        host=host,
        create_path="/orders",
        read_path="/orders/{id}",
        search_path="/orders?patient=Patient/{patient}&_count={count}",
        headers=("Accept: application/json",),
        body_headers=("Content-Type: application/json",),
    )


_NEXT_MARKERS = (b'"relation":"next","url":"', b'"next":"')


def next_path(body: bytes) -> str | None:
    """The path of a page's `next` link (both servers write it before the entries)."""
    head = body[:4096]
    for marker in _NEXT_MARKERS:
        start = head.find(marker)
        if start >= 0:
            start += len(marker)
            url = head[start : head.index(b'"', start)].decode()
            parts = urlsplit(url)
            return urlunsplit(("", "", parts.path, parts.query, ""))
    return None


class Workload:
    """The requests of every phase for one target."""

    def __init__(self, target: Target, run_id: str, organization: str, patients: list[str]):
        self.target = target
        self.run_id = run_id
        self.organization = organization
        self.patients = patients
        self.sequence = 0
        self.rng = random.Random(42)

    def _accession(self) -> str:
        self.sequence += 1
        return f"{self.target.name}-{self.run_id}-{self.sequence}"

    async def create(
        self, connection: HttpConnection, _: int, patient: str | None = None
    ) -> tuple[float, bool, str | None]:
        target = self.target
        subject = patient or self.patients[self.sequence % len(self.patients)]
        raw = target.post(
            target.create_path, order_body(self._accession(), subject, self.organization)
        )
        begun = time.perf_counter()
        status, body = await connection.send(raw)
        latency = time.perf_counter() - begun
        if status != 201:
            return latency, False, f"{status} {body[:300]!r}"
        target.created_ids.append(orjson.loads(body)["id"])
        return latency, True, None

    async def read(self, connection: HttpConnection, _: int) -> tuple[float, bool, str | None]:
        target = self.target
        resource_id = target.created_ids[self.rng.randrange(len(target.created_ids))]
        raw = target.get(target.read_path.format(id=resource_id))
        begun = time.perf_counter()
        status, body = await connection.send(raw)
        latency = time.perf_counter() - begun
        return latency, status == 200, None if status == 200 else f"{status} {body[:300]!r}"

    def searcher(self, patient: str, count: int, expected: int) -> Step:
        """Each connection walks the whole result set page by page, then starts over."""
        first = self.target.search_path.format(patient=patient, count=count)
        cursors: dict[int, tuple[str, int]] = {}  # connection -> (next path, entries so far)
        self.search_walks = Counter[str]()

        async def step(connection: HttpConnection, index: int) -> tuple[float, bool, str | None]:
            path, seen = cursors.get(index, (first, 0))
            begun = time.perf_counter()
            status, body = await connection.send(self.target.get(path))
            latency = time.perf_counter() - begun
            if status != 200:
                cursors.pop(index, None)
                return latency, False, f"{status} {body[:300]!r}"
            seen += body.count(b'"resourceType":"ServiceRequest"')
            following = next_path(body)
            if following is None:
                self.search_walks["complete" if seen == expected else f"saw {seen}"] += 1
                cursors.pop(index, None)
            else:
                cursors[index] = (following, seen)
            return latency, True, None

        return step


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A uvicorn process tree we started; stopped by its own pid."""

    def __init__(self, name: str, app: str, env: dict[str, str], args: argparse.Namespace):
        self.name = name
        self.port = free_port()
        self.log_path = RESULTS / f"{args.run_id}-{name}-server.log"
        self.command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(args.workers),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
            "--timeout-keep-alive",
            "60",
        ]
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def launch(self) -> None:
        with open(self.log_path, "wb") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    async def start(self, ready_path: str) -> None:
        self.launch()
        assert self.process is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} server exited; see {self.log_path}")
            with contextlib.suppress(OSError):
                connection = await HttpConnection.open("127.0.0.1", self.port)
                status, _ = await connection.send(
                    http_request("GET", ready_path, f"127.0.0.1:{self.port}")
                )
                connection.close()
                if status == 200 and len(process_tree(self.pid)) >= self.processes_expected:
                    await asyncio.sleep(2)  # the other workers finish importing meanwhile
                    return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} server not ready after 60 s; see {self.log_path}")

    @property
    def processes_expected(self) -> int:
        """uvicorn runs one worker in-process, several under a supervisor process."""
        workers = int(self.command[self.command.index("--workers") + 1])
        return 1 if workers == 1 else workers + 1

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            for pid in reversed(process_tree(self.pid)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait(5)


# --------------------------------------------------------------------------- database


def _admin_and_name(url: str) -> tuple[str, str]:
    parts = urlsplit(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    name = parts.path.lstrip("/")
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    return admin, name


def audit_url(url: str) -> str:
    """The benchmark's audit log: a database beside `url`'s, named `<its name>_audit`."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path + "_audit"))


async def _migrate(url: str, *, recreate: bool, config: str, variable: str) -> None:
    """(Re)create the bench_* database of `url` and run the Alembic `config` on it."""
    admin, name = _admin_and_name(url)
    if not name.startswith("bench_"):
        raise SystemExit(f"refusing to use database {name!r}: benchmark databases are bench_*")
    if recreate:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
    migration = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "alembic", "-c", config, "upgrade", "head"),
        cwd=ROOT,
        env={**os.environ, variable: url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(migration.communicate(), 300)
    if migration.returncode != 0:
        raise SystemExit(f"alembic upgrade head failed:\n{output.decode()}")


async def prepare_database(url: str, *, recreate: bool) -> None:
    """Intake's database (with the baseline's table) and the audit log beside it."""
    await _migrate(
        url, recreate=recreate, config="services/intake/alembic.ini", variable="DATABASE_URL"
    )
    await _migrate(
        audit_url(url),
        recreate=recreate,
        config="shared/audit/alembic.ini",
        variable="AUDIT_DATABASE_URL",
    )
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        for statement in TABLE_DDL:
            await connection.execute(statement)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def server_settings(url: str) -> dict[str, str]:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        names = (
            "server_version",
            "shared_buffers",
            "synchronous_commit",
            "fsync",
            "max_connections",
        )
        return {n: await connection.fetchval(f"SHOW {n}") for n in names}
    finally:
        await connection.close()


# --------------------------------------------------------------------------- profiling


# Where a profile sample's time goes: the layer of its innermost frame that belongs to one
# (checked in this order against the full file name of each frame, innermost first).
PROFILE_LAYERS = (
    (
        "FHIR validation (fhir.resources, pydantic)",
        ("/fhir_core/", "/fhir/resources/", "/pydantic"),
    ),
    ("OpenTelemetry spans", ("/opentelemetry/",)),
    ("asyncpg driver (incl. socket writes)", ("/asyncpg/",)),
    ("SQLAlchemy", ("/sqlalchemy/", "/greenlet/")),
    ("FastAPI/Starlette", ("/fastapi/", "/starlette/")),
    ("uvicorn", ("/uvicorn/", "/httptools/")),
    ("FHIR code (shared/, services/)", ("/shared/", "/services/")),
)
OTHER_LAYER = "event loop, stdlib, other"
OWN_CODE = (f"{ROOT}/shared/", f"{ROOT}/services/")


def summarize_profile(path: Path, top: int = 25) -> dict[str, Any]:
    """Shares of py-spy's samples (raw/collapsed output, full file names) of the uvicorn
    workers: by layer (innermost frame that belongs to one), by function (self time), and
    for the service's own functions (inclusive)."""
    self_counts: Counter[str] = Counter()
    own: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        frames = stack_text.split(";")
        # Worker processes only (under several workers, the supervisor is not one).
        if not count_text.isdigit() or not any(
            marker in f for f in frames for marker in ("subprocess_started", "run_asgi")
        ):
            continue
        count = int(count_text)
        total += count
        layer = next(
            (
                name
                for frame in reversed(frames)
                for name, markers in PROFILE_LAYERS
                if any(m in frame for m in markers)
            ),
            OTHER_LAYER,
        )
        layers[layer] += count
        self_counts[_frame_name(frames[-1])] += count
        for name in {_frame_name(f) for f in frames if any(d in f for d in OWN_CODE)} - {""}:
            own[name] += count

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return (
            [(k, round(100 * v / total, 1)) for k, v in counter.most_common(top)] if total else []
        )

    return {
        "samples": total,
        "layers_pct": dict(share(layers)),
        "self_pct": share(self_counts),
        "service_functions_inclusive_pct": share(own),
    }


def _frame_name(frame: str) -> str:
    """'function (path/to/module.py:12)' -> 'function (to/module.py)'; process frames dropped."""
    name, _, where = frame.partition(" (")
    if not where:
        return "" if frame.startswith("process ") else frame
    file = where.rstrip(")").rsplit(":", 1)[0]
    for prefix in ("site-packages/", str(ROOT) + "/", "lib/python3.11/"):
        if prefix in file:
            file = file.split(prefix, 1)[1]
            break
    return f"{name} ({file})"


async def py_spy(py_spy_path: str, pid: int, duration: float, out: Path) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        py_spy_path,
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--nonblocking",
        "--full-filenames",
        "--rate",
        "250",
        "--duration",
        str(max(1, int(duration))),
        "--format",
        "raw",
        "--output",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await asyncio.wait_for(process.wait(), duration + 30)
    except TimeoutError:
        process.kill()
        await process.wait()
    return _profile_summary(out)


def _profile_summary(out: Path) -> dict[str, Any]:
    if not out.exists():
        return {"error": "py-spy wrote nothing"}
    summary = summarize_profile(out)
    summary["file"] = str(out.relative_to(ROOT))
    return summary


# --------------------------------------------------------------------------- main flow


@dataclass
class Bench:
    """One running server with its workload."""

    name: str
    server: Server
    ready_path: str
    target: Target
    info: dict[str, Any]
    steps: dict[str, Step] = field(default_factory=dict)
    workload: Workload | None = None


def make_bench(name: str, args: argparse.Namespace, url: str) -> Bench:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            (
                "OTEL_",
                "DATABASE_URL",
                "AUDIT_DATABASE_URL",
                "DB_POOL",
                "PUBLIC_BASE_URL",
                "BASELINE_",
            )
        )
    }
    env.update(PYTHONDONTWRITEBYTECODE="1")
    if name == "fhir":
        env.update(
            ENVIRONMENT="development",
            SERVICE_NAME="intake",
            DATABASE_URL=url,
            AUDIT_DATABASE_URL=audit_url(url),
            DB_POOL_SIZE=str(args.pool_size),
            DEV_AUTH_TOKEN=TOKEN,
            OTEL_TRACES_EXPORTER="none",
            LOG_LEVEL=args.log_level,
        )
        env.update(args.fhir_env)
        server = Server(name, "services.intake.app:create_app", env, args)
        ready_path = "/readyz"
    else:
        env.update(BASELINE_DATABASE_URL=url, BASELINE_POOL_SIZE=str(args.pool_size))
        server = Server(name, "bench.baseline_app:create_app", env, args)
        ready_path = "/healthz"
    host = f"127.0.0.1:{server.port}"
    target = fhir_target(host) if name == "fhir" else bare_target(host)
    info: dict[str, Any] = {"command": " ".join(server.command[1:]), "seed": {}}
    return Bench(name, server, ready_path, target, info)


async def run_benchmark(
    args: argparse.Namespace, url: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Start every target, then run each phase round by round, the targets taking turns
    within a round, so that a burst of other load on the machine hits both alike."""
    benches = [make_bench(name, args, url) for name in args.targets]
    rounds: dict[tuple[str, str], list[PhaseResult]] = {}
    try:
        for bench in benches:
            await bench.server.start(bench.ready_path)
            organization, patients, search_patient = await seed(
                bench.target, bench.server.port, args, bench.info
            )
            bench.workload = workload = Workload(bench.target, args.run_id, organization, patients)
            bench.steps = {
                "create": workload.create,
                "read": workload.read,
                "search": workload.searcher(search_patient, args.page_size, args.search_orders),
            }
        for round_index in range(args.rounds):
            for phase in args.phases:
                for bench in benches:
                    rounds.setdefault((bench.name, phase), []).append(
                        await _measure(bench, phase, round_index, args)
                    )
    finally:
        for bench in benches:
            bench.server.stop()
    results: dict[str, Any] = {bench.name: {} for bench in benches}
    for (name, phase), measured in rounds.items():
        summary = PhaseResult.merge(measured).summary()
        summary["rounds_rps"] = [r.summary()["rps"] for r in measured]
        results[name][phase] = summary
    infos = {bench.name: bench.info for bench in benches}
    for bench in benches:
        if "search" in args.phases and bench.workload is not None:
            bench.info["search_walks"] = dict(bench.workload.search_walks)
    return results, infos


async def _measure(
    bench: Bench, phase: str, round_index: int, args: argparse.Namespace
) -> PhaseResult:
    profile = None
    if args.profile and bench.name == "fhir" and round_index == 0:
        out = RESULTS / f"{args.run_id}-profile-{phase}.txt"
        pid = bench.server.pid

        def profile(out: Path = out) -> Awaitable[dict[str, Any]]:
            return py_spy(args.py_spy, pid, args.duration, out)

    print(f"  round {round_index + 1} {bench.name:4} {phase:6} ...", end="", flush=True)
    result = await run_phase(
        phase,
        step=bench.steps[phase],
        on_measure=profile,
        host="127.0.0.1",
        port=bench.server.port,
        concurrency=args.concurrency,
        # Connections are new in each round: a short warm-up after the first.
        warmup=args.warmup if round_index == 0 else min(args.warmup, 1.0),
        duration=args.duration,
        server_pid=bench.server.pid,
    )
    summary = result.summary()
    print(
        f" {summary['rps']:>8.1f}/s  p50 {summary['p50_ms']} ms  p99 {summary['p99_ms']} ms"
        + (f"  ERRORS {result.errors}: {result.error_samples[:1]}" if result.errors else "")
    )
    return result


async def seed(
    target: Target, port: int, args: argparse.Namespace, info: dict[str, Any]
) -> tuple[str, list[str], str]:
    """An organization, patients, and one patient with `search_orders` orders to page."""
    connection = await HttpConnection.open("127.0.0.1", port)
    try:
        if target.name == "fhir":
            status, body = await connection.send(
                target.post("/fhir/Organization", organization_body())
            )
            if status not in (200, 201):  # 200: already there (--keep-database)
                raise RuntimeError(f"seeding the organization failed: {status} {body[:300]!r}")
            organization = orjson.loads(body)["id"]
            patients = []
            for index in range(args.patients + 1):
                status, body = await connection.send(
                    target.post("/fhir/Patient", patient_body(index, args.run_id))
                )
                if status != 201:
                    raise RuntimeError(f"seeding a patient failed: {status} {body[:300]!r}")
                patients.append(orjson.loads(body)["id"])
        else:
            organization = "bench-organization"
            patients = [f"bench-patient-{args.run_id}-{i}" for i in range(args.patients + 1)]
    finally:
        connection.close()
    search_patient = patients.pop()
    seeder = Workload(target, args.run_id + "-seed", organization, patients)

    async def seed_order(connection: HttpConnection, index: int) -> tuple[float, bool, str | None]:
        return await seeder.create(connection, index, patient=search_patient)

    started = time.perf_counter()
    errors, samples = await run_count(
        host="127.0.0.1",
        port=port,
        concurrency=args.concurrency,
        total=args.search_orders,
        step=seed_order,
    )
    if errors:
        raise RuntimeError(f"seeding orders failed ({errors} errors): {samples}")
    info["seed"] = {
        "patients": len(patients) + 1,
        "search_patient_orders": args.search_orders,
        "seconds": round(time.perf_counter() - started, 2),
    }
    seeded = list(target.created_ids)
    target.created_ids.clear()  # reads use the orders of the measured create phase...
    if "create" not in args.phases:
        target.created_ids.extend(seeded)  # ...or, without one, the seeded orders
    return organization, patients, search_patient


def ratio(fhir: float | None, bare: float | None) -> str:
    if not fhir or not bare:
        return "-"
    return f"{fhir / bare:.2f}"


def print_table(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> list[str]:
    lines = [
        f"{'phase':8} {'metric':14} {'bare':>10} {'fhir':>10} {'fhir/bare':>10}",
        "-" * 56,
    ]
    bare, fhir = results.get("bare", {}), results.get("fhir", {})
    for phase in args.phases:
        b, f = bare.get(phase, {}), fhir.get(phase, {})
        unit = "pages/s" if phase == "search" else "req/s"
        rows = [
            (unit, "rps", "{:.0f}"),
            ("p50 ms", "p50_ms", "{:.2f}"),
            ("p99 ms", "p99_ms", "{:.2f}"),
        ]
        for label, key, fmt in rows:
            bv, fv = b.get(key), f.get(key)
            lines.append(
                f"{phase:8} {label:14} {fmt.format(bv) if bv is not None else '-':>10} "
                f"{fmt.format(fv) if fv is not None else '-':>10} {ratio(fv, bv):>10}"
            )
            if key == "rps":
                per_round = [
                    f"{x:.0f}/{y:.0f}={x / y:.2f}" if y else "-"
                    for x, y in zip(f.get("rounds_rps", []), b.get("rounds_rps", []), strict=False)
                ]
                if per_round:
                    lines.append(
                        f"{phase:8} {'  by round':14} {'fhir/bare: ' + ', '.join(per_round)}"
                    )
        for label, key in (
            ("server ms CPU", "server_ms_per_req"),
            ("pg ms CPU", "postgres_ms_per_req"),
            ("client ms CPU", "client_ms_per_req"),
        ):
            bv, fv = b.get("cpu", {}).get(key), f.get("cpu", {}).get(key)
            lines.append(
                f"{phase:8} {label + '/req':14} {bv if bv is not None else '-':>10} "
                f"{fv if fv is not None else '-':>10} {ratio(fv, bv):>10}"
            )
        # CPU other processes used meanwhile, in % of one core: the run's noise.
        bv, fv = (_others_pct(x) for x in (b, f))
        lines.append(
            f"{phase:8} {'others CPU %':14} {bv if bv is not None else '-':>10} "
            f"{fv if fv is not None else '-':>10} {'':>10}"
        )
    lines.append("")
    lines += aims(results)
    return lines


def _others_pct(summary: dict[str, Any]) -> float | None:
    other = summary.get("cpu", {}).get("other_s")
    seconds = summary.get("seconds")
    return round(100 * other / seconds) if other is not None and seconds else None


# The targets for this 2-core machine.
AIM_CREATE_RATIO = 0.5
AIM_READS_PER_S = 3000


def aims(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    fhir, bare = results.get("fhir", {}), results.get("bare", {})
    if "create" in fhir and "create" in bare and bare["create"]["rps"]:
        value = fhir["create"]["rps"] / bare["create"]["rps"]
        met = "met" if value >= AIM_CREATE_RATIO else "NOT met"
        lines.append(f"aim: FHIR creates >= {AIM_CREATE_RATIO:.0%} of bare: {value:.1%} ({met})")
    if "read" in fhir:
        value = fhir["read"]["rps"]
        met = "met" if value >= AIM_READS_PER_S else "NOT met"
        lines.append(f"aim: FHIR reads >= {AIM_READS_PER_S}/s: {value:.0f}/s ({met})")
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Intake FHIR service vs a bare FastAPI+asyncpg baseline, on PostgreSQL.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="PostgreSQL URL of the bench_* database to (re)create and migrate "
        "(env BENCH_DATABASE_URL)",
    )
    parser.add_argument("--keep-database", action="store_true", help="do not drop/recreate it")
    parser.add_argument(
        "--duration", type=float, default=5.0, help="measured seconds per phase and round"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds; the targets take turns in each"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per phase")
    parser.add_argument("--concurrency", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers per server")
    parser.add_argument("--pool-size", type=int, default=10, help="DB pool size per worker")
    parser.add_argument("--patients", type=int, default=20, help="patients orders spread over")
    parser.add_argument(
        "--search-orders", type=int, default=500, help="orders of the paged patient"
    )
    parser.add_argument("--page-size", type=int, default=50, help="_count of the paged search")
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated subset")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated subset")
    parser.add_argument(
        "--log-level", default="WARNING", help="LOG_LEVEL of the FHIR server (INFO = access log)"
    )
    parser.add_argument(
        "--fhir-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra setting of the FHIR server, e.g. OTEL_TRACES_SAMPLE_RATIO=0.1 (repeatable)",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the FHIR phases")
    parser.add_argument(
        "--py-spy", default=shutil.which("py-spy") or "py-spy", help="py-spy executable"
    )
    parser.add_argument("--output", type=Path, help="result JSON (default bench/results/...)")
    args = parser.parse_args(argv)
    if bad := [e for e in args.fhir_env if "=" not in e]:
        parser.error(f"--fhir-env takes NAME=VALUE, not {bad}")
    args.fhir_env = dict(e.split("=", 1) for e in args.fhir_env)
    args.phases = [p for p in args.phases.split(",") if p]
    args.targets = [t for t in args.targets.split(",") if t]
    if unknown := (set(args.phases) - set(PHASES)) | (set(args.targets) - set(TARGETS)):
        parser.error(f"unknown phases/targets: {sorted(unknown)}")
    if "read" in args.phases and "create" not in args.phases:
        pass  # reads then use the seeded orders
    host = urlsplit(args.database_url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the benchmark only loads a local PostgreSQL (127.0.0.1)")
    if args.profile and not shutil.which(args.py_spy) and not Path(args.py_spy).exists():
        parser.error(
            "--profile needs py-spy (pip install py-spy into any venv, then --py-spy PATH)"
        )
    for name in ("duration", "warmup"):
        if not 0 <= getattr(args, name) <= 600:
            parser.error(f"--{name} must be between 0 and 600 seconds")
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds must be between 1 and 20")
    if not 1 <= args.concurrency <= 512:
        parser.error("--concurrency must be between 1 and 512")
    args.run_id = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return args


async def main(args: argparse.Namespace) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    url = args.database_url
    sa_url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    print(
        f"database {_admin_and_name(url)[1]}: {'reusing' if args.keep_database else 'recreating'} and migrating"
    )
    await prepare_database(sa_url, recreate=not args.keep_database)
    pg = await server_settings(sa_url)
    print(
        f"{os.cpu_count()} CPUs, PostgreSQL {pg['server_version'].split()[0]}; "
        f"{args.workers} uvicorn workers per server, concurrency {args.concurrency}, "
        f"{args.rounds} rounds of {args.duration:g} s per phase and target "
        f"(warm-up {args.warmup:g} s, then 1 s)"
    )
    results, infos = await run_benchmark(args, sa_url)
    lines = print_table(results, args)
    print()
    print("\n".join(lines))
    document = {
        "run_id": args.run_id,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {
            "cpus": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "python": platform.python_version(),
            "kernel": platform.release(),
            "postgres": pg,
        },
        "git": _git_state(),
        "settings": {
            k: v if not isinstance(v, Path) else str(v)
            for k, v in vars(args).items()
            if k not in ("run_id",)
        },
        "servers": infos,
        "results": results,
        "ratios": {
            phase: {
                "rps": _ratio_value(results, phase, "rps"),
                "p50": _ratio_value(results, phase, "p50_ms"),
                "p99": _ratio_value(results, phase, "p99_ms"),
            }
            for phase in args.phases
        },
        "table": lines,
    }
    output = args.output or RESULTS / f"intake-{args.run_id}.json"
    output.write_text(json.dumps(document, indent=2, default=str))
    print(f"\nresults: {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    for name in results:
        for phase, summary in results[name].items():
            if "profile" in summary:
                print_profile(f"{name} {phase}", summary["profile"])
    failed = any(s.get("errors") for r in results.values() for s in r.values())
    return 1 if failed else 0


def _ratio_value(results: dict[str, Any], phase: str, key: str) -> float | None:
    f = results.get("fhir", {}).get(phase, {}).get(key)
    b = results.get("bare", {}).get(phase, {}).get(key)
    return round(f / b, 3) if f and b else None


def print_profile(label: str, profile: dict[str, Any]) -> None:
    if "error" in profile:
        print(f"\nprofile {label}: {profile['error']}")
        return
    print(f"\nprofile {label}: {profile['samples']} samples of the workers ({profile['file']})")
    print("  by layer (innermost frame), %:")
    for layer, pct in profile["layers_pct"].items():
        print(f"    {pct:5.1f}  {layer}")
    print("  service functions, inclusive %:")
    for frame, pct in profile["service_functions_inclusive_pct"][:12]:
        print(f"    {pct:5.1f}  {frame}")
    print("  top self time, %:")
    for frame, pct in profile["self_pct"][:10]:
        print(f"    {pct:5.1f}  {frame}")


def _git_state() -> dict[str, Any]:
    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.rstrip("\n") if done.returncode == 0 else ""

    changed = [line[3:] for line in git("status", "--porcelain").splitlines()]
    return {"commit": git("rev-parse", "HEAD"), "uncommitted": changed}


def _cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    arguments = parse_args()
    sys.exit(uvloop.run(main(arguments)))
