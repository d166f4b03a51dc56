"""The transactional outbox and subscription delivery state (frozen).

Shared by every service: each service's alembic.ini lists this folder in its
version_locations, and each service's own revisions follow on from the last one here.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.fhir.storage.tables import BigId, UTCDateTime


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_event",
        sa.Column("seq", BigId, autoincrement=True),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("interaction", sa.String(8), nullable=False),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("traceparent", sa.String(55), nullable=True),
        sa.Column("dispatched_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_outbox_event"),
    )
    op.create_index(
        "ix_outbox_event_pending",
        "outbox_event",
        ["seq"],
        postgresql_where=sa.text("dispatched_at IS NULL"),
        sqlite_where=sa.text("dispatched_at IS NULL"),
    )

    op.create_table(
        "subscription_state",
        sa.Column("subscription_id", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("events_since_start", sa.BigInteger, nullable=False),
        sa.Column("delivered_through", sa.BigInteger, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("failing_since", UTCDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.String(512), nullable=True),
        sa.Column("last_sent_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("subscription_id", name="pk_subscription_state"),
    )
    op.create_index("ix_subscription_state_topic_status", "subscription_state", ["topic", "status"])
    op.create_index(
        "ix_subscription_state_status_next_attempt_at",
        "subscription_state",
        ["status", "next_attempt_at"],
    )
    op.create_table(
        "subscription_event",
        sa.Column("subscription_id", sa.String(64), nullable=False),
        sa.Column("event_number", sa.BigInteger, nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("traceparent", sa.String(55), nullable=True),
        sa.PrimaryKeyConstraint("subscription_id", "event_number", name="pk_subscription_event"),
    )


def downgrade() -> None:
    for table in ("subscription_event", "subscription_state", "outbox_event"):
        op.drop_table(table)
