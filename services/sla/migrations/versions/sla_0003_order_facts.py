"""sla: what each order's clock runs under (facility, modality, stroke, read Task, owner,
contract, radiologist), the read Task's status versions (holds) and contract terms.

Revision ID: sla_0003
Revises: sla_0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.fhir.storage.tables import UTCDateTime

revision = "sla_0003"
down_revision = "sla_0002"
branch_labels = None
depends_on = None

_ORDER_COLUMNS = (
    ("facility", sa.String(80)),
    ("modality", sa.String(16)),
    ("stroke", sa.Boolean()),
    ("task", sa.String(80)),
    ("owner", sa.String(160)),
    ("contract", sa.String(96)),
    ("radiologist", sa.String(96)),
    ("task_updated_at", UTCDateTime()),
)


def upgrade() -> None:
    for name, kind in _ORDER_COLUMNS:
        op.add_column("order_clock", sa.Column(name, kind, nullable=True))
    # Every order sla has heard of gets its row (facts are read from order_clock).
    op.execute(
        "INSERT INTO order_clock (order_id, updated_at) "
        "SELECT order_id, MIN(recorded_at) FROM order_milestone "
        "WHERE order_id NOT IN (SELECT order_id FROM order_clock) GROUP BY order_id"
    )
    op.create_table(
        "task_status",
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(160), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("order_id", "source", name="pk_task_status"),
    )
    op.create_table(
        "contract_term",
        sa.Column("contract_id", sa.String(64), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("target_minutes", sa.Float, nullable=False),
        sa.Column("clock", sa.String(40), nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("contract_id", "priority", name="pk_contract_term"),
    )


def downgrade() -> None:
    op.drop_table("contract_term")
    op.drop_table("task_status")
    with op.batch_alter_table("order_clock") as batch:
        for name, _ in reversed(_ORDER_COLUMNS):
            batch.drop_column(name)
