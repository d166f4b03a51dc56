"""`make run`: the whole platform on this machine, on embedded SQLite, in one command.

Prestart sequence, then serve: migrate each service's database (Alembic), seed the demo
into intake (idempotent), start each service as its own uvicorn process on its own port,
and the gateway in front of them on GATEWAY_PORT (8080): one FHIR base URL for every
resource type. Ctrl-C stops them all. Settings come from the environment as in production
(see docs/configuration.md); each service's database defaults to `var/<service>.db` and can
be pointed elsewhere with `<SERVICE>_DATABASE_URL` (e.g. `INTAKE_DATABASE_URL=postgresql://...`).

Each service is started with PUBLIC_BASE_URL set to the gateway's origin, so that the
`Location` headers, `fullUrl`s and paging links it writes name the front door, which
relays them unchanged.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402

from services.intake.seed import seed  # noqa: E402
from shared.settings import ServiceSettings  # noqa: E402

HOST = os.environ.get("RUN_HOST", "127.0.0.1")
# Where this script and the gateway reach the processes (a wildcard address is no target).
LOCAL = "127.0.0.1" if HOST in ("0.0.0.0", "::") else HOST
GATEWAY = "gateway"
PORTS = {
    "intake": int(os.environ.get("INTAKE_PORT", "8081")),
    "assignment": int(os.environ.get("ASSIGNMENT_PORT", "8082")),
    "reporting": int(os.environ.get("REPORTING_PORT", "8083")),
    "sla": int(os.environ.get("SLA_PORT", "8084")),
}
GATEWAY_PORT = int(os.environ.get("GATEWAY_PORT", "8080"))
# The origin clients use; the FHIR base is this plus /fhir.
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", f"http://{LOCAL}:{GATEWAY_PORT}")


def port_of(process: str) -> int:
    return GATEWAY_PORT if process == GATEWAY else PORTS[process]


def process_env(process: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("ENVIRONMENT", "development")
    env["SERVICE_NAME"] = process
    env["OTEL_SERVICE_NAME"] = process
    env["PUBLIC_BASE_URL"] = PUBLIC_BASE_URL
    env["PYTHONPATH"] = str(ROOT)
    return env


def service_env(service: str) -> dict[str, str]:
    env = process_env(service)
    env["DATABASE_URL"] = os.environ.get(
        f"{service.upper()}_DATABASE_URL", f"sqlite+aiosqlite:///{ROOT}/var/{service}.db"
    )
    return env


def gateway_env() -> dict[str, str]:
    env = process_env(GATEWAY)
    for service, port in PORTS.items():
        env[f"{service.upper()}_URL"] = f"http://{LOCAL}:{port}"
    return env


def prestart(service: str) -> ServiceSettings:
    env = service_env(service)
    settings = ServiceSettings(service_name=service, database_url=env["DATABASE_URL"])
    config = Config(str(ROOT / "services" / service / "alembic.ini"))
    config.attributes["database_url"] = settings.resolved_database_url
    command.upgrade(config, "head")
    return settings


def start(process: str) -> subprocess.Popen[bytes]:
    """Start the service (or the gateway) `process` as a uvicorn process on its port."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"services.{process}.app:create_app",
            "--host",
            HOST,
            "--port",
            str(port_of(process)),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=gateway_env() if process == GATEWAY else service_env(process),
    )


def wait_until_ready(processes: dict[str, subprocess.Popen[bytes]], timeout: float = 90) -> bool:
    """Poll each process's /readyz until all answer 200 (or one exits, or time runs out);
    the gateway's answers 200 once every service's does."""
    deadline = time.monotonic() + timeout
    waiting = set(processes)
    while waiting and time.monotonic() < deadline:
        for name in sorted(waiting):
            if processes[name].poll() is not None:
                print(f"{name} exited with {processes[name].returncode}", flush=True)
                return False
            try:
                ready = httpx.get(f"http://{LOCAL}:{port_of(name)}/readyz", timeout=2)
                if ready.status_code == 200:
                    waiting.discard(name)
            except httpx.HTTPError:
                pass
        time.sleep(0.3)
    if waiting:
        print(f"not ready after {timeout:.0f} s: {', '.join(sorted(waiting))}", flush=True)
    return not waiting


def banner() -> str:
    base = f"{PUBLIC_BASE_URL}/fhir"
    token = os.environ.get("DEV_AUTH_TOKEN", "dev-token")
    own = "\n".join(
        f"  {service:<11} http://{LOCAL}:{port}/fhir" for service, port in PORTS.items()
    )
    return (
        f"\nFHIR base (every resource type): {base}\n"
        f"Behind it, each service on its own port (OpenAPI at .../fhir/docs):\n{own}\n\n"
        f"Try:\n  curl {base}/metadata\n"
        f"  curl -H 'Authorization: Bearer {token}' "
        f"'{base}/ServiceRequest?priority=stat&_include=ServiceRequest:patient'\n"
        f"Stop: Ctrl-C\n"
    )


def main() -> int:
    for service in PORTS:
        settings = prestart(service)
        if service == "intake":
            created = asyncio.run(seed(settings))
            print(f"intake: demo data loaded ({created} resources created)", flush=True)
    processes = {name: start(name) for name in (*PORTS, GATEWAY)}
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    if wait_until_ready(processes):
        print(banner(), flush=True)
    else:
        stopping = True
    status = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"{name} exited with {process.returncode}; stopping", flush=True)
                stopping, status = True, 1
        time.sleep(0.5)
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes.values():
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    return status


if __name__ == "__main__":
    sys.exit(main())
