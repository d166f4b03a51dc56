"""A PostgreSQL server for the test suite: the one configured, else a throwaway cluster.

`TEST_DATABASE_URL` (or a PostgreSQL `DATABASE_URL`) names a server whose user may create
databases. Without one, a private cluster is made with the installed `initdb`/`pg_ctl` in a
temporary directory on a free loopback port, and removed afterwards. Under `CI=true` a
PostgreSQL that cannot be had fails the run instead of skipping its tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CLUSTER_USER = "postgres"


class PostgresUnavailable(RuntimeError):
    pass


def configured_url() -> str | None:
    for name in ("TEST_DATABASE_URL", "DATABASE_URL"):
        url = os.environ.get(name, "")
        if url.startswith(("postgresql", "postgres:")):
            return url
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise PostgresUnavailable(f"{name} is not installed")


def _as_cluster_user(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: drop to the postgres user when root."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailable("running as root without runuser to drop privileges")
    return [runuser, "-u", CLUSTER_USER, "--", *command]


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a private PostgreSQL cluster; yield its admin URL; stop and delete it."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    root = Path(tempfile.mkdtemp(prefix="teleradiology-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, CLUSTER_USER)
    port = _free_port()
    try:
        subprocess.run(
            _as_cluster_user(
                [
                    initdb,
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        options = f"-h 127.0.0.1 -p {port} -k {root} -F -c max_connections=200"
        subprocess.run(
            _as_cluster_user(
                [pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"]
            ),
            check=True,
            capture_output=True,
        )
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise PostgresUnavailable(f"could not start a throwaway cluster: {exc}") from exc
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_cluster_user([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """The admin URL of the PostgreSQL the suite uses."""
    url = configured_url()
    if url is not None:
        yield url
        return
    with throwaway_cluster() as started:
        yield started
