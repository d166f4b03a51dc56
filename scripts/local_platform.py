"""The whole platform as real processes on this machine: the four FHIR services and the
gateway, each a uvicorn process on its own port, wired to each other on loopback.

Used by `make run` (scripts/run_local.py), the end-to-end tests (tests/e2e/) and the
benchmarks. Each process gets the environment a deployment would give it (see
`LocalPlatform.environment`); callers may override any variable, globally or per process.
`database_urls` names each service's database and the audit log they share (`audit`).

    with LocalPlatform(database_urls=urls, ports=free_ports(), log_dir=logs) as platform:
        platform.start_all()
        platform.wait_ready()
        platform.kill("sla")  # a crash
        platform.start("sla")
        platform.wait_ready(["sla"])
        platform.wait_subscribed()  # each service's own subscriptions are active

`migrate` runs Alembic, which drives its own event loop: call it outside a running loop.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

import httpx
from alembic import command
from alembic.config import Config

from shared.events.consumer import EVENTS_PATH, Consumption
from shared.settings import DEV_TOKEN_DEFAULT, ServiceSettings
from shared.smart.development import DEV_CLIENTS_FILE

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("intake", "assignment", "reporting", "sla")
AUDIT = "audit"  # the audit log every service appends to: a database, not a process
DATABASES = (*SERVICES, AUDIT)
GATEWAY = "gateway"
PROCESSES = (*SERVICES, GATEWAY)
DEFAULT_PORTS = {
    "gateway": 8080,
    "intake": 8081,
    "assignment": 8082,
    "reporting": 8083,
    "sla": 8084,
}
# Services notify each other (and test subscribers) on loopback, which the endpoint
# policy refuses unless allowed.
LOOPBACK_NETWORKS = ["127.0.0.0/8"]
_WILDCARDS = ("", "0.0.0.0", "::")
_LOG_TAIL_BYTES = 64 * 1024


class PlatformError(RuntimeError):
    """A process of the platform exited, or did not become ready in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the system's choice for `host`:0)."""
    return free_ports(["port"], host)["port"]


def free_ports(names: Iterable[str] = PROCESSES, host: str = "127.0.0.1") -> dict[str, int]:
    """A distinct free port for each name, all held open together so none repeats."""
    with ExitStack() as stack:
        ports: dict[str, int] = {}
        for name in names:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports[name] = int(sock.getsockname()[1])
        return ports


def consumptions_of(service: str) -> tuple[Consumption, ...]:
    """The subscriptions `service` keeps at the others: the CONSUMPTIONS of its
    `consumers` module (services/<service>/consumers.py), none without one."""
    if importlib.util.find_spec(f"services.{service}.consumers") is None:
        return ()
    module = importlib.import_module(f"services.{service}.consumers")
    return tuple(getattr(module, "CONSUMPTIONS", ()))


def alembic_ini(database: str) -> Path:
    """The Alembic configuration of a service's database, or of the audit log."""
    if database == AUDIT:
        return ROOT / "shared" / "audit" / "alembic.ini"
    return ROOT / "services" / database / "alembic.ini"


