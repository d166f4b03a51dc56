"""`make run`: the whole platform on this machine, on embedded SQLite, in one command.

Prestart sequence, then serve: migrate each service's database (Alembic), seed the demo
into intake (idempotent), and start each service as its own uvicorn process. Ctrl-C stops
them all. Settings come from the environment as in production (see docs/configuration.md);
each service's database defaults to `var/<service>.db` and can be pointed elsewhere with
`<SERVICE>_DATABASE_URL` (e.g. `INTAKE_DATABASE_URL=postgresql://...`).
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
# The FHIR base for EHRs is intake's port; the other services answer on their own ports
# until the shared front door routes every resource type through one URL.
PORTS = {
    "intake": int(os.environ.get("INTAKE_PORT", "8080")),
    "assignment": int(os.environ.get("ASSIGNMENT_PORT", "8082")),
    "reporting": int(os.environ.get("REPORTING_PORT", "8083")),
    "sla": int(os.environ.get("SLA_PORT", "8084")),
}


def service_env(service: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("ENVIRONMENT", "development")
    env["SERVICE_NAME"] = service
    env["OTEL_SERVICE_NAME"] = service
    env["DATABASE_URL"] = os.environ.get(
        f"{service.upper()}_DATABASE_URL", f"sqlite+aiosqlite:///{ROOT}/var/{service}.db"
    )
    env["PYTHONPATH"] = str(ROOT)
    return env


def prestart(service: str) -> ServiceSettings:
    env = service_env(service)
    settings = ServiceSettings(service_name=service, database_url=env["DATABASE_URL"])
    config = Config(str(ROOT / "services" / service / "alembic.ini"))
    config.attributes["database_url"] = settings.resolved_database_url
    command.upgrade(config, "head")
    return settings


def start(service: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"services.{service}.app:create_app",
            "--host",
            HOST,
            "--port",
            str(PORTS[service]),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=service_env(service),
    )


def wait_until_ready(processes: dict[str, subprocess.Popen[bytes]], timeout: float = 90) -> bool:
    """Poll each service's /readyz until all answer 200 (or one exits, or time runs out)."""
    deadline = time.monotonic() + timeout
    waiting = set(processes)
    while waiting and time.monotonic() < deadline:
        for service in sorted(waiting):
            if processes[service].poll() is not None:
                print(f"{service} exited with {processes[service].returncode}", flush=True)
                return False
            try:
                ready = httpx.get(f"http://{HOST}:{PORTS[service]}/readyz", timeout=2)
                if ready.status_code == 200:
                    waiting.discard(service)
            except httpx.HTTPError:
                pass
        time.sleep(0.3)
    if waiting:
        print(f"not ready after {timeout:.0f} s: {', '.join(sorted(waiting))}", flush=True)
    return not waiting


def banner() -> str:
    base = f"http://{HOST}:{PORTS['intake']}/fhir"
    token = os.environ.get("DEV_AUTH_TOKEN", "dev-token")
    others = "\n".join(
        f"  {s:<11} http://{HOST}:{p}/fhir" for s, p in PORTS.items() if s != "intake"
    )
    return (
        f"\nFHIR base (intake): {base}\n{others}\n\n"
        f"Try:\n  curl -H 'Authorization: Bearer {token}' "
        f"'{base}/ServiceRequest?priority=stat&_include=ServiceRequest:patient'\n"
        f"Docs: {base}/docs   Stop: Ctrl-C\n"
    )


def main() -> int:
    for service in PORTS:
        settings = prestart(service)
        if service == "intake":
            created = asyncio.run(seed(settings))
            print(f"intake: demo data loaded ({created} resources created)", flush=True)
    processes = {service: start(service) for service in PORTS}
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
        for service, process in processes.items():
            if process.poll() is not None:
                print(f"{service} exited with {process.returncode}; stopping", flush=True)
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
