"""sla: each open order's escalation ladder (breach prediction).

Revision ID: sla_0004
Revises: sla_0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.fhir.storage.tables import UTCDateTime

revision = "sla_0004"
down_revision = "sla_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_ladder",
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("alerted_at", UTCDateTime, nullable=True),
        sa.Column("reroute_asked_at", UTCDateTime, nullable=True),
        sa.Column("rerouted_at", UTCDateTime, nullable=True),
        sa.Column("reroute_outcome", sa.String(16), nullable=True),
        sa.Column("escalated_at", UTCDateTime, nullable=True),
        sa.Column("breached_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("order_id", name="pk_order_ladder"),
    )


def downgrade() -> None:
    op.drop_table("order_ladder")
