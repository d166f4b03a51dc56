"""Bearer tokens for tests: the platform's access token for any Principal, and client keys.

Every service a test starts with `make_settings` (tests/fixtures.py) verifies access tokens
with the suite's platform key (`TEST_VERIFY_JWKS`) and intake signs with it
(`TEST_SIGNING_PEM`), so a test that needs a caller with some role, organizations or scopes
signs the token directly -- no token endpoint, no client registry:

    headers = bearer(role="facility", organizations={"Organization/abc"},
                     scopes="system/ServiceRequest.cruds system/Patient.cruds")
    await client.get("/ServiceRequest", headers=headers)

    token = issue_token(Principal(client_id="ehr-1", scopes=frozenset({"system/*.rs"}),
                                  role="facility", organizations=frozenset({"Organization/abc"})))

The token is exactly what /auth/token issues (shared/smart/tokens.py): same claims, same
issuer and audience for the settings given (PUBLIC_BASE_URL; `http://localhost` unset).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared.auth import Principal
from shared.settings import ServiceSettings
from shared.smart.keys import SigningKey
from shared.smart.tokens import issue_access_token, platform_audience, platform_issuer


def private_pem(kind: str = "ec") -> str:
    """A fresh unencrypted PEM private key: "ec" (P-384, ES384) or "rsa" (2048, RS384)."""
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if kind == "ec":
        key = ec.generate_private_key(ec.SECP384R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def new_key(kind: str = "ec") -> SigningKey:
    """A fresh signing key (a test client's, or another platform's)."""
    return SigningKey.from_pem(private_pem(kind))


# The suite's platform key pair: generated per test run, never the development one.
TEST_SIGNING_PEM = private_pem("ec")
TEST_SIGNING_KEY = SigningKey.from_pem(TEST_SIGNING_PEM)
TEST_VERIFY_JWKS = json.dumps(TEST_SIGNING_KEY.jwks())


def as_principal(
    principal: Principal | None = None,
    *,
    client_id: str = "test-client",
    scopes: str | Iterable[str] = "system/*.cruds",
    role: str = "system",
    organizations: Iterable[str] = (),
    fhir_user: str | None = None,
) -> Principal:
    """`principal`, or one built from the keywords (scopes as a list or space-separated)."""
    if principal is not None:
        return principal
    return Principal(
        client_id=client_id,
        scopes=frozenset(scopes.split() if isinstance(scopes, str) else scopes),
        role=role,  # type: ignore[arg-type]
        organizations=frozenset(organizations),
        fhir_user=fhir_user,
    )


def issue_token(
    principal: Principal | None = None,
    *,
    settings: ServiceSettings | None = None,
    key: SigningKey = TEST_SIGNING_KEY,
    lifetime_seconds: int = 300,
    now: float | None = None,
    **fields: Any,
) -> str:
    """An access token for `principal` (or one described by `fields`, see `as_principal`)
    as the platform's token endpoint would issue it, signed with `key`."""
    settings = settings or ServiceSettings.model_construct()
    return issue_access_token(
        key,
        as_principal(principal, **fields),
        issuer=platform_issuer(settings),
        audience=platform_audience(settings),
        now=int(time.time() if now is None else now),
        lifetime_seconds=lifetime_seconds,
    )


def bearer(principal: Principal | None = None, **fields: Any) -> dict[str, str]:
    """The Authorization header of `issue_token(principal, **fields)`."""
    return {"Authorization": f"Bearer {issue_token(principal, **fields)}"}


# -- forgeries: what an attacker sends ---------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def unsigned_jwt(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A JWT without signature (`alg: none` in `header`, or anything else claimed)."""
    return f"{_segments(header, claims)}."


def public_key_as_hmac_secret(key: SigningKey, claims: dict[str, Any], algorithm: str) -> str:
    """`claims` "signed" with HMAC (`algorithm` HS256/384/512) using `key`'s public key PEM
    as the secret: what a verifier that lets the token choose its algorithm would accept."""
    secret = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = _segments({"alg": algorithm, "typ": "JWT", "kid": key.kid}, claims)
    digest = getattr(hashlib, f"sha{algorithm[2:]}")
    signature = hmac.new(secret, signing_input.encode(), digest).digest()
    return f"{signing_input}.{_b64(signature)}"


def claims_of(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified (to forge a variant of a real one)."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded
