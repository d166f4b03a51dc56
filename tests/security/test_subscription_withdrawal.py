"""A subscription stops when the registered client that made it is withdrawn from
AUTH_CLIENTS_FILE: the next event is not delivered, the subscription reads `off` with the
reason -- whoever updated it meanwhile -- and the platform's own subscriptions (made with
SERVICE_TOKEN) go on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.intake.tests.builders import facility, order, registered_patient
from shared.auth import Principal
from shared.settings import ServiceSettings
from tests.fixtures import client_for, start_app
from tests.shared.events.test_subscriptions import (
    Subscriber,
    _status,
    _wait_for,
    _wait_for_status,
    subscriber,  # noqa: F401  (fixture)
    subscription,
)
from tests.shared.smart.test_client_registry import rewrite
from tests.support.clients import TestClient, registry_file
from tests.support.rest import create
from tests.support.tenants import ALL_SCOPES, as_caller

pytestmark = pytest.mark.asyncio

SERVICE_TOKEN = "the-platforms-own-service-token-0123456789"
ALDER_NPI = "1003000126"
ALDER_EHR = TestClient.new(
    "ehr-alder",
    role="facility",
    organizations=[f"Organization?identifier=http://hl7.org/fhir/sid/us-npi|{ALDER_NPI}"],
)
OPS = TestClient.new("ops", role="admin")


@pytest.fixture
def clients_file(tmp_path: Path) -> Path:
    return registry_file(tmp_path, [ALDER_EHR, OPS])


@pytest.fixture
async def intake(
    make_settings: Callable[..., ServiceSettings], clients_file: Path
) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        "intake",
        events_enabled=True,
        internal_url="http://127.0.0.1:9",  # assignment is not running: intake keeps retrying
        subscription_allow_http=True,
        subscription_allowed_networks=["127.0.0.0/8"],
        service_token=SERVICE_TOKEN,
        auth_clients_file=clients_file,
    )
    app, manager = await start_app("intake", settings)
    try:
        yield app
    finally:
        await manager.__aexit__(None, None, None)


def notified(endpoint: Subscriber, sub_id: str) -> list[int]:
    """The event numbers `endpoint` was sent for Subscription/`sub_id`."""
    return [
        number
        for bundle in endpoint.bundles()
        if _status(bundle)["subscription"]["reference"].endswith(f"/Subscription/{sub_id}")
        for number in _status(bundle).get("events", [])
    ]


async def subscribed(client: httpx.AsyncClient, url: str) -> str:
    created = await client.post("/Subscription", json=subscription(url))
    assert created.status_code == 201, created.text
    await _wait_for_status(client, created.json()["id"], "active")
    return str(created.json()["id"])


async def test_a_withdrawn_clients_subscription_stops_and_the_platforms_go_on(
    intake: FastAPI,
    subscriber: tuple[Subscriber, str],  # noqa: F811
    clients_file: Path,
) -> None:
    endpoint, url = subscriber
    service = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    async with client_for(intake) as admin:
        alder = f"Organization/{(await create(admin, facility(ALDER_NPI, 'Alder')))['id']}"
    ehr = Principal(
        client_id="ehr-alder", scopes=ALL_SCOPES, role="facility", organizations=frozenset({alder})
    )
    async with as_caller(intake, ehr) as facility_ehr, client_for(intake, headers=service) as own:
        facility_sub = await subscribed(facility_ehr, url)
        platform_sub = await subscribed(own, url)
        async with client_for(intake) as admin:  # another caller's update changes no owner
            current = (await admin.get(f"/Subscription/{facility_sub}")).json()
            current["reason"] = "Orders of Alder, renamed by operations"
            assert (await admin.put(f"/Subscription/{facility_sub}", json=current)).is_success

        patient = await create(facility_ehr, registered_patient(mrn="MRN-A", family="Alder"))
        await create(facility_ehr, order(f"Patient/{patient['id']}", alder, accession_number="A-1"))
        await _wait_for(
            lambda: notified(endpoint, facility_sub) == notified(endpoint, platform_sub) == [1]
        )

        rewrite(clients_file, [OPS])  # the facility's registration is withdrawn
        await create(facility_ehr, order(f"Patient/{patient['id']}", alder, accession_number="A-2"))

        await _wait_for(lambda: notified(endpoint, platform_sub) == [1, 2])
        await _wait_for_status(facility_ehr, facility_sub, "off")
        stopped = (await facility_ehr.get(f"/Subscription/{facility_sub}")).json()
        status = (await facility_ehr.get(f"/Subscription/{facility_sub}/$status")).json()
        running = (await own.get(f"/Subscription/{platform_sub}")).json()

    assert notified(endpoint, facility_sub) == [1]  # the second order was never sent
    assert "ehr-alder" in stopped["error"] and "withdrawn" in stopped["error"]
    parameters = _status({"entry": [{"resource": status["entry"][0]["resource"]}]})
    assert parameters["status"] == "off"
    assert parameters["error"]["text"] == stopped["error"]
    assert running["status"] == "active"
