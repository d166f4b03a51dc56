"""The loop on the embedded SQLite default (what `make run` uses): order -> Task -> report ->
Task completed -> turnaround, each service on its own database file."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from scripts.local_platform import SERVICES
from tests.e2e.loop import (
    created,
    facility,
    place_order,
    privileges,
    radiologist,
    report,
    tasks_of,
    wait_until,
)
from tests.e2e.platform import E2EPlatform
from tests.support.databases import migrate


@pytest.fixture(scope="module")
def platform_databases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("sqlite-platform")
    urls = {s: f"sqlite+aiosqlite:///{directory}/{s}.db" for s in SERVICES}
    with ThreadPoolExecutor(max_workers=1) as pool:  # Alembic runs its own event loop
        for service, url in urls.items():
            pool.submit(migrate, service, url).result()
    return urls


def test_the_loop_runs_on_sqlite(platform: E2EPlatform) -> None:
    with platform.client() as client:
        site = facility(client, "TX")
        reader = radiologist(client, "Okafor", "TX")
        role = privileges(client, reader, site)
        order_id = place_order(client, site)
        task = wait_until(lambda: tasks_of(client, order_id), what="the Task")[0]
        assert task["owner"]["reference"] == role
        created(client.post("/DiagnosticReport", json=report(order_id, task["for"], reader)))

        def completed() -> dict[str, Any] | None:
            current = tasks_of(client, order_id)[0]
            return current if current["status"] == "completed" else None

        wait_until(completed, what="the Task completed")
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
    assert answer.json()["parameter"][1] == {"name": "complete", "valueBoolean": True}
