"""The `platform` fixture: every service and the gateway as real uvicorn processes on free
loopback ports, each service on its own fresh PostgreSQL database.

Tests here are marked `e2e`. They take no `backend` parameter: the platform runs on
PostgreSQL (which under CI=true must be there, see `postgres_admin_url`), except in a module
that overrides `platform_databases` (test_loop_on_sqlite.py: the `make run` default).

One platform per test module: each module starts from empty databases, and a module that
kills or reconfigures processes leaves nothing behind for the next. A module passes extra
environment to the processes by overriding `platform_env` / `platform_process_env`:

    @pytest.fixture(scope="module")
    def platform_env() -> dict[str, str]:
        return {"SUBSCRIPTION_RETRY_HOURS": "0.01"}
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from scripts.local_platform import DATABASES, GATEWAY, SERVICES, LocalPlatform, free_ports
from tests.e2e.platform import E2EPlatform
from tests.fixtures import DEV_TOKEN
from tests.support.databases import postgres_database

READY_TIMEOUT_SECONDS = 90.0
_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this directory `e2e` (selectable with -m)."""
    for item in items:
        if item.path.is_relative_to(_HERE):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def platform_env() -> dict[str, str]:
    """Extra environment for every process (override in a test module)."""
    return {}


@pytest.fixture(scope="module")
def platform_process_env() -> dict[str, dict[str, str]]:
    """Extra environment for one process, by name (override in a test module)."""
    return {}


def _fresh_databases(admin_url: str) -> dict[str, str]:
    suffix = f"e2e_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    # Alembic runs its own event loop: keep it off any loop of the test's (and serial,
    # its context is process-global).
    with ThreadPoolExecutor(max_workers=1) as pool:
        futures = {s: pool.submit(postgres_database, admin_url, s, suffix) for s in DATABASES}
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="module")
def platform_databases(request: pytest.FixtureRequest) -> dict[str, str]:
    """A fresh, migrated PostgreSQL database per service, and the audit log they share
    (override in a test module)."""
    return _fresh_databases(request.getfixturevalue("postgres_admin_url"))


@pytest.fixture(scope="module")
def platform(
    platform_databases: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    platform_env: dict[str, str],
    platform_process_env: dict[str, dict[str, str]],
) -> Iterator[E2EPlatform]:
    """The whole platform, ready, on fresh databases; stopped after the module."""
    database_urls = platform_databases
    local = LocalPlatform(
        database_urls=database_urls,
        ports=free_ports(),
        env={"ENVIRONMENT": "development", "DEV_AUTH_TOKEN": DEV_TOKEN, **platform_env},
        process_env=platform_process_env,
        log_dir=tmp_path_factory.mktemp("platform-logs"),
        log_level="info",
    )
    with local:
        local.start_all()
        local.wait_ready(timeout=READY_TIMEOUT_SECONDS)
        # Orders placed from here on reach every consumer as events (not via the backlog).
        local.wait_subscribed(timeout=READY_TIMEOUT_SECONDS)
        yield E2EPlatform(
            local=local,
            fhir_base=local.fhir_base(GATEWAY),
            service_bases={service: local.fhir_base(service) for service in SERVICES},
            database_urls=database_urls,
        )
