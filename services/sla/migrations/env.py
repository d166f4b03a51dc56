"""Alembic environment of the sla service (see shared.migrations)."""

from services.sla.tables import sla_metadata
from shared.migrations import run_migrations

run_migrations("sla", sla_metadata)
