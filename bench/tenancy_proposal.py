"""`--proposal` and `--custom-plans`: the access filter in another shape, with the index
that shape can use, to measure a change to shared/fhir/access.py before making it.

As written, `visible()` asks `label IN (:keys) OR label IN (SELECT label FROM access_grant
...)` of each candidate row. A hashed subplan inside an OR is no index condition, so
PostgreSQL can never look the caller's labels up in `ix_resource_access_label`: it walks
the candidates (or scans `resource_access` whole) and tests every label, and it guesses
that half of all labels match. The proposal keeps that probe where one resource is looked
up (read, vread, the includes' ids, reference checks) and, where many rows are filtered
(search pages, counts, history, revincludes), makes the filter the set of the caller's
resources instead -- the rows carrying one of its keys, plus those carrying a label granted
to it -- which PostgreSQL builds from the label index and joins by primary key; an index on
(label, resource_pk) answers both halves from the index alone. The benchmark's own database
gets the index (no migration); the app in this process gets the filter (the repository's
`visible` replaced, and its many-row methods marked).

`--custom-plans` sets `plan_cache_mode = force_custom_plan` on the benchmark's database, so
that the app's prepared statements are planned for their values every time rather than
switching to a generic plan after five executions.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import asyncpg
from sqlalchemy import ColumnElement, select, union_all

from shared.fhir import access
from shared.fhir.storage import repository
from shared.fhir.storage.repository import FhirRepository
from shared.fhir.storage.tables import access_grant, resource_access

PROPOSED_INDEXES = ("ix_resource_access_label_resource_pk",)
# The repository's methods whose statements filter many rows.
MANY_ROWS = ("search_page", "count", "history", "history_total", "revincluded")
_many_rows: ContextVar[bool] = ContextVar("many_rows", default=False)


def visible_set(pk_column: ColumnElement[Any], keys: frozenset[str]) -> ColumnElement[bool]:
    """True for the rows whose resource carries a label in `keys`, or granted to them."""
    held = sorted(keys)
    own = select(resource_access.c.resource_pk).where(resource_access.c.label.in_(held))
    access = resource_access.alias("granted_access")
    granted = (
        select(access.c.resource_pk)
        .join(access_grant, access_grant.c.label == access.c.label)
        .where(access_grant.c.holder.in_(held))
    )
    return pk_column.in_(union_all(own, granted))


def proposed_visible(pk_column: ColumnElement[Any], keys: frozenset[str]) -> ColumnElement[bool]:
    """The set for many rows; the probe of one row's labels, as now, otherwise."""
    return (visible_set if _many_rows.get() else access.visible)(pk_column, keys)


def _filtering_many(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def run(*args: Any, **kwargs: Any) -> Any:
        token = _many_rows.set(True)
        try:
            return await method(*args, **kwargs)
        finally:
            _many_rows.reset(token)

    return run


async def apply(dsn: str) -> None:
    """Create the proposed index in the benchmark's database and use the proposed filter."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            f"CREATE INDEX IF NOT EXISTS {PROPOSED_INDEXES[0]} ON resource_access (label, resource_pk)"
        )
        await connection.execute("VACUUM ANALYZE resource_access")
    finally:
        await connection.close()
    repository.visible = proposed_visible
    for name in MANY_ROWS:
        setattr(FhirRepository, name, _filtering_many(getattr(FhirRepository, name)))


async def force_custom_plans(dsn: str) -> None:
    """Plan every execution of the app's statements for its values (new sessions)."""
    connection = await asyncpg.connect(dsn)
    try:
        name = await connection.fetchval("SELECT current_database()")
        await connection.execute(f'ALTER DATABASE "{name}" SET plan_cache_mode = force_custom_plan')
    finally:
        await connection.close()
