"""Every service tells clients, without a token, how to get one: the SMART configuration
under its FHIR base names the token endpoint at the public origin, the one client
authentication it takes (private_key_jwt, RS384/ES384) and the grant; and the platform's
public keys are published for whoever verifies its tokens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from shared.settings import ServiceSettings
from tests.fixtures import running_app
from tests.support.tokens import TEST_SIGNING_KEY

SERVICES = ["intake", "assignment", "reporting", "sla"]
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SMART_ON_FHIR = {
    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
    "code": "SMART-on-FHIR",
}


def smart_token_url(statement: dict[str, Any]) -> str:
    """The token URL a CapabilityStatement's SMART security declaration names (asserting
    that it declares SMART on FHIR)."""
    security = statement["rest"][0]["security"]
    codings = [c for service in security["service"] for c in service["coding"]]
    assert any(SMART_ON_FHIR.items() <= coding.items() for coding in codings)
    assert security["description"]
    (oauth,) = [e for e in security["extension"] if e["url"] == OAUTH_URIS]
    (token,) = [e["valueUri"] for e in oauth["extension"] if e["url"] == "token"]
    return str(token)


def anonymous(app: object, base: str = "http://testserver") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)  # type: ignore[arg-type]


@pytest.mark.parametrize("service", SERVICES)
async def test_every_service_serves_the_smart_configuration_without_a_token(
    make_settings: Callable[..., ServiceSettings], service: str
) -> None:
    settings = make_settings(service, public_base_url="https://fhir.example.org")
    async with running_app(service, settings) as app, anonymous(app) as client:
        response = await client.get("/fhir/.well-known/smart-configuration")
        keys = await client.get("/fhir/.well-known/jwks.json")

    assert response.status_code == 200
    configuration = response.json()
    assert configuration["token_endpoint"] == "https://fhir.example.org/auth/token"
    assert configuration["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert set(configuration["token_endpoint_auth_signing_alg_values_supported"]) == {
        "RS384",
        "ES384",
    }
    assert configuration["grant_types_supported"] == ["client_credentials"]
    assert {"client-confidential-asymmetric", "permission-v2"} <= set(configuration["capabilities"])
    assert "system/*.cruds" in configuration["scopes_supported"]
    assert "issuer" not in configuration  # no OpenID Connect provider configured
    assert configuration["jwks_uri"] == "https://fhir.example.org/fhir/.well-known/jwks.json"
    assert keys.status_code == 200
    assert keys.json() == {"keys": [TEST_SIGNING_KEY.public_jwk]}
    assert "d" not in keys.json()["keys"][0]


async def test_with_an_oidc_provider_the_configuration_names_its_issuer(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    settings = make_settings(
        "reporting",
        oidc_issuer="https://idp.example.org",
        oidc_jwks_url="https://idp.example.org/jwks",
        oidc_audience="teleradiology",
    )
    async with running_app("reporting", settings) as app, anonymous(app) as client:
        configuration = (await client.get("/fhir/.well-known/smart-configuration")).json()

    assert configuration["issuer"] == "https://idp.example.org"
    assert "user/DiagnosticReport.crus" in configuration["scopes_supported"]
    # Without PUBLIC_BASE_URL, the token endpoint is at the origin the request came to.
    assert configuration["token_endpoint"] == "http://testserver/auth/token"


@pytest.mark.parametrize(
    ("public_base_url", "token_url"),
    [
        ("https://fhir.example.org", "https://fhir.example.org/auth/token"),
        (None, "http://testserver/auth/token"),
    ],
)
@pytest.mark.parametrize("service", SERVICES)
async def test_every_services_capability_statement_declares_smart_and_its_token_url(
    make_settings: Callable[..., ServiceSettings],
    service: str,
    public_base_url: str | None,
    token_url: str,
) -> None:
    settings = make_settings(service, public_base_url=public_base_url)
    async with running_app(service, settings) as app, anonymous(app) as client:
        statement = (await client.get("/fhir/metadata")).json()
        configuration = (await client.get("/fhir/.well-known/smart-configuration")).json()

    assert smart_token_url(statement) == configuration["token_endpoint"] == token_url
