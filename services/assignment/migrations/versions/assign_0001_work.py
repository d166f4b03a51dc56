"""assignment: the open reads the engine counts (read_work) and the decision clock.

Revision ID: assign_0001
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.fhir.storage.tables import UTCDateTime

revision = "assign_0001"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    clock = op.create_table(
        "assignment_clock",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("roster_generation", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_assignment_clock"),
    )
    op.bulk_insert(clock, [{"id": 1, "generation": 0, "roster_generation": 0}])
    op.create_table(
        "read_work",
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reader", sa.String(64), nullable=True),
        sa.Column("vendor", sa.String(64), nullable=True),
        sa.Column("facility", sa.String(64), nullable=True),
        sa.Column("state", sa.String(8), nullable=True),
        sa.Column("code", sa.String(32), nullable=True),
        sa.Column("modality", sa.String(16), nullable=True),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("stroke", sa.Boolean, nullable=False),
        sa.Column("patient", sa.String(64), nullable=True),
        sa.Column("rvu", sa.Float, nullable=False),
        sa.Column("read_minutes", sa.Float, nullable=False),
        sa.Column("ordered_at", UTCDateTime, nullable=False),
        sa.Column("deadline", UTCDateTime, nullable=False),
        sa.Column("assigned_at", UTCDateTime, nullable=True),
        sa.Column("started_at", UTCDateTime, nullable=True),
        sa.Column("closed_at", UTCDateTime, nullable=True),
        sa.Column("excluded", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("changed", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("order_id", name="pk_read_work"),
    )
    op.create_index("ix_read_work_changed", "read_work", ["changed"])


def downgrade() -> None:
    op.drop_index("ix_read_work_changed", table_name="read_work")
    op.drop_table("read_work")
    op.drop_table("assignment_clock")
