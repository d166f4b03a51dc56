"""Alembic environment of the reporting service (see shared.migrations)."""

from services.reporting.tables import reporting_metadata
from shared.migrations import run_migrations

run_migrations("reporting", reporting_metadata)
