"""assignment's own tables (beside the shared FHIR store): the open reads the engine counts,
and the clock row that serialises decisions across replicas.

`read_work` mirrors every read Task that is not finished (and finished ones for a day, for
RVU balance), with the facts of its exam, so that re-routing never needs the order again.
It is written in the same transaction as the Task it mirrors. `assignment_clock` holds one
row: a transaction that decides or changes work first increments `generation` (taking the
row's lock until it commits), stamps the rows it writes with it, and so every replica sees
the others' changes as "rows stamped after the generation I last read".
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from shared.fhir.storage.tables import NAMING_CONVENTION, UTCDateTime

assignment_metadata = MetaData(naming_convention=NAMING_CONVENTION)

assignment_clock = Table(
    "assignment_clock",
    assignment_metadata,
    Column("id", Integer, primary_key=True),  # always 1
    Column("generation", BigInteger, nullable=False),  # work changes
    Column("roster_generation", BigInteger, nullable=False),  # roster and contract writes
)

read_work = Table(
    "read_work",
    assignment_metadata,
    Column("order_id", String(64), primary_key=True),
    Column("task_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # the Task's status
    Column("reader", String(64), nullable=True),  # PractitionerRole id owning it
    Column("vendor", String(64), nullable=True),  # Organization id owning it (overflow)
    Column("facility", String(64), nullable=True),
    Column("state", String(8), nullable=True),
    Column("code", String(32), nullable=True),
    Column("modality", String(16), nullable=True),
    Column("priority", String(16), nullable=False),
    Column("stroke", Boolean, nullable=False),
    Column("patient", String(64), nullable=True),
    Column("rvu", Float, nullable=False),
    Column("read_minutes", Float, nullable=False),
    Column("ordered_at", UTCDateTime, nullable=False),
    Column("deadline", UTCDateTime, nullable=False),
    Column("assigned_at", UTCDateTime, nullable=True),
    Column("started_at", UTCDateTime, nullable=True),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("excluded", Text, nullable=False),  # Practitioner ids, space-separated
    Column("reason", Text, nullable=True),  # why it waits unassigned
    Column("changed", BigInteger, nullable=False),
)
Index("ix_read_work_changed", read_work.c.changed)
