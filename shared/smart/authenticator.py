"""A bearer token to the Principal it proves, for every request of every service.

Two kinds of token are accepted: the platform's own access tokens (tokens.py) and, when
configured, the OpenID Connect provider's user tokens (oidc.py); the unverified `iss` says
which checks apply, and only those decide. Everything is local: the platform's keys are
parsed once, the provider's key set is fetched only when a token names a key it lacks, and
a verified token is remembered until it expires, so a client reusing its token for many
requests costs one signature check.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt

from shared.auth import Principal
from shared.fhir.outcomes import FhirError, unauthorized, unavailable
from shared.settings import ServiceSettings
from shared.smart.config import platform_verify_keys
from shared.smart.jwks import JwksUnavailable, RemoteJwks, jwks_http_client
from shared.smart.keys import KeyRejected
from shared.smart.oidc import OIDC_ALGORITHMS, OidcVerifier
from shared.smart.scopes import split_scopes
from shared.smart.tokens import (
    AccessTokenVerifier,
    platform_audience,
    platform_issuer,
    principal_from_claims,
)

CACHE_SIZE = 4096


def invalid_token(diagnostics: str) -> FhirError:
    """401 telling the client its bearer token is not accepted (RFC 6750 invalid_token)."""
    error = unauthorized(diagnostics)
    error.headers = {"WWW-Authenticate": 'Bearer realm="fhir", error="invalid_token"'}
    return error


class Authenticator:
    """Verifies bearer tokens; built in the app's lifespan (it owns an HTTP client)."""

    def __init__(
        self,
        *,
        platform: AccessTokenVerifier | None,
        oidc: OidcVerifier | None,
        http: httpx.AsyncClient,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self.platform = platform
        self.oidc = oidc
        self.http = http  # also fetches the token endpoint's clients' jwks_uri
        self.cache_size = cache_size
        self._verified: dict[str, tuple[Principal, float]] = {}

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Authenticator:
        """The authenticator `settings` describe."""
        keys = platform_verify_keys(settings)
        platform = None
        if keys is not None:
            platform = AccessTokenVerifier(
                keys, issuer=platform_issuer(settings), audience=platform_audience(settings)
            )
        oidc = None
        if settings.oidc_issuer and settings.oidc_jwks_url and settings.oidc_audience:
            jwks = RemoteJwks(
                settings.oidc_jwks_url,
                algorithms=OIDC_ALGORITHMS,
                ttl_seconds=settings.auth_jwks_cache_seconds,
            )
            oidc = OidcVerifier(
                issuer=settings.oidc_issuer,
                audience=settings.oidc_audience,
                jwks=jwks,
                max_scopes=split_scopes(settings.oidc_scopes),
                fhir_base=platform_audience(settings),
            )
        return cls(platform=platform, oidc=oidc, http=jwks_http_client())

    async def principal(self, token: str) -> Principal:
        """The Principal `token` proves; 401 (invalid_token) when it proves none."""
        known = self._verified.get(token)
        if known is not None and known[1] > time.time():
            return known[0]
        try:
            header = jwt.get_unverified_header(token)
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
            principal, expires = await self._verify(token, header, issuer)
        except jwt.ExpiredSignatureError:
            raise invalid_token("The bearer token has expired") from None
        except (jwt.PyJWTError, KeyRejected, ValueError):
            raise invalid_token("The bearer token is not valid") from None
        except JwksUnavailable:
            error = unavailable("The identity provider's keys cannot be fetched; retry later")
            error.headers = {"Retry-After": "5"}
            raise error from None
        self._remember(token, principal, expires)
        return principal

    async def _verify(
        self, token: str, header: dict[str, Any], issuer: Any
    ) -> tuple[Principal, float]:
        if self.oidc is not None and issuer == self.oidc.issuer:
            claims = await self.oidc.claims(token, header, self.http)
            return self.oidc.principal(claims), float(claims["exp"])
        if self.platform is not None and issuer == self.platform.issuer:
            claims = self.platform.claims(token, header)
            return principal_from_claims(claims), float(claims["exp"])
        raise ValueError("the token's issuer is not trusted")

    def _remember(self, token: str, principal: Principal, expires: float) -> None:
        if len(self._verified) >= self.cache_size:
            now = time.time()
            self._verified = {t: v for t, v in self._verified.items() if v[1] > now}
            while len(self._verified) >= self.cache_size:
                del self._verified[next(iter(self._verified))]  # the oldest
        self._verified[token] = (principal, expires)

    async def aclose(self) -> None:
        await self.http.aclose()
