"""The FHIR store: versioned resources and their search indexes.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from shared.migrations import core_0001

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    core_0001.upgrade()


def downgrade() -> None:
    core_0001.downgrade()
