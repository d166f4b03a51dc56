"""Fixtures shared by the whole suite (loaded by the root conftest.py): databases on SQLite
and PostgreSQL, running apps.

Every test that asks for `backend` runs twice, once per database. Databases are built by
the services' Alembic migrations once per session; each test starts from empty tables
(a fresh copy of the migrated SQLite file; TRUNCATE on PostgreSQL).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from scripts.local_platform import AUDIT
from shared.settings import ServiceSettings
from tests.support.databases import (
    postgres_database,
    sqlite_copy,
    sqlite_template,
    truncate_all,
)
from tests.support.postgres import PostgresUnavailable, postgres_server
from tests.support.tokens import TEST_SIGNING_PEM, TEST_VERIFY_JWKS

DEV_TOKEN = "dev-token"
AUTH = {"Authorization": f"Bearer {DEV_TOKEN}"}
BASE = "http://testserver/fhir"
EVENTS_SECRET = "test-events-signing-secret-0123456789abcdef"


def _app_factory(service: str) -> Callable[[ServiceSettings], FastAPI]:
    module = __import__(f"services.{service}.app", fromlist=["create_app"])
    factory: Callable[[ServiceSettings], FastAPI] = module.create_app
    return factory


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    server = postgres_server()
    try:
        url = server.__enter__()
    except PostgresUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true: {exc}")
        pytest.skip(f"no PostgreSQL: {exc}")
    try:
        yield url
    finally:
        server.__exit__(None, None, None)


def _blocking(function: Callable[..., Any], *args: Any) -> Any:
    """Run set-up that uses asyncio.run (Alembic, database creation) off the test's loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


class _Databases:
    """Migrated databases per service, made on first use in this session."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.templates: dict[str, Path] = {}
        self.postgres: dict[str, str] = {}

    def sqlite(self, service: str, directory: Path) -> str:
        if service not in self.templates:
            self.templates[service] = _blocking(sqlite_template, self.tmp, service)
        directory.mkdir(parents=True, exist_ok=True)
        return sqlite_copy(self.templates[service], directory)

    def postgresql(self, service: str, admin_url: str) -> str:
        if service not in self.postgres:
            suffix = os.environ.get("PYTEST_XDIST_WORKER", "main")
            self.postgres[service] = _blocking(postgres_database, admin_url, service, suffix)
        return self.postgres[service]


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> _Databases:
    return _Databases(tmp_path_factory.mktemp("templates"))


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(
    backend: str, databases: _Databases, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[[str], str]:
    """The URL of an empty, migrated database for a service, on this test's backend."""

    made: dict[str, str] = {}  # one per service per test: apps of a test share the audit log

    def url_for(service: str) -> str:
        if service not in made:
            if backend == "sqlite":
                made[service] = databases.sqlite(service, tmp_path / service)
            else:
                admin_url = request.getfixturevalue("postgres_admin_url")
                made[service] = databases.postgresql(service, admin_url)
        return made[service]

    return url_for


@pytest.fixture
def make_settings(database_url: Callable[[str], str]) -> Callable[..., ServiceSettings]:
    def settings_for(service: str, **overrides: Any) -> ServiceSettings:
        values: dict[str, Any] = {
            "service_name": service,
            "environment": "development",
            "database_url": database_url(service),
            # The audit log: a fresh copy per test on SQLite; one per session on PostgreSQL
            # (append-only: it cannot be emptied between tests).
            "audit_database_url": database_url(AUDIT),
            "dev_auth_token": DEV_TOKEN,
            # Secrets set explicitly, so that settings for other environments are valid too.
            "service_token": DEV_TOKEN,
            "events_signing_secret": EVENTS_SECRET,
            # The suite's platform key pair (tests/support/tokens.py issues tokens with it).
            "auth_signing_key": TEST_SIGNING_PEM,
            "auth_verify_jwks": TEST_VERIFY_JWKS,
            # The relay and notifier run only in the tests about them: elsewhere they
            # would change outbox and subscription state under the test's feet.
            "events_enabled": False,
        }
        return ServiceSettings(**(values | overrides))

    return settings_for


async def start_app(service: str, settings: ServiceSettings) -> tuple[FastAPI, LifespanManager]:
    app = _app_factory(service)(settings)
    manager = LifespanManager(app)
    await manager.__aenter__()
    if settings.resolved_database_url.startswith("postgresql"):
        await truncate_all(app.state.database.engine)
    return app, manager


@asynccontextmanager
async def running_app(service: str, settings: ServiceSettings) -> AsyncIterator[FastAPI]:
    """`service`'s app started on `settings` (lifespan entered) until the block ends."""
    app, manager = await start_app(service, settings)
    try:
        yield app
    finally:
        await manager.__aexit__(None, None, None)


@pytest.fixture
async def intake_app(make_settings: Callable[..., ServiceSettings]) -> AsyncIterator[FastAPI]:
    async with running_app("intake", make_settings("intake")) as app:
        yield app


def client_for(app: FastAPI, *, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=BASE,
        headers=AUTH if headers is None else headers,
    )


@pytest.fixture
async def client(intake_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated FHIR client of the intake service."""
    async with client_for(intake_app) as http:
        yield http
