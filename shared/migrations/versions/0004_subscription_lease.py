"""A delivery lease on each subscription's state (frozen).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.fhir.storage.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("subscription_state", sa.Column("leased_until", UTCDateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscription_state") as batch:
        batch.drop_column("leased_until")