def origin(host: str, port: int) -> str:
    """`http://host:port`, bracketing an IPv6 address."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class LocalPlatform:
    """Starts, stops, kills and probes the platform's processes; a context manager that
    stops whatever is still running on exit."""

    def __init__(
        self,
        *,
        database_urls: Mapping[str, str],
        ports: Mapping[str, int] | None = None,
        host: str = "127.0.0.1",
        public_base_url: str | None = None,
        env: Mapping[str, str] | None = None,
        process_env: Mapping[str, Mapping[str, str]] | None = None,
        log_dir: Path | None = None,
        log_level: str = "warning",
    ) -> None:
        missing = [s for s in DATABASES if s not in database_urls]
        if missing:
            raise ValueError(f"no database URL for {', '.join(missing)}")
        unknown = sorted(set(ports or {}) - set(PROCESSES))
        if unknown:
            raise ValueError(f"unknown processes: {', '.join(unknown)}")
        self.database_urls = dict(database_urls)
        self.ports = {**DEFAULT_PORTS, **(ports or {})}
        self.host = host
        # Where this module and the processes reach each other: a wildcard is no target.
        self.local_host = "127.0.0.1" if host in _WILDCARDS else host
        self.public_base_url = (public_base_url or self.origin(GATEWAY)).rstrip("/")
        self.env = dict(env or {})
        self.process_env = {name: dict(values) for name, values in (process_env or {}).items()}
        self.log_dir = log_dir
        self.log_level = log_level
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ addresses

    def origin(self, name: str) -> str:
        """The loopback origin of process `name`, e.g. http://127.0.0.1:8082."""
        return origin(self.local_host, self.ports[name])

    def fhir_base(self, name: str = GATEWAY) -> str:
        """The FHIR base URL of process `name` on its own port (the gateway's by default)."""
        return f"{self.origin(name)}{self.environment(name).get('FHIR_BASE_PATH', '/fhir')}"

    def environment(self, name: str) -> dict[str, str]:
        """The full environment process `name` runs with: this one's, the platform's, then
        the caller's overrides (global, then for this process)."""
        values = dict(os.environ)
        values.setdefault("ENVIRONMENT", "development")
        values.update(self._wiring(name))
        values.update(self.env)
        values.update(self.process_env.get(name, {}))
        if values["ENVIRONMENT"] == "development" and not values.get("AUTH_CLIENTS_FILE"):
            # Set, not left to intake's fallback: every service reads the registry intake
            # issues tokens from (a withdrawn client's subscriptions are turned off).
            values["AUTH_CLIENTS_FILE"] = str(DEV_CLIENTS_FILE)
        return values

    def _wiring(self, name: str) -> dict[str, str]:
        values = {
            "SERVICE_NAME": name,
            "OTEL_SERVICE_NAME": name,
            "PUBLIC_BASE_URL": self.public_base_url,
            "PYTHONPATH": str(ROOT),
            "INTERNAL_URL": self.origin(name),
            "SUBSCRIPTION_ALLOW_HTTP": "true",
            "SUBSCRIPTION_ALLOWED_NETWORKS": json.dumps(LOOPBACK_NETWORKS),
            "EVENTS_ENABLED": "true",
            # uvicorn's options, as the image sets them: the parser that bounds headers.
            "UVICORN_HTTP": "h11",
            "UVICORN_H11_MAX_INCOMPLETE_EVENT_SIZE": "16384",
        }
        values.update({f"{s.upper()}_URL": self.origin(s) for s in SERVICES})
        if name in SERVICES:
            values["DATABASE_URL"] = self.database_urls[name]
            values["AUDIT_DATABASE_URL"] = self.database_urls[AUDIT]
        return values

    # ------------------------------------------------------------------ lifecycle

    def migrate(self, service: str) -> ServiceSettings:
        """`alembic upgrade head` on the service's database; returns its settings."""
        settings = ServiceSettings(
            service_name=service,
            database_url=self.database_urls[service],
            audit_database_url=self.database_urls[AUDIT],
        )
        _upgrade(service, settings.resolved_database_url)
        return settings

    def migrate_audit_log(self) -> None:
        """`alembic upgrade head` on the audit log the services share."""
        settings = ServiceSettings(audit_database_url=self.database_urls[AUDIT])
        _upgrade(AUDIT, settings.resolved_audit_database_url)

    def start(self, name: str) -> None:
        """Start process `name` (a service or the gateway) as uvicorn on its port."""
        if self.running(name):
            raise PlatformError(f"{name} is already running")
        arguments = [
            *(sys.executable, "-m", "uvicorn", "--factory", f"services.{name}.app:create_app"),
            *("--host", self.host, "--port", str(self.ports[name])),
            *("--no-access-log", "--log-level", self.log_level),
        ]
        log_path = self.log_path(name)
        # The child keeps its own copy of the descriptor; ours is closed at once.
        with ExitStack() as stack:
            output = None
            if log_path is not None:
                output = stack.enter_context(log_path.open("ab"))
                output.write(f"--- starting {name} on port {self.ports[name]}\n".encode())
                output.flush()
            self._processes[name] = subprocess.Popen(
                arguments,
                cwd=ROOT,
                env=self.environment(name),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if output is not None else None,
            )

    def start_all(self) -> None:
        """Start every service, then the gateway."""
        for name in PROCESSES:
            self.start(name)

    def stop(self, name: str, timeout: float = 10.0) -> int | None:
        """SIGTERM process `name`, wait, SIGKILL it if it lingers; returns its exit code."""
        process = self._processes.pop(name, None)
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        return _reap(process, timeout)

    def kill(self, name: str) -> int | None:
        """SIGKILL process `name` and wait for it: a crash, with no graceful shutdown."""
        process = self._processes.pop(name, None)
        if process is None:
            return None
        if process.poll() is None:
            process.kill()
        return process.wait()

    def restart(self, name: str) -> None:
        """Stop process `name` gracefully (if running) and start it again."""
        self.stop(name)
        self.start(name)

    def stop_all(self, timeout: float = 10.0) -> None:
        """SIGTERM every process at once, then wait for each (SIGKILL past `timeout`)."""
        processes, self._processes = self._processes, {}
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in processes.values():
            _reap(process, max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> LocalPlatform:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop_all()

    # ------------------------------------------------------------------ state

    def running(self, name: str) -> bool:
        """True while process `name` was started (and not stopped) and has not exited."""
        process = self._processes.get(name)
        return process is not None and process.poll() is None

    def exited(self) -> dict[str, int]:
        """The exit codes of the processes that ended on their own (not stopped or killed)."""
        codes = {name: process.poll() for name, process in self._processes.items()}
        return {name: code for name, code in codes.items() if code is not None}

    def wait_ready(self, names: Iterable[str] | None = None, timeout: float = 90.0) -> None:
        """Poll each process's /readyz until all answer 200; raise PlatformError (with the
        end of its log) if one exits first or time runs out."""
        waiting = set(self._processes if names is None else names)
        not_started = sorted(waiting - set(self._processes))
        if not_started:
            raise PlatformError(f"not started: {', '.join(not_started)}")
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False, timeout=2.0) as client:
            while True:
                for name in sorted(waiting):
                    self._raise_if_exited(name)
                    if self._ready(client, name):
                        waiting.discard(name)
                if not waiting:
                    return
                if time.monotonic() >= deadline:
                    raise PlatformError(self._describe(f"not ready after {timeout:g} s", waiting))
                time.sleep(0.2)

    def wait_subscribed(self, names: Iterable[str] | None = None, timeout: float = 60.0) -> None:
        """Poll the publishers until each subscription the running services keep there
        (`consumptions_of`) is active and its backlog handled -- events committed from then
        on reach them as events; raise
        PlatformError if a process exits first or time runs out. A topic its publisher
        does not offer (yet) is not waited for: the consumer keeps trying in the
        background (shared.events.bootstrap), and no event of it can be missed meanwhile."""
        consumers = [
            name
            for name in (self._processes if names is None else names)
            if name in SERVICES and self._events_enabled(name)
        ]
        waiting = [(name, c) for name in consumers for c in consumptions_of(name)]
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False, timeout=2.0) as client:
            while True:
                for name, consumption in list(waiting):
                    for process in (name, consumption.publisher):
                        if process in self._processes:
                            self._raise_if_exited(process)
                    in_place = self._subscribed(client, name, consumption) and self._caught_up(
                        name, consumption
                    )
                    if in_place or not self._offered(client, consumption):
                        waiting.remove((name, consumption))
                if not waiting:
                    return
                if time.monotonic() >= deadline:
                    pending = ", ".join(f"{n} to {c.publisher}'s {c.name}" for n, c in waiting)
                    problem = f"subscriptions not active after {timeout:g} s: {pending}"
                    raise PlatformError(self._describe(problem, {n for n, _ in waiting}))
                time.sleep(0.2)

    def _events_enabled(self, name: str) -> bool:
        """Whether process `name` runs its events (EVENTS_ENABLED; off, it subscribes to none)."""
        value = self.environment(name).get("EVENTS_ENABLED", "true").strip().lower()
        return value not in ("false", "0", "no", "off")

    def _subscribed(self, client: httpx.Client, name: str, consumption: Consumption) -> bool:
        """Whether `name`'s subscription for `consumption` is active at its publisher."""
        internal_url = self.environment(name)["INTERNAL_URL"].rstrip("/")
        publisher = consumption.publisher
        env = self.environment(publisher)
        # The services' own credential: accepted in every environment (the dev token only
        # in development).
        token = env.get("SERVICE_TOKEN") or env.get("DEV_AUTH_TOKEN", DEV_TOKEN_DEFAULT)
        try:
            response = client.get(
                f"{self.fhir_base(publisher)}/Subscription",
                params={
                    "criteria": consumption.topic,
                    "url": f"{internal_url}{EVENTS_PATH}/{consumption.name}",
                    "status": "active",
                    "_summary": "count",
                },
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and bool(response.json().get("total"))

    def _caught_up(self, name: str, consumption: Consumption) -> bool:
        """Whether `name` has handled `consumption`'s backlog since it last started (its
        log says so; True when there is no backlog or no info log to tell). Until then an order
        placed now could reach the consumer through the backlog, without its trace."""
        log_path = self.log_path(name)
        quiet = self.log_level not in ("debug", "info")  # the line is logged at info
        if consumption.backlog is None or log_path is None or quiet or not log_path.exists():
            return True
        since_start = log_path.read_text(errors="replace").rpartition("--- starting")[2]
        for line in since_start.splitlines():
            if '"backlog handled"' in line and f'"consumer": "{consumption.name}"' in line:
                return True
        return False

    def _offered(self, client: httpx.Client, consumption: Consumption) -> bool:
        """Whether the publisher's CapabilityStatement lists the consumption's topic (True
        when it cannot tell: then the subscription is waited for)."""
        try:
            response = client.get(f"{self.fhir_base(consumption.publisher)}/metadata")
        except httpx.HTTPError:
            return True
        if response.status_code != 200:
            return True
        return f'"{consumption.topic}"' in response.text

    def _ready(self, client: httpx.Client, name: str) -> bool:
        try:
            return client.get(f"{self.origin(name)}/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def _raise_if_exited(self, name: str) -> None:
        code = self._processes[name].poll()
        if code is not None:
            raise PlatformError(self._describe(f"{name} exited with code {code}", [name]))

    def _describe(self, problem: str, names: Iterable[str]) -> str:
        parts = [problem]
        for name in sorted(names):
            log_path = self.log_path(name)
            if log_path is None:
                parts.append(f"({name}'s output went to the terminal)")
            else:
                parts.append(f"--- end of {log_path}:\n{self.log_tail(name)}")
        return "\n".join(parts)

    # ------------------------------------------------------------------ logs

    def log_path(self, name: str) -> Path | None:
        """`<log_dir>/<name>.log`, or None when the processes write to this terminal."""
        return None if self.log_dir is None else self.log_dir / f"{name}.log"

    def log_tail(self, name: str, lines: int = 40) -> str:
        """The last `lines` lines process `name` wrote to its log ('' without one)."""
        log_path = self.log_path(name)
        if log_path is None or not log_path.exists():
            return ""
        with log_path.open("rb") as log:
            log.seek(max(0, log_path.stat().st_size - _LOG_TAIL_BYTES))
            text = log.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def _upgrade(database: str, url: str) -> None:
    config = Config(str(alembic_ini(database)))
    config.attributes["database_url"] = url
    command.upgrade(config, "head")


def _reap(process: subprocess.Popen[bytes], timeout: float) -> int:
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
