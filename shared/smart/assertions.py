"""The checks of a client's signed assertion: SMART Backend Services client authentication
(https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html, RFC 7523).

The assertion is a JWT the client signs with its registered private key: RS384 or ES384
only, and only with a key of that kind (`kid` names a key registered for the client);
`iss` and `sub` are the client_id, `aud` the token endpoint's URL, `exp` at most five
minutes ahead, `jti` unique (replays are refused by replay.py). Any failure is
`invalid_client`: the client is not authenticated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt

from shared.smart.clients import RegisteredClient
from shared.smart.errors import invalid_client
from shared.smart.jwks import JwksUnavailable
from shared.smart.keys import PLATFORM_ALGORITHMS, KeyRejected
from shared.smart.replay import MAX_JTI_LENGTH
from shared.smart.tokens import CLOCK_SKEW_SECONDS

MAX_ASSERTION_LIFETIME_SECONDS = 300
_REQUIRED = ["iss", "sub", "aud", "exp", "jti"]


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    """An assertion whose signature and claims passed every check but replay."""

    client: RegisteredClient
    jti: str
    expires_at: datetime


def _unverified(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise invalid_client("The client assertion is not a signed JWT") from None
    return header, claims


def _client(claims: Mapping[str, Any], clients: Mapping[str, RegisteredClient]) -> RegisteredClient:
    issuer, subject = claims.get("iss"), claims.get("sub")
    if not isinstance(issuer, str) or issuer != subject:
        raise invalid_client("The assertion's iss and sub must both be the client_id")
    client = clients.get(issuer)
    if client is None:
        raise invalid_client("The client is not registered")
    return client


async def _key(client: RegisteredClient, header: Mapping[str, Any], http: httpx.AsyncClient) -> Any:
    algorithm, kid = header.get("alg"), header.get("kid")
    if algorithm not in PLATFORM_ALGORITHMS:
        raise invalid_client("The assertion must be signed with RS384 or ES384")
    if not isinstance(kid, str) or not kid:
        raise invalid_client("The assertion's header must name its key (kid)")
    try:
        return await client.key(http, kid, str(algorithm))
    except KeyRejected as error:
        raise invalid_client(f"The assertion's key is not acceptable: {error}") from None
    except JwksUnavailable:
        raise invalid_client("The client's registered jwks_uri could not be fetched") from None


def _verified_claims(
    assertion: str, key: Any, algorithm: str, client_id: str, token_url: str
) -> dict[str, Any]:
    try:
        return jwt.decode(
            assertion,
            key,
            algorithms=[algorithm],
            audience=token_url,
            issuer=client_id,
            subject=client_id,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": _REQUIRED},
        )
    except jwt.MissingRequiredClaimError as error:
        raise invalid_client(f"The assertion lacks its {error.claim} claim") from None
    except jwt.ExpiredSignatureError:
        raise invalid_client("The assertion has expired") from None
    except jwt.InvalidAudienceError:
        raise invalid_client(f"The assertion's aud must be {token_url}") from None
    except jwt.InvalidSignatureError:
        raise invalid_client("The assertion's signature does not verify") from None
    except jwt.PyJWTError:
        raise invalid_client("The assertion is not valid") from None


async def verify_client_assertion(
    assertion: str,
    *,
    clients: Mapping[str, RegisteredClient],
    token_url: str,
    http: httpx.AsyncClient,
    now: float,
) -> VerifiedAssertion:
    """The registered client that signed `assertion` for `token_url`; invalid_client
    naming the rule it broke otherwise."""
    header, unverified = _unverified(assertion)
    client = _client(unverified, clients)
    key = await _key(client, header, http)
    claims = _verified_claims(assertion, key, str(header["alg"]), client.client_id, token_url)
    expires = claims["exp"]
    if expires > now + MAX_ASSERTION_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS:
        raise invalid_client("The assertion's exp may be at most 5 minutes ahead")
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise invalid_client(f"The assertion's jti must be a string of 1 to {MAX_JTI_LENGTH}")
    return VerifiedAssertion(client, jti, datetime.fromtimestamp(expires, UTC))
