"""reporting: the radiologists' signing keys (signing_key).

Revision ID: report_0001
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.fhir.storage.tables import UTCDateTime

revision = "report_0001"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_key",
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("signer", sa.String(128), nullable=False),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("public_jwk", sa.Text, nullable=False),
        sa.Column("private_key", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("kid", name="pk_signing_key"),
    )
    op.create_index("ix_signing_key_signer", "signing_key", ["signer"])


def downgrade() -> None:
    op.drop_index("ix_signing_key_signer", table_name="signing_key")
    op.drop_table("signing_key")
