"""Client assertion ids already used, so that a replayed assertion is refused (frozen).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.fhir.storage.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_used_assertion",
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("jti", sa.String(255), nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti", name="pk_auth_used_assertion"),
    )
    op.create_index("ix_auth_used_assertion_expires_at", "auth_used_assertion", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_auth_used_assertion_expires_at", table_name="auth_used_assertion")
    op.drop_table("auth_used_assertion")
