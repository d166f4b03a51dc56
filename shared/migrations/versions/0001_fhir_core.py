"""The FHIR store: versioned resources and their search indexes (frozen).

Shared by every service: each service's alembic.ini lists this folder in its
version_locations, and each service's own revisions follow on from the last one here.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.sql.schema import SchemaItem

from shared.fhir.storage.tables import BigId, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TABLES = (
    "unique_identifier",
    "search_reference",
    "search_date",
    "search_string",
    "search_token",
    "fhir_resource_version",
    "fhir_resource",
)


def _index(table: str, columns: list[str], **kwargs: Any) -> None:
    """An index named as `shared.fhir.storage.tables.metadata`'s convention names it."""
    op.create_index(f"ix_{table}_{'_'.join(columns)}", table, columns, **kwargs)


def _resource_pk(table: str) -> list[SchemaItem]:
    return [
        sa.Column("resource_pk", BigId, nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_pk"],
            ["fhir_resource.pk"],
            ondelete="CASCADE",
            name=f"fk_{table}_resource_pk_fhir_resource",
        ),
    ]


def _scoped(table: str, *columns: sa.Column[Any]) -> list[SchemaItem]:
    return [
        *_resource_pk(table),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("param", sa.String(64), nullable=False),
        *columns,
    ]


def upgrade() -> None:
    op.create_table(
        "fhir_resource",
        sa.Column("pk", BigId, autoincrement=True),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("last_updated", UTCDateTime, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("pk", name="pk_fhir_resource"),
        sa.UniqueConstraint("resource_type", "id", name="uq_fhir_resource_resource_type_id"),
    )
    _index("fhir_resource", ["resource_type", "last_updated"])
    op.create_table(
        "fhir_resource_version",
        sa.Column("seq", BigId, autoincrement=True),
        *_resource_pk("fhir_resource_version"),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("last_updated", UTCDateTime, nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("content", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_fhir_resource_version"),
        sa.UniqueConstraint(
            "resource_pk", "version_id", name="uq_fhir_resource_version_resource_pk_version_id"
        ),
    )
    _index("fhir_resource_version", ["resource_type", "seq"])
    op.create_table(
        "search_token",
        *_scoped(
            "search_token",
            sa.Column("system", sa.String(255), nullable=True),
            sa.Column("code", sa.String(255), nullable=False),
        ),
    )
    _index("search_token", ["resource_type", "param", "code", "system"])
    op.create_table(
        "search_string",
        *_scoped(
            "search_string",
            sa.Column("normalized", sa.String(255), nullable=False),
            sa.Column("exact", sa.String(1024), nullable=False),
        ),
    )
    _index(
        "search_string",
        ["resource_type", "param", "normalized"],
        postgresql_ops={"normalized": "text_pattern_ops"},
    )
    op.create_table(
        "search_date",
        *_scoped(
            "search_date",
            sa.Column("low", UTCDateTime, nullable=False),
            sa.Column("high", UTCDateTime, nullable=False),
        ),
    )
    _index("search_date", ["resource_type", "param", "low"])
    _index("search_date", ["resource_type", "param", "high"])
    op.create_table(
        "search_reference",
        *_scoped(
            "search_reference",
            sa.Column("target_type", sa.String(64), nullable=True),
            sa.Column("target_id", sa.String(255), nullable=False),
        ),
    )
    _index("search_reference", ["resource_type", "param", "target_id", "target_type"])
    _index("search_reference", ["target_type", "target_id"])
    for table in ("search_token", "search_string", "search_date", "search_reference"):
        _index(table, ["resource_pk"])
    op.create_table(
        "unique_identifier",
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("system", sa.String(255), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("resource_type", "system", "value", name="pk_unique_identifier"),
    )
    _index("unique_identifier", ["resource_type", "resource_id"])


def downgrade() -> None:
    for table in _TABLES:
        op.drop_table(table)
