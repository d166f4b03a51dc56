"""Assertion ids already used: a client's signed assertion is good for one token only.

The ids are kept in the database of the service hosting the token endpoint, so a replay is
refused whichever replica it reaches; the primary key decides between two replicas that
see the same assertion at once. A row is needed only until its assertion expires: expired
rows are removed as new ones arrive.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, String, Table, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shared.fhir.storage.tables import UTCDateTime, metadata

MAX_JTI_LENGTH = 255

auth_used_assertion = Table(
    "auth_used_assertion",
    metadata,
    Column("client_id", String(128), primary_key=True),
    Column("jti", String(MAX_JTI_LENGTH), primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
    Index(None, "expires_at"),
)


async def claim_assertion(
    session: AsyncSession, *, client_id: str, jti: str, expires_at: datetime, now: datetime
) -> bool:
    """Record that `client_id` used the assertion `jti`; False when it was used before."""
    table = auth_used_assertion
    await session.execute(delete(table).where(table.c.expires_at < now))
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(table)
        .values(client_id=client_id, jti=jti, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=[table.c.client_id, table.c.jti])
    )
    result = await session.execute(statement)
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
