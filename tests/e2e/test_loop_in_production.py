"""The loop with ENVIRONMENT=production: no development credential anywhere, the services
calling and notifying each other with the configured SERVICE_TOKEN and signing secret, and
a registered client getting its access token at the front door."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.loop import order_to_completed_task
from tests.e2e.platform import E2EPlatform
from tests.support.clients import TestClient, registry_file, token_form
from tests.support.tokens import TEST_SIGNING_PEM, TEST_VERIFY_JWKS

SERVICE_TOKEN = "e2e-service-token-from-the-secret-store-0123456789"
OPERATIONS = TestClient.new("operations-console", role="admin", scopes=["system/*.rs"])


@pytest.fixture(scope="module")
def platform_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    clients = registry_file(tmp_path_factory.mktemp("auth"), [OPERATIONS])
    return {
        "AUTH_CLIENTS_FILE": str(clients),
        "ENVIRONMENT": "production",
        "SERVICE_TOKEN": SERVICE_TOKEN,
        "EVENTS_SIGNING_SECRET": "e2e-events-signing-secret-from-the-secret-store",
        "REPORT_SIGNING_KEY_SECRET": "e2e-report-signing-key-secret-from-the-secret-store",
        "AUTH_SIGNING_KEY": TEST_SIGNING_PEM,
        "AUTH_VERIFY_JWKS": TEST_VERIFY_JWKS,
    }


def test_the_loop_runs_in_production_configuration(platform: E2EPlatform) -> None:
    with httpx.Client(base_url=platform.fhir_base, headers=platform.AUTH, trust_env=False) as dev:
        assert dev.get("/Patient").status_code == 401  # the development token is refused
    headers = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    with httpx.Client(base_url=platform.fhir_base, headers=headers, trust_env=False) as client:
        order_to_completed_task(client)


def test_a_registered_client_gets_its_token_at_the_front_door(platform: E2EPlatform) -> None:
    public = platform.local.public_base_url
    assertion = OPERATIONS.assertion(aud=f"{public}/auth/token")

    answer = httpx.post(
        f"{platform.local.origin('gateway')}/auth/token",
        data=token_form(assertion),
        trust_env=False,
    )

    assert answer.status_code == 200, answer.text
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    with httpx.Client(base_url=platform.fhir_base, headers=headers, trust_env=False) as client:
        assert client.get("/ServiceRequest").status_code == 200
        assert client.get("/Task").status_code == 200  # verified by assignment too
        assert client.post("/Patient", json={"resourceType": "Patient"}).status_code == 403
