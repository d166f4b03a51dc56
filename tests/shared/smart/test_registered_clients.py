"""A client may register a `jwks_uri` instead of its keys: intake fetches the set (the real
fetching code; the network is an httpx MockTransport), reuses it, and fetches it again when
an assertion names a key it lacks -- the client rotated its key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from shared.settings import ServiceSettings
from shared.smart import jwks as remote_jwks
from shared.smart.keys import KeyRejected, KeySet, SigningKey
from tests.fixtures import running_app
from tests.support.clients import TestClient, origin_client, registry_file, token_form
from tests.support.tokens import new_key

JWKS_URI = "https://keys.partner.example/jwks.json"


class Publisher:
    """The client's key server: answers JWKS_URI with `keys`, counting requests."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.requests = 0
        self.down = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.down or str(request.url) != JWKS_URI:
            return httpx.Response(503)
        return httpx.Response(200, json={"keys": [k.public_jwk for k in self.keys]})


@pytest.fixture
async def setup(
    make_settings: Callable[..., ServiceSettings],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[FastAPI, TestClient, Publisher]]:
    monkeypatch.setattr(remote_jwks, "UNKNOWN_KID_REFETCH_SECONDS", 0.0)
    client = TestClient.new("partner", kind="rsa", jwks=None, jwks_uri=JWKS_URI)
    publisher = Publisher(client.key)
    settings = make_settings("intake", auth_clients_file=registry_file(tmp_path, [client]))
    async with running_app("intake", settings) as app:
        authenticator = app.state.authenticator
        await authenticator.http.aclose()
        authenticator.http = httpx.AsyncClient(transport=httpx.MockTransport(publisher.handle))
        yield app, client, publisher


async def token_status(app: FastAPI, assertion: str) -> tuple[int, dict[str, str]]:
    async with origin_client(app) as http:
        response = await http.post("/auth/token", data=token_form(assertion))
    return response.status_code, response.json()


async def test_a_client_with_a_jwks_uri_gets_tokens_and_its_keys_are_fetched_once(
    setup: tuple[FastAPI, TestClient, Publisher],
) -> None:
    app, client, publisher = setup

    for _ in range(3):
        assert (await token_status(app, client.assertion()))[0] == 200

    assert publisher.requests == 1


async def test_a_rotated_client_key_is_fetched_when_an_assertion_names_it(
    setup: tuple[FastAPI, TestClient, Publisher],
) -> None:
    app, client, publisher = setup
    assert (await token_status(app, client.assertion()))[0] == 200
    rotated = new_key("ec")
    publisher.keys = [rotated]

    status, _ = await token_status(app, client.assertion(key=rotated))
    old_status, answer = await token_status(app, client.assertion())

    assert status == 200
    assert publisher.requests >= 2
    assert old_status == 401
    assert "no registered key has this kid" in answer["error_description"]


async def test_a_client_whose_keys_cannot_be_fetched_gets_no_token(
    setup: tuple[FastAPI, TestClient, Publisher],
) -> None:
    app, client, publisher = setup
    publisher.down = True

    status, answer = await token_status(app, client.assertion())

    assert status == 401
    assert answer["error"] == "invalid_client"
    assert "could not be fetched" in answer["error_description"]


def test_a_jwks_document_holding_a_private_key_is_not_a_key_set() -> None:
    jwk = new_key("ec").public_jwk | {"d": "the-private-part"}

    with pytest.raises(KeyRejected, match="private"):
        KeySet.parse({"keys": [jwk]}, algorithms={"ES384"})
