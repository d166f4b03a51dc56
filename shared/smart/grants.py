"""The token endpoint's work: a client-credentials request in, an access token out.

RFC 6749 section 4.4 with SMART Backend Services client authentication: the form names
`grant_type=client_credentials`, the assertion type and the signed `client_assertion`
(assertions.py), and optionally `scope`. The assertion's `jti` is claimed (replay.py),
the granted scopes are the request narrowed to the registration (scopes.py), the
registration's organizations and fhirUser are resolved (resolve.py), and a short-lived
access token says all of it (tokens.py). No refresh token: a client asks again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request

from shared.auth import Principal
from shared.settings import ServiceSettings
from shared.smart.assertions import VerifiedAssertion, verify_client_assertion
from shared.smart.client_assertion import ASSERTION_TYPE
from shared.smart.clients import ClientRegistry, RegisteredClient
from shared.smart.config import clients_file, platform_signing_key
from shared.smart.errors import (
    invalid_client,
    invalid_request,
    invalid_scope,
    unsupported_grant_type,
)
from shared.smart.keys import SigningKey
from shared.smart.replay import claim_assertion
from shared.smart.resolve import resolve_reference
from shared.smart.scopes import narrow, split_scopes
from shared.smart.tokens import issue_access_token, platform_audience, platform_issuer
from shared.smart.urls import token_url

FORM = "application/x-www-form-urlencoded"
_FIELDS = ("grant_type", "client_assertion_type", "client_assertion", "scope", "client_id")


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """The parameters of a token request."""

    client_assertion: str
    scope: str | None
    client_id: str | None


def parse_token_request(body: bytes, content_type: str) -> TokenRequest:
    """The token request a form body holds; an OAuthError naming what is wrong."""
    if content_type.split(";")[0].strip().lower() != FORM:
        raise invalid_request(f"The token request is a form ({FORM})")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise invalid_request("The form is malformed") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form and name in _FIELDS:
            raise invalid_request(f"The parameter {name} is given more than once")
        form[name] = value
    grant_type = form.get("grant_type")
    if not grant_type:
        raise invalid_request("grant_type is required")
    if grant_type != "client_credentials":
        raise unsupported_grant_type("Only grant_type=client_credentials is supported")
    if not form.get("client_assertion"):
        raise invalid_request("client_assertion is required (private_key_jwt)")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise invalid_request(f"client_assertion_type must be {ASSERTION_TYPE}")
    return TokenRequest(form["client_assertion"], form.get("scope"), form.get("client_id"))


def granted_scopes(requested: str | None, registered: tuple[str, ...]) -> frozenset[str]:
    """The scopes granted for `requested` (all registered ones when nothing is requested);
    invalid_scope when nothing requested is within the registration."""
    asked = split_scopes(requested)
    granted = narrow(asked or registered, registered)
    if not granted:
        raise invalid_scope("None of the requested scopes is within the client's registration")
    return granted


class TokenService:
    """Issues the platform's access tokens to the registered clients."""

    def __init__(
        self,
        *,
        registry: ClientRegistry,
        signing_key: SigningKey,
        issuer: str,
        audience: str,
        lifetime_seconds: int,
        owners: Mapping[str, str],
    ) -> None:
        self.registry = registry
        self.signing_key = signing_key
        self.issuer = issuer
        self.audience = audience
        self.lifetime_seconds = lifetime_seconds
        self.owners = owners

    @classmethod
    def from_settings(cls, settings: ServiceSettings, *, owners: Mapping[str, str]) -> TokenService:
        """The token service `settings` describe; ValueError when it cannot sign or its
        client registry is malformed or unsafe. `owners`: the service keeping each type a
        registration may name that this one does not keep (e.g. Practitioner)."""
        signing_key = platform_signing_key(settings)
        if signing_key is None:
            raise ValueError("AUTH_SIGNING_KEY must be set where /auth/token is served")
        registry = ClientRegistry(
            clients_file(settings),
            development=settings.environment == "development",
            jwks_ttl_seconds=settings.auth_jwks_cache_seconds,
        )
        return cls(
            registry=registry,
            signing_key=signing_key,
            issuer=platform_issuer(settings),
            audience=platform_audience(settings),
            lifetime_seconds=settings.access_token_seconds,
            owners=owners,
        )

    async def issue(self, request: Request, token_request: TokenRequest) -> dict[str, Any]:
        """The token response (RFC 6749 section 5.1) to `token_request`; an OAuthError
        naming the rule it broke otherwise."""
        now = time.time()
        verified = await verify_client_assertion(
            token_request.client_assertion,
            clients=self.registry.clients(),  # a withdrawn client gets no more tokens
            token_url=token_url(request),
            http=request.app.state.authenticator.http,
            now=now,
        )
        if token_request.client_id not in (None, verified.client.client_id):
            raise invalid_client("client_id is not the assertion's issuer")
        registration = verified.client.registration
        scopes = granted_scopes(token_request.scope, registration.scopes)
        await self._claim(request, verified, now)
        organizations = [await self._resolve(request, o) for o in registration.organizations]
        fhir_user = registration.fhir_user
        principal = Principal(
            client_id=registration.client_id,
            scopes=scopes,
            role=registration.role,
            organizations=frozenset(organizations),
            fhir_user=await self._resolve(request, fhir_user) if fhir_user else None,
        )
        token = issue_access_token(
            self.signing_key,
            principal,
            issuer=self.issuer,
            audience=self.audience,
            now=int(now),
            lifetime_seconds=self.lifetime_seconds,
        )
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.lifetime_seconds,
            "scope": " ".join(sorted(scopes)),
        }

    async def _claim(self, request: Request, verified: VerifiedAssertion, now: float) -> None:
        async with request.app.state.database.transaction() as session:
            fresh = await claim_assertion(
                session,
                client_id=verified.client.client_id,
                jti=verified.jti,
                expires_at=verified.expires_at,
                now=datetime.fromtimestamp(now, UTC),
            )
        if not fresh:
            raise invalid_client("The assertion was used before (its jti is spent)")

    async def _resolve(self, request: Request, reference: str) -> str:
        return await resolve_reference(request, reference, owners=self.owners)

    @property
    def clients(self) -> Mapping[str, RegisteredClient]:
        """The clients registered now."""
        return self.registry.clients()
