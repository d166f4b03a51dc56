"""User tokens of the external OpenID Connect provider (OIDC_ISSUER, OIDC_JWKS_URL).

A bearer JWT whose `iss` is the provider is checked against the provider's published keys
(RS256, RS384, ES256 or ES384, each only with its kind of key), its `aud` (OIDC_AUDIENCE)
and `exp`. Its `fhirUser` claim must name a Practitioner -- `Practitioner/<id>`, or that
reference under this platform's FHIR base -- and the user becomes a radiologist Principal.
The token's scopes (`scope`, or a `scp` list) are narrowed to OIDC_SCOPES; a token that
carries none is granted OIDC_SCOPES, as a client requesting nothing gets its registration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
import jwt

from shared.auth import Principal
from shared.smart.jwks import RemoteJwks
from shared.smart.keys import KeyRejected
from shared.smart.scopes import narrow
from shared.smart.tokens import CLOCK_SKEW_SECONDS

OIDC_ALGORITHMS = frozenset({"RS256", "RS384", "ES256", "ES384"})
_PRACTITIONER = re.compile(r"^Practitioner/[A-Za-z0-9\-.]{1,64}$")
_REQUIRED = ["exp", "iss", "aud", "sub"]


def practitioner_reference(fhir_user: Any, fhir_base: str) -> str:
    """`fhirUser` as `Practitioner/<id>`; ValueError unless it names one on this platform."""
    if isinstance(fhir_user, str) and fhir_user.startswith(f"{fhir_base}/"):
        fhir_user = fhir_user.removeprefix(f"{fhir_base}/")
    if not isinstance(fhir_user, str) or not _PRACTITIONER.match(fhir_user):
        raise ValueError("the user token's fhirUser is not a Practitioner of this platform")
    return fhir_user


def _requested_scopes(claims: Mapping[str, Any]) -> list[str] | None:
    scope, scp = claims.get("scope"), claims.get("scp")
    if isinstance(scope, str):
        return scope.split()
    if isinstance(scp, list) and all(isinstance(s, str) for s in scp):
        return list(scp)
    return None


class OidcVerifier:
    """Checks the provider's user tokens; the key set is fetched when first needed."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks: RemoteJwks,
        max_scopes: Iterable[str],
        fhir_base: str,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwks
        self.max_scopes = tuple(max_scopes)
        self.fhir_base = fhir_base

    async def claims(
        self, token: str, header: Mapping[str, Any], http: httpx.AsyncClient
    ) -> dict[str, Any]:
        """The verified claims of a user token; a PyJWT error, KeyRejected or
        JwksUnavailable when it cannot be accepted."""
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in OIDC_ALGORITHMS or not isinstance(kid, str):
            raise KeyRejected("the user token's algorithm or key id is not accepted")
        key = await self.jwks.key(http, kid, str(algorithm))
        return jwt.decode(
            token,
            key,
            algorithms=[str(algorithm)],
            audience=self.audience,
            issuer=self.issuer,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": _REQUIRED},
        )

    def principal(self, claims: Mapping[str, Any]) -> Principal:
        """The radiologist a user token's verified claims describe; ValueError if none."""
        requested = _requested_scopes(claims)
        client = claims.get("azp") or claims.get("client_id")
        return Principal(
            client_id=str(client) if client else "oidc",
            scopes=narrow(self.max_scopes if requested is None else requested, self.max_scopes),
            role="radiologist",
            fhir_user=practitioner_reference(claims.get("fhirUser"), self.fhir_base),
            user=str(claims["sub"]),
        )
