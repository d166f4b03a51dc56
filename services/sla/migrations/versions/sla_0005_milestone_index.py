"""sla: an index on order milestones by milestone and time, for the clocks that stopped in
a range ($compliance, /metrics); without it a one-day report scans every milestone.

Revision ID: sla_0005
Revises: sla_0004
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "sla_0005"
down_revision = "sla_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_order_milestone_milestone_occurred_at",
        "order_milestone",
        ["milestone", "occurred_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_order_milestone_milestone_occurred_at", table_name="order_milestone")
