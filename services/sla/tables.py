"""sla's own tables (beside the shared FHIR store): each order's clock and timeline.

Milestones are facts from other services' events; the first report of a milestone wins,
so a redelivered or replayed event never moves it.
"""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table

from shared.fhir.storage.tables import NAMING_CONVENTION, UTCDateTime

sla_metadata = MetaData(naming_convention=NAMING_CONVENTION)

# One row per order sla has heard of: what its clock runs against.
order_clock = Table(
    "order_clock",
    sla_metadata,
    Column("order_id", String(64), primary_key=True),
    Column("priority", String(16), nullable=True),
    Column("deadline", UTCDateTime, nullable=True),  # the assigned Task's restriction end
    Column("updated_at", UTCDateTime, nullable=False),
)

# When each milestone of an order happened, and which resource version says so.
order_milestone = Table(
    "order_milestone",
    sla_metadata,
    Column("order_id", String(64), primary_key=True),
    Column("milestone", String(32), primary_key=True),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("source", String(160), nullable=False),  # e.g. "Task/<id>/_history/2"
    Column("recorded_at", UTCDateTime, nullable=False),
)

# The escalation ladder of each open order (services.sla.predictor): when each step was
# taken, so that it is taken once whichever replica sweeps. A sweep locks the order's row
# (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite has one writer) while it steps.
order_ladder = Table(
    "order_ladder",
    sla_metadata,
    Column("order_id", String(64), primary_key=True),
    Column("alerted_at", UTCDateTime, nullable=True),  # breach-predicted raised
    Column("reroute_asked_at", UTCDateTime, nullable=True),  # $reroute claimed / asked
    Column("rerouted_at", UTCDateTime, nullable=True),  # the answer recorded
    Column("reroute_outcome", String(16), nullable=True),  # rerouted | stayed | no-read
    Column("escalated_at", UTCDateTime, nullable=True),  # operations told
    Column("breached_at", UTCDateTime, nullable=True),  # the deadline passed, clock running
)
