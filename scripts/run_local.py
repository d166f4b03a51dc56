"""`make run`: the whole platform on this machine, on embedded SQLite, in one command.

Prestart sequence, then serve: migrate each service's database and the audit log
(Alembic); load the demo's facilities into intake and its roster (radiologists, licences,
privileges at those facilities) into assignment; start each service as its own uvicorn
process on its own port, and the gateway in front of them on GATEWAY_PORT (8080): one FHIR
base URL for every resource type. Once every service's own subscriptions are active at the
services it consumes from, the demo's orders go into intake, so that their events go
round: assignment makes each order's read Task, sla starts its timeline. Every step is
idempotent: a second run loads nothing new. Ctrl-C stops them all. Settings come from the
environment as in production (see docs/configuration.md); each service's database defaults
to `var/<service>.db` and can be pointed elsewhere with `<SERVICE>_DATABASE_URL` (e.g.
`INTAKE_DATABASE_URL=postgresql://...`); the audit log they share, `var/audit.db`, with
`AUDIT_DATABASE_URL`.

Each service is started with PUBLIC_BASE_URL set to the gateway's origin, so that the
`Location` headers, `fullUrl`s and paging links it writes name the front door, which
relays them unchanged. The processes themselves are run by scripts/local_platform.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.local_platform import (  # noqa: E402
    DATABASES,
    DEFAULT_PORTS,
    GATEWAY,
    PROCESSES,
    SERVICES,
    LocalPlatform,
    PlatformError,
)
from services.assignment.seed import seed as seed_roster  # noqa: E402
from services.assignment.tasks import READ_TASK_SYSTEM  # noqa: E402
from services.intake.seed import seed_facilities, seed_orders  # noqa: E402
from shared.settings import DEV_TOKEN_DEFAULT, ServiceSettings  # noqa: E402

# How long the demo's order events may take to become read Tasks before the banner.
READ_TASKS_TIMEOUT_SECONDS = 30.0


def local_platform() -> LocalPlatform:
    """The platform as configured by this shell's environment (ports, host, databases)."""
    return LocalPlatform(
        database_urls={
            name: os.environ.get(
                f"{name.upper()}_DATABASE_URL", f"sqlite+aiosqlite:///{ROOT}/var/{name}.db"
            )
            for name in DATABASES
        },
        ports={
            name: int(os.environ.get(f"{name.upper()}_PORT", str(DEFAULT_PORTS[name])))
            for name in PROCESSES
        },
        host=os.environ.get("RUN_HOST", "127.0.0.1"),
        public_base_url=os.environ.get("PUBLIC_BASE_URL"),
    )


@dataclass(frozen=True, slots=True)
class Demo:
    """The demo as the running platform holds it."""

    orders: int
    read_tasks: int
    unassigned: int
    example_order: str | None  # "ServiceRequest/<id>" of an assigned order


def dev_token(platform: LocalPlatform) -> str:
    return platform.environment("intake").get("DEV_AUTH_TOKEN", DEV_TOKEN_DEFAULT)


def load_demo_orders(platform: LocalPlatform, intake: ServiceSettings) -> Demo:
    """Load the demo's orders into intake, and wait (a while) until assignment has made a
    read Task for each order intake holds."""
    created = asyncio.run(seed_orders(intake))
    print(f"intake: demo orders loaded ({created} resources created)", flush=True)
    headers = {"Authorization": f"Bearer {dev_token(platform)}"}
    base = platform.fhir_base(GATEWAY)
    with httpx.Client(base_url=base, headers=headers, timeout=10, trust_env=False) as fhir:
        try:
            # Nothing new loaded, no new events: what is there is all there will be.
            return _demo(platform, fhir, timeout=READ_TASKS_TIMEOUT_SECONDS if created else 0.0)
        except httpx.HTTPError as error:
            raise PlatformError(f"the gateway did not answer: {error}") from error


def _demo(platform: LocalPlatform, fhir: httpx.Client, *, timeout: float) -> Demo:
    deadline = time.monotonic() + timeout
    while True:
        orders = _count(fhir, "ServiceRequest", {})
        read_tasks = _count(fhir, "Task", {"identifier": f"{READ_TASK_SYSTEM}|"})
        if read_tasks >= orders or time.monotonic() >= deadline:
            break
        if exited := platform.exited():
            raise PlatformError(f"exited: {exited}")
        time.sleep(0.25)
    assigned = _search(fhir, "Task", {"business-status": "assigned", "_count": "1"})
    return Demo(
        orders=orders,
        read_tasks=read_tasks,
        unassigned=_count(fhir, "Task", {"business-status": "unassigned"}),
        example_order=assigned[0]["focus"]["reference"] if assigned else None,
    )


