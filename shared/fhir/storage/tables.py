"""The tables every service's FHIR store uses (each service has its own database).

`fhir_resource` holds the current version of each resource, `fhir_resource_version` every
version ever written (history), and the `search_*` tables the values extracted for search,
so that search runs on indexed columns and never scans JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

# Constraint and index names every schema of the platform uses (a service's own tables too).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING_CONVENTION)

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and returned timezone-aware on every database.

    SQLite keeps no zone, so values are normalised to naive UTC there; comparisons of the
    stored text stay chronological.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _pk_ref() -> Column[int]:
    return Column(
        "resource_pk",
        BigId,
        ForeignKey("fhir_resource.pk", ondelete="CASCADE"),
        nullable=False,
    )


resources = Table(
    "fhir_resource",
    metadata,
    Column("pk", BigId, primary_key=True, autoincrement=True),
    Column("resource_type", String(64), nullable=False),
    Column("id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", UTCDateTime, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    # The current version's JSON exactly as served (id and meta included).
    Column("content", Text, nullable=False),
    UniqueConstraint("resource_type", "id"),
    Index(None, "resource_type", "last_updated"),
)

resource_versions = Table(
    "fhir_resource_version",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    _pk_ref(),
    Column("resource_type", String(64), nullable=False),
    Column("id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", UTCDateTime, nullable=False),
    Column("method", String(8), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("content", Text, nullable=True),  # null for a delete
    UniqueConstraint("resource_pk", "version_id"),
    Index(None, "resource_type", "seq"),
)

search_token = Table(
    "search_token",
    metadata,
    _pk_ref(),
    Column("resource_type", String(64), nullable=False),
    Column("param", String(64), nullable=False),
    Column("system", String(255), nullable=True),
    Column("code", String(255), nullable=False),
    Index(None, "resource_type", "param", "code", "system"),
    Index(None, "resource_pk"),
)

search_string = Table(
    "search_string",
    metadata,
    _pk_ref(),
    Column("resource_type", String(64), nullable=False),
    Column("param", String(64), nullable=False),
    # Lower-cased, accents removed: the default (starts-with) and :contains matches.
    Column("normalized", String(255), nullable=False),
    Column("exact", String(1024), nullable=False),
    Index(
        None,
        "resource_type",
        "param",
        "normalized",
        postgresql_ops={"normalized": "text_pattern_ops"},
    ),
    Index(None, "resource_pk"),
)

search_date = Table(
    "search_date",
    metadata,
    _pk_ref(),
    Column("resource_type", String(64), nullable=False),
    Column("param", String(64), nullable=False),
    # The value as a half-open range [low, high) at the precision it was written with.
    Column("low", UTCDateTime, nullable=False),
    Column("high", UTCDateTime, nullable=False),
    Index(None, "resource_type", "param", "low"),
    Index(None, "resource_type", "param", "high"),
    Index(None, "resource_pk"),
)

search_reference = Table(
    "search_reference",
    metadata,
    _pk_ref(),
    Column("resource_type", String(64), nullable=False),
    Column("param", String(64), nullable=False),
    Column("target_type", String(64), nullable=True),
    Column("target_id", String(255), nullable=False),
    Index(None, "resource_type", "param", "target_id", "target_type"),
    Index(None, "target_type", "target_id"),
    Index(None, "resource_pk"),
)

# Business identifiers a resource type keeps unique (e.g. an order's accession number).
# A create claims its identifiers here before it writes, so the database -- not a
# read-then-write race -- guarantees that a re-sent order creates nothing new.
unique_identifier = Table(
    "unique_identifier",
    metadata,
    Column("resource_type", String(64), primary_key=True),
    Column("system", String(255), primary_key=True),
    Column("value", String(255), primary_key=True),
    Column("resource_id", String(64), nullable=False),
    Index(None, "resource_type", "resource_id"),
)

# Who may see a resource: the access labels its service gave its current version (e.g. the
# ordering facility "Organization/<id>", the reading radiologist "Practitioner/<id>", the
# order "order/<id>" it belongs to). A tenant-confined caller sees a resource when it holds
# one of its labels, directly or through a grant (shared/fhir/access.py).
resource_access = Table(
    "resource_access",
    metadata,
    _pk_ref(),
    Column("label", String(255), nullable=False),
    UniqueConstraint("resource_pk", "label"),
    # A caller's resources, found from its labels without touching the table's rows.
    Index(None, "label", "resource_pk"),
)

# Labels handed to other holders for as long as a source says so: e.g. the label of an order
# granted to the radiologist or vendor its read Task is assigned to (source "Task/<id>").
access_grant = Table(
    "access_grant",
    metadata,
    Column("holder", String(255), primary_key=True),
    Column("label", String(255), primary_key=True),
    Column("source", String(255), primary_key=True),
    Index(None, "source"),
)

# The columns a `StoredResource` is read from, in its field order.
STORED_COLUMNS = (
    resources.c.pk,
    resources.c.resource_type,
    resources.c.id,
    resources.c.version_id,
    resources.c.last_updated,
    resources.c.deleted,
    resources.c.content,
)

INDEX_TABLES = (search_token, search_string, search_date, search_reference)
