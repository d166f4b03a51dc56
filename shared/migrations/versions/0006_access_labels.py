"""Access labels on resources and the grants of labels to other holders (frozen).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.fhir.storage.tables import BigId

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resource_access",
        sa.Column("resource_pk", BigId, nullable=False),
        sa.Column("label", sa.String(255), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_pk"],
            ["fhir_resource.pk"],
            name="fk_resource_access_resource_pk_fhir_resource",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("resource_pk", "label", name="uq_resource_access_resource_pk_label"),
    )
    op.create_index(
        "ix_resource_access_label_resource_pk", "resource_access", ["label", "resource_pk"]
    )
    op.create_table(
        "access_grant",
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("holder", "label", "source", name="pk_access_grant"),
    )
    op.create_index("ix_access_grant_source", "access_grant", ["source"])


def downgrade() -> None:
    op.drop_index("ix_access_grant_source", table_name="access_grant")
    op.drop_table("access_grant")
    op.drop_index("ix_resource_access_label_resource_pk", table_name="resource_access")
    op.drop_table("resource_access")
