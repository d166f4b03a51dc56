"""Alembic environment of the sla service (see shared.migrations)."""

from shared.migrations import run_migrations

run_migrations("sla")
