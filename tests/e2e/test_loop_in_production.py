"""The loop with ENVIRONMENT=production: no development credential anywhere, the services
calling and notifying each other with the configured SERVICE_TOKEN and signing secret."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.loop import order_to_completed_task
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
        order_to_completed_task(client)
