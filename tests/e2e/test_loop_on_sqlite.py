"""The loop on the embedded SQLite default (what `make run` uses): order -> Task -> report ->
Task completed -> turnaround, each service on its own database file."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from scripts.local_platform import DATABASES
from tests.e2e.loop import order_to_completed_task, wait_until
from tests.e2e.platform import E2EPlatform
from tests.support.databases import migrate


@pytest.fixture(scope="module")
def platform_databases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("sqlite-platform")
    urls = {s: f"sqlite+aiosqlite:///{directory}/{s}.db" for s in DATABASES}
    with ThreadPoolExecutor(max_workers=1) as pool:  # Alembic runs its own event loop
        for name, url in urls.items():
            pool.submit(migrate, name, url).result()
    return urls


def test_the_loop_runs_on_sqlite(platform: E2EPlatform) -> None:
    with platform.client() as client:
        order_id = order_to_completed_task(client)
        answer = wait_until(
            lambda: (
                (
                    r := client.get("/$turnaround", params={"order": f"ServiceRequest/{order_id}"})
                ).status_code
                == 200
                and "final" in r.text
                and r
            ),
            what="the turnaround",
        )
    assert {"name": "complete", "valueBoolean": True} in answer.json()["parameter"]
