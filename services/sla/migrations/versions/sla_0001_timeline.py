"""sla: order clocks and milestone timelines (frozen).

Revision ID: sla_0001
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.fhir.storage.tables import UTCDateTime

revision = "sla_0001"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_clock",
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("priority", sa.String(16), nullable=True),
        sa.Column("deadline", UTCDateTime, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("order_id", name="pk_order_clock"),
    )
    op.create_table(
        "order_milestone",
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("milestone", sa.String(32), nullable=False),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("source", sa.String(160), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("order_id", "milestone", name="pk_order_milestone"),
    )


def downgrade() -> None:
    op.drop_table("order_milestone")
    op.drop_table("order_clock")
