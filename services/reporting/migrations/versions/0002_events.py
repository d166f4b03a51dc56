"""The transactional outbox and subscription delivery state.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from shared.migrations import events_0002

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    events_0002.upgrade()


def downgrade() -> None:
    events_0002.downgrade()
