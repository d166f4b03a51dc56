"""The outbox: one row per resource change, written in the change's own transaction.

A change and its event commit or roll back together, so no event is ever lost (a crash
after the commit leaves the row for the relay to pick up after restart) and no event is
ever sent for a change that did not happen (a rolled-back change leaves no row).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, text

from shared.fhir.storage.tables import BigId, UTCDateTime, metadata

outbox_event = Table(
    "outbox_event",
    metadata,
    # Commit order is not seq order across concurrent transactions; the relay therefore
    # takes undispatched rows by `dispatched_at IS NULL`, never "seq above a watermark".
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("resource_type", String(64), nullable=False),
    Column("resource_id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("interaction", String(8), nullable=False),  # create | update | delete
    Column("occurred_at", UTCDateTime, nullable=False),
    # W3C trace context of the request that made the change, so that the notification
    # continues the same trace.
    Column("traceparent", String(55), nullable=True),
    Column("dispatched_at", UTCDateTime, nullable=True),
    Index(
        "ix_outbox_event_pending",
        "seq",
        postgresql_where=text("dispatched_at IS NULL"),
        sqlite_where=text("dispatched_at IS NULL"),
    ),
)

# Delivery state of each Subscription stored by this service: its event counter and how
# far delivery has got. The counter row is locked while an event is numbered, so numbers
# have no gaps and no duplicates however many replicas dispatch.
subscription_state = Table(
    "subscription_state",
    metadata,
    Column("subscription_id", String(64), primary_key=True),
    Column("topic", String(255), nullable=False),
    Column("status", String(16), nullable=False),  # requested | active | error | off
    Column("events_since_start", BigInteger, nullable=False, default=0),
    Column("delivered_through", BigInteger, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("failing_since", UTCDateTime, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", String(512), nullable=True),
    Column("last_sent_at", UTCDateTime, nullable=True),
    # Held by the notifier delivering to this subscription (see shared.events.notifier); the
    # relay moves `next_attempt_at` when it numbers an event, never the lease.
    Column("leased_until", UTCDateTime, nullable=True),
    Index(None, "topic", "status"),
    Index(None, "status", "next_attempt_at"),
)

# Every event numbered for a subscription, kept for redelivery and `$events`.
subscription_event = Table(
    "subscription_event",
    metadata,
    Column("subscription_id", String(64), primary_key=True),
    Column("event_number", BigInteger, primary_key=True),
    Column("topic", String(255), nullable=False),
    Column("resource_type", String(64), nullable=False),
    Column("resource_id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("traceparent", String(55), nullable=True),
)

# The receiving side: every event a service has consumed, by the subscription that sent it
# and its event number, written in the consumer's own transaction -- a redelivered event
# finds its row and changes nothing.
inbox_event = Table(
    "inbox_event",
    metadata,
    Column("subscription", String(255), primary_key=True),
    Column("event_number", BigInteger, primary_key=True),
    Column("consumer", String(64), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
)
