"""Alembic environment of the assignment service (see shared.migrations)."""

from services.assignment.tables import assignment_metadata
from shared.migrations import run_migrations

run_migrations("assignment", assignment_metadata)
