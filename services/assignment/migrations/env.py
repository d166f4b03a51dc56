"""Alembic environment of the assignment service (see shared.migrations)."""

from shared.migrations import run_migrations

run_migrations("assignment")
