"""Each service's Alembic migrations build exactly the schema the code declares."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.events import tables as _outbox_tables  # noqa: F401
from shared.fhir.storage.tables import metadata

SERVICES = ("intake", "assignment", "reporting", "sla")


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


@pytest.mark.parametrize("service", SERVICES)
async def test_migrated_schema_matches_the_declared_tables(
    service: str, database_url: Callable[[str], str]
) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:  # migrations run their own event loop
        url = pool.submit(database_url, service).result()
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
            version = (
                await connection.exec_driver_sql("SELECT version_num FROM alembic_version")
            ).scalar_one()
    finally:
        await engine.dispose()
    assert differences == []
    assert version == "0002"
