"""The platform's access tokens: short-lived JWTs signed with the platform's key.

A token says who holds it -- `sub` (the client), `role`, `organizations` (resolved
`Organization/<id>`s), `fhirUser`, `scope` -- so every service turns it into a Principal
locally, with the platform's public keys and no database lookup. `iss` is the platform's
public origin plus /auth and `aud` its FHIR base (PUBLIC_BASE_URL, the same in every
service; `http://localhost` when unset).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, cast, get_args

import jwt

from shared.auth import Principal, Role
from shared.settings import ServiceSettings
from shared.smart.keys import KeySet, SigningKey

LOCAL_ORIGIN = "http://localhost"
CLOCK_SKEW_SECONDS = 5
_ROLES = frozenset(get_args(Role))
_REQUIRED = ["exp", "iat", "iss", "aud", "sub", "jti"]


def platform_origin(settings: ServiceSettings) -> str:
    """The platform's public origin, the same in every service."""
    return settings.public_base_url or LOCAL_ORIGIN


def platform_issuer(settings: ServiceSettings) -> str:
    """`iss` of the platform's access tokens."""
    return f"{platform_origin(settings)}/auth"


def platform_audience(settings: ServiceSettings) -> str:
    """`aud` of the platform's access tokens: the public FHIR base."""
    return f"{platform_origin(settings)}{settings.fhir_base_path}"


def access_token_claims(
    principal: Principal, *, issuer: str, audience: str, now: int, lifetime_seconds: int
) -> dict[str, Any]:
    """The claims of an access token for `principal`, valid from `now` (epoch seconds)."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": principal.client_id,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime_seconds,
        "jti": uuid.uuid4().hex,
        "scope": " ".join(sorted(principal.scopes)),
        "role": principal.role,
        "organizations": sorted(principal.organizations),
    }
    if principal.fhir_user:
        claims["fhirUser"] = principal.fhir_user
    return claims


def issue_access_token(
    key: SigningKey,
    principal: Principal,
    *,
    issuer: str,
    audience: str,
    now: int,
    lifetime_seconds: int,
) -> str:
    """A signed access token for `principal`."""
    claims = access_token_claims(
        principal, issuer=issuer, audience=audience, now=now, lifetime_seconds=lifetime_seconds
    )
    return key.sign(claims)


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """The Principal an access token's (verified) claims describe; ValueError if malformed."""
    role, organizations = claims.get("role"), claims.get("organizations", [])
    scope, fhir_user = claims.get("scope", ""), claims.get("fhirUser")
    if role not in _ROLES or not isinstance(scope, str):
        raise ValueError("the token's role or scope is malformed")
    if not isinstance(organizations, list) or not all(isinstance(o, str) for o in organizations):
        raise ValueError("the token's organizations are malformed")
    if fhir_user is not None and not isinstance(fhir_user, str):
        raise ValueError("the token's fhirUser is malformed")
    return Principal(
        client_id=str(claims["sub"]),
        scopes=frozenset(scope.split()),
        role=cast(Role, role),
        organizations=frozenset(organizations),
        fhir_user=fhir_user,
    )


class AccessTokenVerifier:
    """Checks the platform's access tokens against its public keys."""

    def __init__(self, keys: KeySet, *, issuer: str, audience: str) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience

    def claims(self, token: str, header: Mapping[str, Any]) -> dict[str, Any]:
        """The verified claims of `token` (whose unverified `header` names key and
        algorithm); a PyJWT error, KeyRejected or ValueError when it is not valid."""
        algorithm, kid = str(header.get("alg")), str(header.get("kid"))
        key = self.keys.key(kid, algorithm)  # the algorithm must fit the key named
        return jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=self.audience,
            issuer=self.issuer,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": _REQUIRED},
        )

    def principal(self, token: str, header: Mapping[str, Any]) -> Principal:
        """The Principal of a valid access token."""
        return principal_from_claims(self.claims(token, header))
