"""The loop with ENVIRONMENT=production: no development credential anywhere, the services
calling and notifying each other with the configured SERVICE_TOKEN and signing secret."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

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

SERVICE_TOKEN = "e2e-service-token-from-the-secret-store-0123456789"


@pytest.fixture(scope="module")
def platform_env() -> dict[str, str]:
    return {
        "ENVIRONMENT": "production",
        "SERVICE_TOKEN": SERVICE_TOKEN,
        "EVENTS_SIGNING_SECRET": "e2e-events-signing-secret-from-the-secret-store",
    }


def test_the_loop_runs_in_production_configuration(platform: E2EPlatform) -> None:
    with httpx.Client(base_url=platform.fhir_base, headers=platform.AUTH, trust_env=False) as dev:
        assert dev.get("/Patient").status_code == 401  # the development token is refused
    headers = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    with httpx.Client(base_url=platform.fhir_base, headers=headers, trust_env=False) as client:
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
