"""The authentication settings refuse, at start-up, what would be unsafe or unusable: outside
development the platform's public keys must be configured and the committed development
keys -- the platform's or a client's -- are refused, as SERVICE_TOKEN's default is."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from services.intake.app import create_app as create_intake
from shared.settings import ServiceSettings
from shared.smart.config import clients_file, platform_signing_key, platform_verify_keys
from shared.smart.development import (
    DEV_CLIENTS_FILE,
    DEV_PLATFORM_THUMBPRINT,
    DEV_SIGNING_KEY_FILE,
)
from shared.smart.keys import SigningKey
from tests.support.clients import TestClient, registry_file
from tests.support.tokens import TEST_SIGNING_PEM, TEST_VERIFY_JWKS, new_key, private_pem

DEV_PEM = DEV_SIGNING_KEY_FILE.read_text()
DEV_JWKS = json.dumps(SigningKey.from_pem(DEV_PEM).jwks())
SECRETS: dict[str, Any] = {
    "database_url": "postgresql://intake:pw@db:5432/intake",
    "audit_database_url": "postgresql://audit:pw@db:5432/audit",
    "service_token": "a-real-service-token-of-32-characters-or-more",
    "events_signing_secret": "a-real-events-signing-secret-of-40-chars!",
}


def outside_development(environment: str = "production", **values: Any) -> ServiceSettings:
    return ServiceSettings(**({"environment": environment} | SECRETS | values))


def refusal(**values: Any) -> str:
    with pytest.raises(ValidationError) as refused:
        outside_development(**values)
    return str(refused.value)


def test_development_uses_the_committed_development_key_pair() -> None:
    settings = ServiceSettings(environment="development")

    signing = platform_signing_key(settings)
    verify = platform_verify_keys(settings)

    assert signing is not None and signing.kid == DEV_PLATFORM_THUMBPRINT
    assert verify is not None and verify.thumbprints() == {DEV_PLATFORM_THUMBPRINT}
    assert clients_file(settings) == DEV_CLIENTS_FILE


@pytest.mark.parametrize("environment", ["test", "production"])
def test_outside_development_the_platforms_public_keys_must_be_configured(
    environment: str,
) -> None:
    assert "AUTH_VERIFY_JWKS must be set outside development" in refusal(environment=environment)

    settings = outside_development(environment, auth_verify_jwks=TEST_VERIFY_JWKS)
    assert platform_signing_key(settings) is None  # only intake signs: it must set it
    assert clients_file(settings) is None


@pytest.mark.parametrize(
    "values",
    [
        {"auth_verify_jwks": DEV_JWKS},
        {"auth_signing_key": DEV_PEM, "auth_verify_jwks": DEV_JWKS},
        {
            "auth_signing_key": TEST_SIGNING_PEM,
            "auth_verify_jwks": json.dumps(
                {"keys": [json.loads(TEST_VERIFY_JWKS)["keys"][0], json.loads(DEV_JWKS)["keys"][0]]}
            ),
        },
    ],
    ids=["dev public key", "dev key pair", "dev key among others"],
)
def test_the_development_key_pair_is_refused_outside_development(values: dict[str, Any]) -> None:
    assert "development key pair" in refusal(**values)


def test_the_verify_keys_must_hold_the_signing_keys_public_half() -> None:
    message = refusal(auth_signing_key=private_pem("ec"), auth_verify_jwks=TEST_VERIFY_JWKS)

    assert "AUTH_VERIFY_JWKS does not hold the public key of AUTH_SIGNING_KEY" in message


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"auth_signing_key": "not a key"}, "AUTH_SIGNING_KEY"),
        ({"auth_verify_jwks": "{not json"}, "AUTH_VERIFY_JWKS"),
        ({"auth_verify_jwks": '{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}'}, "AUTH_VERIFY_JWKS"),
        ({"auth_verify_jwks": json.dumps({"keys": [{"alg": "HS256"}]})}, "AUTH_VERIFY_JWKS"),
        ({"access_token_seconds": 301}, "access_token_seconds"),
        ({"oidc_issuer": "https://idp.example"}, "OIDC_ISSUER, OIDC_JWKS_URL and OIDC_AUDIENCE"),
        (
            {
                "oidc_issuer": "https://idp.example",
                "oidc_audience": "api",
                "oidc_jwks_url": "http://idp.example/jwks",
            },
            "OIDC_JWKS_URL must be an https URL",
        ),
        ({"oidc_scopes": "openid user/Task.rs"}, "OIDC_SCOPES"),
    ],
)
def test_unusable_auth_settings_are_refused_naming_the_variable(
    values: dict[str, Any], named: str
) -> None:
    assert named in refusal(**({"auth_verify_jwks": TEST_VERIFY_JWKS} | values))


def test_a_signing_key_must_be_p384_or_rsa() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )

    assert "P-384" in refusal(auth_signing_key=p256.decode(), auth_verify_jwks=TEST_VERIFY_JWKS)


def test_settings_from_the_environment_treat_empty_values_as_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AUTH_SIGNING_KEY", "AUTH_CLIENTS_FILE", "OIDC_ISSUER"):
        monkeypatch.setenv(name, "")  # what docker compose passes for an unset ${VAR:-}
    monkeypatch.setenv("AUTH_VERIFY_JWKS", TEST_VERIFY_JWKS)

    settings = outside_development()

    assert settings.auth_signing_key is None and settings.oidc_issuer is None
    assert platform_verify_keys(settings) is not None


# -- the token endpoint's host ----------------------------------------------------------


def test_intake_will_not_start_without_a_signing_key_outside_development() -> None:
    settings = outside_development(auth_verify_jwks=TEST_VERIFY_JWKS)

    with pytest.raises(ValueError, match="AUTH_SIGNING_KEY must be set"):
        create_intake(settings)


def test_intake_refuses_development_clients_outside_development() -> None:
    settings = outside_development(
        auth_signing_key=TEST_SIGNING_PEM,
        auth_verify_jwks=TEST_VERIFY_JWKS,
        auth_clients_file=DEV_CLIENTS_FILE,
    )

    with pytest.raises(ValueError, match="development keys are refused"):
        create_intake(settings)


def test_intake_refuses_a_plain_http_jwks_uri_outside_development(tmp_path: Path) -> None:
    client = TestClient.new("remote", jwks=None, jwks_uri="http://keys.example/jwks")
    settings = outside_development(
        auth_signing_key=TEST_SIGNING_PEM,
        auth_verify_jwks=TEST_VERIFY_JWKS,
        auth_clients_file=registry_file(tmp_path, [client]),
    )

    with pytest.raises(ValueError, match="jwks_uri must be https"):
        create_intake(settings)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"role": "facility"}, "needs its organizations"),
        ({"role": "radiologist"}, "needs its fhir_user"),
        ({"organizations": ["Patient/1"]}, "is not Organization"),
        ({"fhir_user": "Organization/1"}, "is not Practitioner"),
        ({"scopes": ["system/Task.rs", "launch"]}, "not SMART resource scopes"),
        ({"jwks_uri": "https://keys.example/jwks"}, "exactly one of jwks and jwks_uri"),
        ({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, "private or symmetric"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_a_malformed_registration_stops_intake_naming_it(
    tmp_path: Path,
    make_settings: Callable[..., ServiceSettings],
    change: dict[str, Any],
    named: str,
) -> None:
    client = TestClient.new("bad-client", **change)
    settings = make_settings("intake", auth_clients_file=registry_file(tmp_path, [client]))

    with pytest.raises(ValueError, match=named):
        create_intake(settings)


def test_a_client_registered_twice_stops_intake(
    tmp_path: Path, make_settings: Callable[..., ServiceSettings]
) -> None:
    twice = [TestClient.new("same"), TestClient.new("same")]
    settings = make_settings("intake", auth_clients_file=registry_file(tmp_path, twice))

    with pytest.raises(ValueError, match="appears twice"):
        create_intake(settings)


def test_a_key_for_rotation_can_sign_while_its_predecessor_still_verifies() -> None:
    pem = private_pem("ec")
    new, old = SigningKey.from_pem(pem), new_key("rsa")
    jwks = json.dumps({"keys": [new.public_jwk, old.public_jwk]})

    settings = outside_development(auth_signing_key=pem, auth_verify_jwks=jwks)

    verify = platform_verify_keys(settings)
    assert verify is not None and verify.thumbprints() == {new.kid, old.kid}
