"""The statements of the storage hot paths, built once with bound parameters: building a
statement and computing its cache key costs about as much as running it (docs/benchmarks.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    TextClause,
    bindparam,
    delete,
    false,
    insert,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shared.fhir.search.index import IndexRows
from shared.fhir.storage.tables import (
    INDEX_TABLES,
    STORED_COLUMNS,
    resource_versions,
    resources,
    search_date,
    search_reference,
    search_string,
    search_token,
    unique_identifier,
)

# The statements of the hot paths, built once with bound parameters. Executing a prebuilt
# statement skips constructing it and computing its SQL-cache key on every request (about
# 0.1 ms each); the SQL sent is the same as building it inline with the values.
_u = unique_identifier.c
_v = resource_versions.c
CURRENT = select(*STORED_COLUMNS).where(
    resources.c.resource_type == bindparam("resource_type"),
    resources.c.id == bindparam("resource_id"),
)
CURRENT_FOR_UPDATE = CURRENT.with_for_update()
VERSION = select(
    _v.resource_pk, _v.resource_type, _v.id, _v.version_id, _v.last_updated, _v.deleted, _v.content
).where(
    _v.resource_type == bindparam("resource_type"),
    _v.id == bindparam("resource_id"),
    _v.version_id == bindparam("version_id"),
)
EXISTING = select(resources.c.resource_type, resources.c.id).where(
    tuple_(resources.c.resource_type, resources.c.id).in_(bindparam("keys", expanding=True)),
    resources.c.deleted == false(),
)
BY_IDS = select(*STORED_COLUMNS).where(
    resources.c.resource_type == bindparam("resource_type"),
    resources.c.id.in_(bindparam("ids", expanding=True)),
    resources.c.deleted == false(),
)
INSERT_RESOURCE = insert(resources).returning(resources.c.pk)
INSERT_VERSION = insert(resource_versions)
INSERT_INDEX = {table: insert(table) for table in INDEX_TABLES}
IDENTIFIER_OWNER = (
    select(_u.resource_id)
    .where(
        _u.resource_type == bindparam("resource_type"),
        tuple_(_u.system, _u.value).in_(bindparam("keys", expanding=True)),
    )
    .limit(1)
)
CLAIM = {
    "postgresql": pg_insert(unique_identifier)
    .on_conflict_do_nothing()
    .returning(unique_identifier.c.resource_id),
    "sqlite": sqlite_insert(unique_identifier)
    .on_conflict_do_nothing()
    .returning(unique_identifier.c.resource_id),
}
RELEASE = delete(unique_identifier).where(
    _u.resource_type == bindparam("resource_type"), _u.resource_id == bindparam("resource_id")
)


def index_rows_by_table(rows: IndexRows) -> tuple[tuple[Any, list[dict[str, Any]]], ...]:
    return (
        (search_token, rows.token),
        (search_string, rows.string),
        (search_date, rows.date),
        (search_reference, rows.reference),
    )


def create_statement_postgresql() -> TextClause:
    """One statement that stores a new resource: its row, its first history row and all of
    its index rows (one round trip instead of one per table), through data-modifying CTEs.

    Parameters: resource_type, id, last_updated, content, and for each index table one
    array per column, named `<table>__<column>` (empty arrays insert nothing).
    """
    dialect = postgresql.dialect()

    def cast(name: str, column: Any, array: bool = False) -> str:
        return f"CAST(:{name} AS {column.type.compile(dialect=dialect)}{'[]' if array else ''})"

    r = resources.c
    values = (
        f"{cast('resource_type', r.resource_type)}, {cast('id', r.id)}, 1, "
        f"{cast('last_updated', r.last_updated)}, false, {cast('content', r.content)}"
    )
    parameters = [
        bindparam(name, type_=getattr(r, column).type)
        for name, column in (
            ("resource_type", "resource_type"),
            ("id", "id"),
            ("last_updated", "last_updated"),
            ("content", "content"),
        )
    ]
    parts = [
        "new_resource AS (INSERT INTO fhir_resource"
        " (resource_type, id, version_id, last_updated, deleted, content)"
        f" VALUES ({values}) RETURNING pk)",
        "new_version AS (INSERT INTO fhir_resource_version"
        " (resource_pk, resource_type, id, version_id, last_updated, deleted, content, method)"
        f" SELECT pk, {values}, 'POST' FROM new_resource)",
    ]
    for table in INDEX_TABLES:
        columns = [c for c in table.columns if c.name != "resource_pk"]
        names = ", ".join(c.name for c in columns)
        arrays = ", ".join(cast(f"{table.name}__{c.name}", c, array=True) for c in columns)
        parameters += [bindparam(f"{table.name}__{c.name}", type_=ARRAY(c.type)) for c in columns]
        selected = ", ".join(f"new_rows.{c.name}" for c in columns)
        parts.append(
            f"{table.name}_rows AS (INSERT INTO {table.name} (resource_pk, {names})"
            f" SELECT new_resource.pk, {selected} FROM new_resource,"
            f" unnest({arrays}) AS new_rows({names}))"
        )
    sql = "WITH " + ",\n".join(parts) + "\nSELECT pk FROM new_resource"
    return text(sql).bindparams(*parameters)


CREATE_POSTGRESQL = create_statement_postgresql()