def _search(fhir: httpx.Client, resource_type: str, params: dict[str, str]) -> list[Any]:
    response = fhir.get(f"/{resource_type}", params=params)
    if response.status_code != 200:
        raise PlatformError(f"GET {resource_type}: HTTP {response.status_code}")
    return [entry["resource"] for entry in response.json().get("entry") or []]


def _count(fhir: httpx.Client, resource_type: str, params: dict[str, str]) -> int:
    response = fhir.get(f"/{resource_type}", params={**params, "_summary": "count"})
    if response.status_code != 200:
        raise PlatformError(f"GET {resource_type}: HTTP {response.status_code}")
    return int(response.json().get("total", 0))


def banner(platform: LocalPlatform, demo: Demo) -> str:
    base = f"{platform.public_base_url}/fhir"
    own = "\n".join(f"  {service:<11} {platform.fhir_base(service)}" for service in SERVICES)
    order = demo.example_order or "ServiceRequest/<id>"
    return (
        f"\nFHIR base (every resource type): {base}\n"
        f"Behind it, each service on its own port (OpenAPI at .../fhir/docs):\n{own}\n\n"
        f"Demo: {demo.orders} orders, {demo.read_tasks} read Tasks "
        f"({demo.unassigned} unassigned){_missing_tasks(demo)}\n\n"
        f"Try (`make token` lists the development clients; in development the shortcut "
        f"`Authorization: Bearer {dev_token(platform)}` works too):\n"
        f"  curl {base}/metadata\n"
        f"  EHR=$(make -s token CLIENT=ehr-mercy-dallas)\n"
        f'  curl -H "Authorization: Bearer $EHR" '
        f"'{base}/ServiceRequest?priority=stat&_include=ServiceRequest:patient'\n"
        f"The loop (README.md, \"The loop\"): each order's read Task, and one order's turnaround:\n"
        f"  ADMIN=$(make -s token CLIENT=admin)\n"
        f"  curl -H \"Authorization: Bearer $ADMIN\" '{base}/Task?business-status=assigned'\n"
        f"  curl -H \"Authorization: Bearer $ADMIN\" '{base}/$turnaround?order={order}'\n"
        f"Stop: Ctrl-C\n"
    )


def _missing_tasks(demo: Demo) -> str:
    if demo.read_tasks >= demo.orders:
        return ""
    return (
        f"\n  {demo.orders - demo.read_tasks} orders have no read Task: orders stored before "
        f"assignment subscribed to intake (e.g. a var/ from an older `make run`) never get "
        f"one; remove var/ (or the *_DATABASE_URL databases) to start the demo afresh"
    )


def serve(platform: LocalPlatform, intake: ServiceSettings) -> int:
    """Start every process, load the demo's orders once every subscription is active, print
    the banner, and keep them running until Ctrl-C (or SIGTERM), or until one exits."""
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    platform.start_all()
    try:
        platform.wait_ready()
        platform.wait_subscribed()
        demo = load_demo_orders(platform, intake)
    except PlatformError as error:
        # Ctrl-C during start-up also lands here: the processes got the SIGINT too.
        if stopping:
            return 0
        print(error, flush=True)
        return 1
    print(banner(platform, demo), flush=True)
    while not stopping:
        for name, code in platform.exited().items():
            print(f"{name} exited with {code}; stopping", flush=True)
            return 1
        time.sleep(0.5)
    return 0


def main() -> int:
    with local_platform() as platform:
        settings = {service: platform.migrate(service) for service in SERVICES}
        platform.migrate_audit_log()
        facilities = asyncio.run(seed_facilities(settings["intake"]))
        print(f"intake: {len(facilities)} demo organizations loaded", flush=True)
        created = asyncio.run(seed_roster(settings["assignment"], facilities))
        print(f"assignment: demo roster loaded ({created} resources created)", flush=True)
        return serve(platform, settings["intake"])


if __name__ == "__main__":
    sys.exit(main())
