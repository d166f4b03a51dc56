"""Revision 0002 of every service: the transactional outbox (frozen)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.fhir.storage.tables import BigId, UTCDateTime


def upgrade() -> None:
    op.create_table(
        "outbox_event",
        sa.Column("seq", BigId, autoincrement=True),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("interaction", sa.String(8), nullable=False),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("traceparent", sa.String(55), nullable=True),
        sa.Column("dispatched_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_outbox_event"),
    )
    op.create_index(
        "ix_outbox_event_pending",
        "outbox_event",
        ["seq"],
        postgresql_where=sa.text("dispatched_at IS NULL"),
        sqlite_where=sa.text("dispatched_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("outbox_event")
