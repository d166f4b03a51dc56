"""Key sets published at a URL: a client's `jwks_uri`, the OpenID Connect provider's JWKS.

Fetched asynchronously with httpx (never a blocking fetch inside the event loop), reused for
a while, and fetched again early when a token names a key id the set lacks -- the way a
signer announces a new key -- but at most every few seconds, so that tokens naming made-up
key ids cannot turn the server into a fetching machine.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

import httpx

from shared.smart.keys import KeyRejected, KeySet

log = logging.getLogger("teleradiology.auth")

MAX_JWKS_BYTES = 256 * 1024
UNKNOWN_KID_REFETCH_SECONDS = 10.0


class JwksUnavailable(RuntimeError):
    """The key set could not be fetched, and none was fetched before."""


class RemoteJwks:
    """The key set at `url`, reused for `ttl_seconds`."""

    def __init__(
        self,
        url: str,
        *,
        algorithms: Iterable[str],
        ttl_seconds: float,
        refetch_seconds: float | None = None,
    ) -> None:
        self.url = url
        self.algorithms = frozenset(algorithms)
        self.ttl_seconds = ttl_seconds
        self.refetch_seconds = (
            UNKNOWN_KID_REFETCH_SECONDS if refetch_seconds is None else refetch_seconds
        )
        self._keys: KeySet | None = None
        self._attempted_at: float | None = None  # the last fetch, successful or not
        self._lock = asyncio.Lock()

    async def key(self, http: httpx.AsyncClient, kid: str, algorithm: str) -> Any:
        """The public key `kid` for an `algorithm` signature (KeyRejected when there is
        none or it does not fit); JwksUnavailable when the set cannot be had."""
        if self._due(kid):
            async with self._lock:  # one fetch at a time, however many requests wait
                if self._due(kid):
                    await self._refresh(http)
        if self._keys is None:
            raise JwksUnavailable("the key set could not be fetched")
        return self._keys.key(kid, algorithm)

    def _due(self, kid: str) -> bool:
        if self._attempted_at is None:
            return True
        age = time.monotonic() - self._attempted_at
        if self._keys is None or kid not in self._keys.keys:
            return age >= min(self.refetch_seconds, self.ttl_seconds)
        return age >= self.ttl_seconds

    async def _refresh(self, http: httpx.AsyncClient) -> None:
        self._attempted_at = time.monotonic()
        try:
            self._keys = await self._fetch(http)
        except (httpx.HTTPError, ValueError) as error:
            # Keep the last good set: a provider's hiccup must not log everyone out.
            log.warning("jwks fetch failed", extra={"error_type": type(error).__name__})

    async def _fetch(self, http: httpx.AsyncClient) -> KeySet:
        response = await http.get(self.url, headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise ValueError(f"HTTP {response.status_code}")
        if len(response.content) > MAX_JWKS_BYTES:
            raise ValueError("the key set is too large")
        try:
            return KeySet.parse(response.json(), algorithms=self.algorithms)
        except KeyRejected as error:
            raise ValueError(str(error)) from None


def jwks_http_client(timeout_seconds: float = 5.0) -> httpx.AsyncClient:
    """The client key sets are fetched with: no proxies from the environment, no redirects."""
    return httpx.AsyncClient(timeout=timeout_seconds, trust_env=False, follow_redirects=False)
