"""The consumers' inbox: events already processed, so redelivery changes nothing (frozen).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.fhir.storage.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_event",
        sa.Column("subscription", sa.String(255), nullable=False),
        sa.Column("event_number", sa.BigInteger, nullable=False),
        sa.Column("consumer", sa.String(64), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("subscription", "event_number", name="pk_inbox_event"),
    )


def downgrade() -> None:
    op.drop_table("inbox_event")
