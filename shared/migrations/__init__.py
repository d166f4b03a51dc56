"""Alembic support shared by every service: the environment runner and the core schema."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.events import tables as _outbox_tables  # noqa: F401  (registers the outbox)
from shared.fhir.storage.tables import metadata
from shared.smart import replay as _replay_table  # noqa: F401  (registers auth_used_assertion)
from shared.settings import async_database_url, default_database_url


def database_url(
    service_name: str, variable: str = "DATABASE_URL", default: str | None = None
) -> str:
    """The URL to migrate: one passed by the caller (tests), else the `variable` in the
    environment, else `default` (the service's own SQLite file). Only the URL is read: a
    migration needs none of the service's secrets, so it runs with the database
    credentials alone."""
    url = context.config.attributes.get("database_url") or os.environ.get(variable, "")
    return async_database_url(url) or default or default_database_url(service_name)


def _run(connection: Connection, target: list[MetaData]) -> None:
    context.configure(
        connection=connection,
        target_metadata=target,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str, target: list[MetaData]) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run, target)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations(
    service_name: str,
    *own: MetaData,
    variable: str = "DATABASE_URL",
    default_url: str | None = None,
) -> None:
    """The body of each service's `migrations/env.py`: the shared schema plus the tables of
    the service's `own` metadata, on the database named by `variable`."""
    url = database_url(service_name, variable, default_url)
    target = [metadata, *own]
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    if url.startswith("sqlite"):
        from pathlib import Path

        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(_run_online(url, target))
