"""`make run`: the whole platform on this machine, on embedded SQLite, in one command.

Prestart sequence, then serve: migrate each service's database (Alembic), seed the demo
into intake (idempotent), start each service as its own uvicorn process on its own port,
and the gateway in front of them on GATEWAY_PORT (8080): one FHIR base URL for every
resource type. Ctrl-C stops them all. Settings come from the environment as in production
(see docs/configuration.md); each service's database defaults to `var/<service>.db` and can
be pointed elsewhere with `<SERVICE>_DATABASE_URL` (e.g. `INTAKE_DATABASE_URL=postgresql://...`).

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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.local_platform import (  # noqa: E402
    DEFAULT_PORTS,
    PROCESSES,
    SERVICES,
    LocalPlatform,
    PlatformError,
)
from services.intake.seed import seed  # noqa: E402


def local_platform() -> LocalPlatform:
    """The platform as configured by this shell's environment (ports, host, databases)."""
    return LocalPlatform(
        database_urls={
            service: os.environ.get(
                f"{service.upper()}_DATABASE_URL", f"sqlite+aiosqlite:///{ROOT}/var/{service}.db"
            )
            for service in SERVICES
        },
        ports={
            name: int(os.environ.get(f"{name.upper()}_PORT", str(DEFAULT_PORTS[name])))
            for name in PROCESSES
        },
        host=os.environ.get("RUN_HOST", "127.0.0.1"),
        public_base_url=os.environ.get("PUBLIC_BASE_URL"),
    )


def banner(platform: LocalPlatform) -> str:
    base = f"{platform.public_base_url}/fhir"
    token = os.environ.get("DEV_AUTH_TOKEN", "dev-token")
    own = "\n".join(f"  {service:<11} {platform.fhir_base(service)}" for service in SERVICES)
    return (
        f"\nFHIR base (every resource type): {base}\n"
        f"Behind it, each service on its own port (OpenAPI at .../fhir/docs):\n{own}\n\n"
        f"Try:\n  curl {base}/metadata\n"
        f"  curl -H 'Authorization: Bearer {token}' "
        f"'{base}/ServiceRequest?priority=stat&_include=ServiceRequest:patient'\n"
        f"Stop: Ctrl-C\n"
    )


def serve(platform: LocalPlatform) -> int:
    """Start every process, print the banner once all are ready, and keep them running
    until Ctrl-C (or SIGTERM), or until one exits."""
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    platform.start_all()
    try:
        platform.wait_ready()
    except PlatformError as error:
        # Ctrl-C during start-up also lands here: the processes got the SIGINT too.
        if stopping:
            return 0
        print(error, flush=True)
        return 1
    print(banner(platform), flush=True)
    while not stopping:
        for name, code in platform.exited().items():
            print(f"{name} exited with {code}; stopping", flush=True)
            return 1
        time.sleep(0.5)
    return 0


def main() -> int:
    with local_platform() as platform:
        for service in SERVICES:
            settings = platform.migrate(service)
            if service == "intake":
                created = asyncio.run(seed(settings))
                print(f"intake: demo data loaded ({created} resources created)", flush=True)
        return serve(platform)


if __name__ == "__main__":
    sys.exit(main())
