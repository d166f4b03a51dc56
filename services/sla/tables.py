"""sla's own tables (beside the shared FHIR store): each order's clock and timeline.

Milestones are facts from other services' events; the first report of a milestone wins,
so a redelivered or replayed event never moves it. The read Task's status versions are kept
one row per version, so holds (pauses of the clock) come out the same whatever order or how
often the versions arrive. An order's terms are those of the contract its read runs under,
as sla read them when it heard the newest read Task version (a contract edited later
reaches a read only at its next Task change, never one already finished).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, MetaData, String, Table

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
    Column("facility", String(80), nullable=True),  # "Organization/<id>", the ordering facility
    Column("modality", String(16), nullable=True),  # DICOM modality code
    Column("stroke", Boolean, nullable=True),  # None until the order itself was heard
    Column("task", String(80), nullable=True),  # "Task/<id>", the read Task
    Column("owner", String(160), nullable=True),  # the read Task's owner, latest version
    Column("contract", String(96), nullable=True),  # "OrganizationAffiliation/<id>"
    Column("radiologist", String(96), nullable=True),  # "Practitioner/<id>"
    # meta.lastUpdated of the Task version owner/contract/deadline come from: only a later
    # version replaces them, so a late redelivery of an older version changes nothing.
    Column("task_updated_at", UTCDateTime, nullable=True),
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
    # Reports and metrics take the clocks that stopped in a range: by milestone and time.
    Index("ix_order_milestone_milestone_occurred_at", "milestone", "occurred_at"),
)

# Each version of an order's read Task, by status: the clock pauses from a version going
# on-hold to the next one (by lastUpdated) leaving it.
task_status = Table(
    "task_status",
    sla_metadata,
    Column("order_id", String(64), primary_key=True),
    Column("source", String(160), primary_key=True),  # "Task/<id>/_history/<version>"
    Column("status", String(24), nullable=False),
    Column("at", UTCDateTime, nullable=False),  # the version's meta.lastUpdated
)

# The read's contract terms: turnaround per priority (and "stroke") and the clock it counts.
order_term = Table(
    "order_term",
    sla_metadata,
    Column("order_id", String(64), primary_key=True),
    Column("priority", String(16), primary_key=True),
    Column("target_minutes", Float, nullable=False),
    Column("clock", String(40), nullable=True),  # None: the priority's default clock
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
