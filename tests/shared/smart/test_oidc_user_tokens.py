"""User tokens from the external OpenID Connect provider: a radiologist's token, carrying
their Practitioner as `fhirUser`, is accepted by every service, with its scopes narrowed to
OIDC_SCOPES. The provider's key set is fetched -- by the real code, over HTTP, from a small
server on 127.0.0.1 standing in for the provider -- once, and again only for a key it
has not seen."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from shared.auth import Principal
from shared.settings import ServiceSettings
from shared.smart.keys import SigningKey
from tests.fixtures import client_for, running_app
from tests.support.tokens import new_key, public_key_as_hmac_secret, unsigned_jwt

ISSUER = "https://idp.example.org/realms/radiology"
AUDIENCE = "teleradiology-api"
MAX_SCOPES = "user/Task.rus user/DiagnosticReport.crus user/Patient.rs"


def _algorithm(key: SigningKey) -> str:
    """What the provider signs with: RS256 with its RSA keys (the OIDC default), ES384."""
    return "RS256" if key.algorithm == "RS384" else key.algorithm


class Provider:
    """The identity provider: publishes `keys` at /jwks (or fails while `down`)."""

    def __init__(self) -> None:
        self.keys = [new_key("rsa"), new_key("ec")]
        self.down = False
        self.fetches = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.fetches += 1
                if provider.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                published = [k.public_jwk | {"alg": _algorithm(k)} for k in provider.keys]
                body = json.dumps({"keys": published}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.jwks_url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks"

    def token(self, key_index: int = 0, algorithm: str | None = None, **claims: Any) -> str:
        """A user token signed by the provider (`claims` override; None removes)."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "user-7f3a",
            "azp": "radiology-viewer",
            "iat": now,
            "exp": now + 300,
            "fhirUser": "Practitioner/p-42",
            "scope": "openid fhirUser user/Task.cruds user/Patient.rs user/Practitioner.rs",
        }
        body = {k: v for k, v in (body | claims).items() if v is not None}
        key = self.keys[key_index]
        return jwt.encode(
            body,
            key.private_key,
            algorithm=algorithm or _algorithm(key),
            headers={"kid": key.kid},
        )


@pytest.fixture
def provider() -> Iterator[Provider]:
    idp = Provider()
    thread = threading.Thread(target=idp.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield idp
    finally:
        idp.server.shutdown()
        idp.server.server_close()
        thread.join(timeout=5)


@pytest.fixture
async def reporting(
    make_settings: Callable[..., ServiceSettings], provider: Provider
) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        "reporting",
        oidc_issuer=ISSUER,
        oidc_jwks_url=provider.jwks_url,
        oidc_audience=AUDIENCE,
        oidc_scopes=MAX_SCOPES,
        public_base_url="https://fhir.example.org",
    )
    async with running_app("reporting", settings) as app:
        yield app


def authorized(app: FastAPI, token: str) -> httpx.AsyncClient:
    return client_for(app, headers={"Authorization": f"Bearer {token}"})


async def test_a_radiologists_user_token_is_accepted_as_their_practitioner(
    reporting: FastAPI, provider: Provider
) -> None:
    token = provider.token()

    async with authorized(reporting, token) as client:
        assert (await client.get("/DiagnosticReport")).status_code == 403  # not in its scope
    principal = await reporting.state.authenticator.principal(token)

    assert principal == Principal(
        client_id="radiology-viewer",
        scopes=frozenset({"user/Task.rus", "user/Patient.rs"}),
        role="radiologist",
        fhir_user="Practitioner/p-42",
        user="user-7f3a",
    )


async def test_a_user_token_without_scopes_gets_oidc_scopes(
    reporting: FastAPI, provider: Provider
) -> None:
    token = provider.token(scope=None, fhirUser="https://fhir.example.org/fhir/Practitioner/p-42")

    async with authorized(reporting, token) as client:
        assert (await client.get("/DiagnosticReport")).status_code == 200
    principal = await reporting.state.authenticator.principal(token)
    assert principal.scopes == frozenset(MAX_SCOPES.split())
    assert principal.fhir_user == "Practitioner/p-42"


@pytest.mark.parametrize("key_index", [0, 1], ids=["RS256", "ES384"])
async def test_the_providers_keys_are_fetched_once(
    reporting: FastAPI, provider: Provider, key_index: int
) -> None:
    for _ in range(3):
        async with authorized(reporting, provider.token(key_index)) as client:
            assert (await client.get("/Communication")).status_code == 403  # scope, not 401

    assert provider.fetches == 1


async def test_a_new_key_of_the_provider_is_fetched_when_a_token_names_it(
    reporting: FastAPI, provider: Provider
) -> None:
    await reporting.state.authenticator.principal(provider.token())
    provider.keys.append(new_key("ec"))
    reporting.state.authenticator.oidc.jwks.refetch_seconds = 0  # no wait between fetches

    principal = await reporting.state.authenticator.principal(provider.token(key_index=2))

    assert principal.fhir_user == "Practitioner/p-42"
    assert provider.fetches == 2


async def test_while_the_provider_cannot_be_reached_user_tokens_get_a_503(
    reporting: FastAPI, provider: Provider
) -> None:
    provider.down = True

    async with authorized(reporting, provider.token()) as client:
        response = await client.get("/Communication")

    assert response.status_code == 503
    assert response.headers["retry-after"]


def _other_signer() -> str:
    """A token naming the provider's kid, signed by a key the provider does not have."""
    impostor = Provider()
    impostor.server.server_close()
    return impostor.token()


REFUSED: dict[str, Callable[[Provider], str]] = {
    "another issuer": lambda idp: idp.token(iss="https://idp.example.org/realms/other"),
    "another audience": lambda idp: idp.token(aud="another-api"),
    "expired": lambda idp: idp.token(exp=int(time.time()) - 60),
    "no exp": lambda idp: idp.token(exp=None),
    "no fhirUser": lambda idp: idp.token(fhirUser=None),
    "fhirUser a Patient": lambda idp: idp.token(fhirUser="Patient/p-42"),
    "fhirUser on another server": lambda idp: idp.token(
        fhirUser="https://other.example.org/fhir/Practitioner/p-42"
    ),
    "RS512 is not accepted": lambda idp: idp.token(algorithm="RS512"),
    "alg none": lambda idp: unsigned_jwt(
        {"alg": "none", "kid": idp.keys[0].kid},
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": int(time.time()) + 60},
    ),
    "HS256 with the provider's public key": lambda idp: public_key_as_hmac_secret(
        idp.keys[0],
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": int(time.time()) + 60},
        "HS256",
    ),
    "unknown kid": lambda idp: _other_signer(),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
async def test_a_user_token_not_for_this_platform_is_refused(
    reporting: FastAPI, provider: Provider, case: str
) -> None:
    async with authorized(reporting, REFUSED[case](provider)) as client:
        response = await client.get("/Communication")

    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
