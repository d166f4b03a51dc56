"""The database of one service: engine and sessions, built in the app's lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

# Key in `AsyncSession.info` marking a transaction that wrote outbox events.
OUTBOX_WRITTEN = "outbox_written"
# Key in `AsyncSession.info` of a database no relay reads (the audit log): its writes
# record no outbox events.
NO_OUTBOX = "no_outbox"


def _sqlite_serial_transactions(engine: AsyncEngine) -> None:
    """Let SQLAlchemy, not the driver, begin transactions, so savepoints work, and take the
    write lock up front so that two writers never deadlock on a lock upgrade."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _sqlite_serial_transactions(engine)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        # Plan each execution for its values: a generic plan of a search, reused after five
        # runs, misjudges selective tenant filters and sorts (docs/benchmarks.md).
        connect_args={"server_settings": {"plan_cache_mode": "force_custom_plan"}},
    )


class Database:
    """Engine plus session factory; one session per request, committed at the edge."""

    def __init__(self, url: str, *, pool_size: int = 10, outbox: bool = True) -> None:
        self.engine = create_engine(url, pool_size=pool_size)
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, info={} if outbox else {NO_OUTBOX: True}
        )
        # Set when a transaction that wrote outbox events commits: wakes this process's
        # relay at once instead of at its next poll (other replicas still poll).
        self.outbox_committed = asyncio.Event()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed if the block succeeds, else rolled back."""
        async with self.sessions() as session:
            async with session.begin():
                yield session
            if session.info.pop(OUTBOX_WRITTEN, False):
                self.outbox_committed.set()

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1 FROM fhir_resource LIMIT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
