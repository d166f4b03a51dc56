"""The front door is where clients get their tokens: it relays `POST /auth/token` and the
discovery documents under `/fhir/.well-known/` to intake, which hosts the token endpoint,
and the token URL advertised is the front door's public origin."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager

from services.gateway.app import REGISTRIES, create_app
from services.gateway.routing import TOKEN_SERVICE, RouteKind, RouteTable, route
from services.gateway.settings import GatewaySettings
from shared.fhir.outcomes import FhirError
from shared.settings import ServiceSettings
from tests.fixtures import running_app
from tests.support.clients import TestClient, registry_file, token_form
from tests.support.tokens import TEST_SIGNING_KEY

PUBLIC = "https://fhir.example.org"
CLIENT = TestClient.new("ops", role="admin", scopes=["system/Organization.rs"])


@pytest.fixture
async def gateway(
    make_settings: Callable[..., ServiceSettings], tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The front door at PUBLIC, with intake behind it (the only service these requests
    reach)."""
    settings = make_settings(
        "intake", public_base_url=PUBLIC, auth_clients_file=registry_file(tmp_path, [CLIENT])
    )
    async with running_app("intake", settings) as intake:
        urls = {f"{r.service}_url": f"http://{r.service}.internal" for r in REGISTRIES}
        app = create_app(
            GatewaySettings.model_validate({**urls, "public_base_url": PUBLIC}),
            transports={"intake": httpx.ASGITransport(app=intake)},
        )
        transport = httpx.ASGITransport(app=app)
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client,
        ):
            yield client


async def test_a_client_gets_its_token_at_the_front_door(gateway: httpx.AsyncClient) -> None:
    assertion = CLIENT.assertion(aud=f"{PUBLIC}/auth/token")

    response = await gateway.post("/auth/token", data=token_form(assertion))

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    claims = jwt.decode(
        response.json()["access_token"],
        TEST_SIGNING_KEY.private_key.public_key(),
        algorithms=["ES384"],
        audience=f"{PUBLIC}/fhir",
    )
    assert claims["iss"] == f"{PUBLIC}/auth"
    assert claims["sub"] == "ops"


async def test_a_refused_token_request_comes_back_as_the_oauth_error(
    gateway: httpx.AsyncClient,
) -> None:
    assertion = CLIENT.assertion(aud="http://intake.internal/auth/token")

    response = await gateway.post("/auth/token", data=token_form(assertion))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_the_smart_configuration_names_the_front_doors_token_url(
    gateway: httpx.AsyncClient,
) -> None:
    response = await gateway.get("/fhir/.well-known/smart-configuration")

    assert response.status_code == 200
    configuration = response.json()
    assert configuration["token_endpoint"] == f"{PUBLIC}/auth/token"
    assert configuration["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert configuration["grant_types_supported"] == ["client_credentials"]
    keys = (await gateway.get("/fhir/.well-known/jwks.json")).json()["keys"]
    assert [k["kid"] for k in keys] == [TEST_SIGNING_KEY.kid]


def test_discovery_documents_go_to_the_token_service_and_are_only_read() -> None:
    table = RouteTable.from_registries(REGISTRIES)

    decision = route(table, "GET", ".well-known/smart-configuration")

    assert (decision.kind, decision.service) == (RouteKind.SERVICE, TOKEN_SERVICE)
    assert TOKEN_SERVICE in table.services
    with pytest.raises(FhirError) as refused:
        route(table, "POST", ".well-known/smart-configuration")
    assert refused.value.status == 405
