"""audit: the audit log is append-only -- its rows refuse UPDATE, DELETE and TRUNCATE.

The audit database holds nothing but AuditEvents, in the FHIR store's tables. Triggers on
every one of those tables refuse any change to a row once written, whoever asks: the
application only ever inserts, so no request can alter or remove the record of another.
Retention purges are a deliberate act of the database owner (docs/security.md, "Audit").

Revision ID: audit_0001
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "audit_0001"
down_revision = "0006"
branch_labels = None
depends_on = None

# The tables an AuditEvent is written to (resource, history, search indexes).
AUDIT_TABLES = (
    "fhir_resource",
    "fhir_resource_version",
    "search_token",
    "search_string",
    "search_date",
    "search_reference",
)
_REFUSAL = "the audit log is append-only"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{_REFUSAL}: % on % refused', TG_OP, TG_TABLE_NAME "
            "USING ERRCODE = 'insufficient_privilege'; END $$"
        )
        for table in AUDIT_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
            )
        return
    for table in AUDIT_TABLES:  # SQLite (development): the same refusal
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{_REFUSAL}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in AUDIT_TABLES:
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute("DROP FUNCTION audit_refuse_change()")
        return
    for table in AUDIT_TABLES:
        for operation in ("update", "delete"):
            op.execute(f"DROP TRIGGER {table}_no_{operation}")
