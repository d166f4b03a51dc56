"""sla's own tables (beside the shared FHIR store): each order's clock and timeline.

Milestones are facts from other services' events; the first report of a milestone wins,
so a redelivered or replayed event never moves it. The read Task's status versions are kept
one row per version, so holds (pauses of the clock) come out the same whatever order or how
often the versions arrive. Contract terms are what sla last read of each contract.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, MetaData, String, Table

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

# A contract's turnaround per priority (and "stroke") and the interval it counts.
contract_term = Table(
    "contract_term",
    sla_metadata,
    Column("contract_id", String(64), primary_key=True),
    Column("priority", String(16), primary_key=True),
    Column("target_minutes", Float, nullable=False),
    Column("clock", String(40), nullable=True),  # None: the priority's default clock
    Column("updated_at", UTCDateTime, nullable=False),
)
