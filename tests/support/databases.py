"""Test databases built by each service's Alembic migrations, reset between tests."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from scripts.local_platform import alembic_ini
from services.assignment.tables import assignment_metadata
from services.reporting.tables import reporting_metadata
from services.sla.tables import sla_metadata
from shared.fhir.storage.tables import metadata
from shared.smart import replay as _replay_table  # noqa: F401  (registers its table)


def migrate(service: str, url: str) -> None:
    """Run `alembic upgrade head` for `service` (or the audit log) against `url`."""
    config = Config(str(alembic_ini(service)))
    config.attributes["database_url"] = url
    command.upgrade(config, "head")


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _recreate(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


def postgres_database(admin_url: str, service: str, suffix: str) -> str:
    """A freshly migrated PostgreSQL database for `service`; returns its URL."""
    name = f"test_{service}_{suffix}"
    asyncio.run(_recreate(admin_url, name))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    migrate(service, url)
    return url


def sqlite_template(directory: Path, service: str) -> Path:
    """A migrated SQLite file to copy for each test."""
    path = directory / f"{service}-template.db"
    migrate(service, f"sqlite+aiosqlite:///{path}")
    return path


def sqlite_copy(template: Path, directory: Path) -> str:
    target = directory / "test.db"
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"


async def truncate_all(engine: AsyncEngine) -> None:
    """Empty every table of the FHIR store and of the services' own (PostgreSQL), restarting
    sequences. Not the audit log: it refuses TRUNCATE (tests read back only their own
    AuditEvents)."""
    declared = [
        t.name
        for part in (metadata, sla_metadata, assignment_metadata, reporting_metadata)
        for t in part.sorted_tables
    ]
    for attempt in range(3):
        try:
            async with engine.begin() as connection:
                present = set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
                names = ", ".join(name for name in declared if name in present)
                await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            return
        except DBAPIError as error:
            # The app's background work (relay, notifier, sweeper) has started and may hold
            # a table TRUNCATE needs: PostgreSQL breaks the deadlock; empty the tables again.
            if "deadlock" not in str(error) or attempt == 2:
                raise
