"""Alembic environment of the audit log (see shared.migrations and shared.audit)."""

from shared.migrations import run_migrations
from shared.settings import DEFAULT_AUDIT_DATABASE_URL

run_migrations("audit", variable="AUDIT_DATABASE_URL", default_url=DEFAULT_AUDIT_DATABASE_URL)
