"""On the demo, each development client (deploy/dev/auth/clients.json) gets its token from
intake -- its registered organization found at intake by NPI, the radiologist's
Practitioner asked of assignment by NPI -- and the token works at the service it reads."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from services.assignment.seed import seed as seed_roster
from services.intake.codes import NPI_SYSTEM
from services.intake.seed import VENDORS, seed_facilities
from shared.settings import ServiceSettings
from shared.smart.client_assertion import sign_client_assertion
from shared.smart.development import DEV_CLIENT_KEYS_DIR
from shared.smart.keys import SigningKey
from tests.fixtures import client_for, running_app
from tests.support.clients import TOKEN_URL, origin_client, token_form
from tests.support.rest import entries, search
from tests.support.tokens import claims_of

ASSIGNMENT_URL = "http://assignment.test"
CHEN_NPI = "1900012174"


@dataclass
class Demo:
    intake: FastAPI
    assignment: FastAPI
    facilities: dict[str, str]  # NPI -> Organization/<id>

    async def token(self, client_id: str) -> httpx.Response:
        key = SigningKey.from_pem((DEV_CLIENT_KEYS_DIR / f"{client_id}.pem").read_text())
        assertion = sign_client_assertion(key, client_id, TOKEN_URL, now=time.time())
        async with origin_client(self.intake) as http:
            return await http.post("/auth/token", data=token_form(assertion))


@pytest.fixture
async def demo(make_settings: Callable[..., ServiceSettings]) -> AsyncIterator[Demo]:
    """Intake (development clients, unset AUTH_CLIENTS_FILE) and assignment, with the demo's
    facilities and roster; intake reaches assignment in-process."""
    intake_settings = make_settings("intake", assignment_url=ASSIGNMENT_URL)
    assignment_settings = make_settings("assignment")
    async with (
        running_app("intake", intake_settings) as intake,
        running_app("assignment", assignment_settings) as assignment,
    ):
        facilities = await seed_facilities(intake_settings)
        await seed_roster(assignment_settings, facilities)
        peers = intake.state.peers
        await peers.client.aclose()
        peers.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=assignment), headers=peers.client.headers
        )
        yield Demo(intake, assignment, facilities)


async def test_every_development_client_gets_its_token_on_the_demo(demo: Demo) -> None:
    async with client_for(demo.assignment) as assignment:
        (chen,) = entries(
            await search(assignment, "Practitioner", {"identifier": f"{NPI_SYSTEM}|{CHEN_NPI}"})
        )
    async with client_for(demo.intake) as intake:
        (vendor,) = entries(
            await search(intake, "Organization", {"identifier": f"{NPI_SYSTEM}|{VENDORS[0][4]}"})
        )

    claims = {}
    for client_id in ("ehr-mercy-dallas", "vendor-nightwatch", "radiologist-chen", "admin"):
        response = await demo.token(client_id)
        assert response.status_code == 200, (client_id, response.text)
        claims[client_id] = claims_of(response.json()["access_token"])

    assert claims["ehr-mercy-dallas"]["organizations"] == [demo.facilities["1003000126"]]
    assert claims["vendor-nightwatch"]["role"] == "vendor"
    assert claims["vendor-nightwatch"]["organizations"] == [
        f"Organization/{vendor['resource']['id']}"
    ]
    assert claims["radiologist-chen"]["fhirUser"] == f"Practitioner/{chen['resource']['id']}"
    assert claims["admin"]["organizations"] == []


async def test_a_facilitys_token_reads_at_the_gateways_services(demo: Demo) -> None:
    token = (await demo.token("ehr-harbor-la")).json()["access_token"]

    async with client_for(demo.intake, headers={"Authorization": f"Bearer {token}"}) as intake:
        assert (await intake.get("/ServiceRequest")).status_code == 200
    async with client_for(
        demo.assignment, headers={"Authorization": f"Bearer {token}"}
    ) as assignment:
        assert (await assignment.get("/Task")).status_code == 200
        assert (await assignment.get("/Practitioner")).status_code == 403


async def test_no_token_while_assignment_cannot_be_asked_for_the_practitioner(
    demo: Demo,
) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("assignment is down", request=request)

    peers = demo.intake.state.peers
    await peers.client.aclose()
    peers.client = httpx.AsyncClient(transport=httpx.MockTransport(down))

    response = await demo.token("radiologist-chen")

    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
