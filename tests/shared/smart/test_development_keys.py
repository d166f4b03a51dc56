"""The committed development material (deploy/dev/auth/) is consistent: the thumbprints the
settings refuse outside development are those of the files, the public key set is the
signing key's, and each development client is registered with its own key."""

from __future__ import annotations

import json

import pytest

from scripts.dev_token import client_table, development_clients, gateway_origins
from shared.smart.clients import load_clients
from shared.smart.development import (
    DEV_AUTH_DIR,
    DEV_CLIENT_KEYS_DIR,
    DEV_CLIENT_THUMBPRINTS,
    DEV_CLIENTS_FILE,
    DEV_PLATFORM_THUMBPRINT,
    DEV_SIGNING_KEY_FILE,
)
from shared.smart.keys import PLATFORM_ALGORITHMS, KeySet, SigningKey


def test_the_refused_thumbprints_are_those_of_the_committed_keys() -> None:
    platform = SigningKey.from_pem(DEV_SIGNING_KEY_FILE.read_text())
    clients = {SigningKey.from_pem(p.read_text()).kid for p in DEV_CLIENT_KEYS_DIR.glob("*.pem")}

    assert platform.kid == DEV_PLATFORM_THUMBPRINT
    assert clients == DEV_CLIENT_THUMBPRINTS


def test_the_development_jwks_is_the_signing_keys_public_half() -> None:
    published = json.loads((DEV_AUTH_DIR / "platform-jwks.json").read_text())
    keys = KeySet.parse(published, algorithms=PLATFORM_ALGORITHMS)

    assert keys.thumbprints() == {DEV_PLATFORM_THUMBPRINT}


def test_each_development_client_is_registered_with_its_own_key() -> None:
    clients = load_clients(DEV_CLIENTS_FILE, development=True, jwks_ttl_seconds=60)

    assert set(clients) == {p.stem for p in DEV_CLIENT_KEYS_DIR.glob("*.pem")}
    roles = {c.registration.role for c in clients.values()}
    assert roles == {"facility", "vendor", "radiologist", "admin", "auditor"}
    for client_id, client in clients.items():
        key = SigningKey.from_pem((DEV_CLIENT_KEYS_DIR / f"{client_id}.pem").read_text())
        assert isinstance(client.keys, KeySet)
        assert client.keys.key(key.kid, key.algorithm) is not None, client_id


def test_make_token_lists_each_client_with_its_role() -> None:
    table = client_table(development_clients())

    for client in development_clients():
        assert client["client_id"] in table
    assert "vendor-nightwatch      vendor" in table


@pytest.mark.parametrize(
    ("env", "origins"),
    [
        ({}, ("http://127.0.0.1:8080", "http://127.0.0.1:8080")),
        ({"GATEWAY_PORT": "9090", "RUN_HOST": "0.0.0.0"}, ("http://127.0.0.1:9090",) * 2),
        (
            {"PUBLIC_BASE_URL": "http://fhir.localhost/"},
            ("http://127.0.0.1:8080", "http://fhir.localhost"),
        ),
    ],
)
def test_make_token_asks_where_make_run_serves(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], origins: tuple[str, str]
) -> None:
    for name in ("GATEWAY_PORT", "RUN_HOST", "PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    assert gateway_origins() == origins
