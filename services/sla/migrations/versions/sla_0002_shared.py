"""sla: joins its own revisions with the shared store's 0005 and 0006 (no schema change).

Revision ID: sla_0002
Revises: sla_0001, 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

revision = "sla_0002"
down_revision = ("sla_0001", "0006")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
