"""Each service's Alembic migrations (and the audit log's) build exactly the schema the code
declares."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from services.assignment.tables import assignment_metadata
from services.reporting.tables import reporting_metadata
from services.sla.tables import sla_metadata
from shared.events import tables as _outbox_tables  # noqa: F401
from shared.fhir.storage.tables import metadata
from shared.smart import replay as _replay_table  # noqa: F401

# Each service: the tables it declares beside the shared store, and its head revision.
SCHEMAS: dict[str, tuple[list[MetaData], str]] = {
    "intake": ([metadata], "0006"),
    "assignment": ([metadata, assignment_metadata], "assign_0001"),
    "reporting": ([metadata, reporting_metadata], "report_0001"),
    "sla": ([metadata, sla_metadata], "sla_0005"),
    "audit": ([metadata], "audit_0001"),  # the shared audit log: the store, append-only
}


def _differences(connection: Connection, declared: list[MetaData]) -> list[Any]:
    combined = MetaData()
    for part in declared:
        for table in part.tables.values():
            table.to_metadata(combined)
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, combined))


@pytest.mark.parametrize("service", sorted(SCHEMAS))
async def test_migrated_schema_matches_the_declared_tables(
    service: str, database_url: Callable[[str], str]
) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:  # migrations run their own event loop
        url = pool.submit(database_url, service).result()
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            declared, head = SCHEMAS[service]
            differences = await connection.run_sync(_differences, declared)
            version = (
                await connection.exec_driver_sql("SELECT version_num FROM alembic_version")
            ).scalar_one()
    finally:
        await engine.dispose()
    assert differences == []
    assert version == head
