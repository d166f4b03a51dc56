"""Make the suite's database and app fixtures (tests/conftest.py) usable beside the service.

pytest applies a conftest only to tests under its own directory, and tests/conftest.py is
not at the rootdir, so its fixtures are not visible here on their own. Re-exporting them
registers the same fixtures for this directory; the session-scoped ones (PostgreSQL
server, migrated templates) are then made once more for this directory when both trees run
in one session.
"""

from __future__ import annotations

from tests.conftest import (
    backend,
    client,
    database_url,
    databases,
    intake_app,
    make_settings,
    postgres_admin_url,
)

__all__ = [
    "backend",
    "client",
    "database_url",
    "databases",
    "intake_app",
    "make_settings",
    "postgres_admin_url",
]
