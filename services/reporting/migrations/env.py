"""Alembic environment of the reporting service (see shared.migrations)."""

from shared.migrations import run_migrations

run_migrations("reporting")
