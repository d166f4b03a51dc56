"""Rate limits per client: a token bucket per client id, kept in this process.

Each client may send `RATE_LIMIT_BURST` requests at once and `RATE_LIMIT_PER_SECOND` a
second after that; past it the answer is 429 (OperationOutcome `throttled`) with a
`Retry-After` in whole seconds. The buckets live in the process, so the limit holds per
replica: a client spread over N replicas gets up to N times the rate. A platform-wide
limit belongs in front of the replicas (the Ingress).

Requests that fail authentication (401) are counted per client address instead, so that
guessing tokens is bounded too; valid requests never spend an address's tokens (behind
the gateway many clients share one address).

Memory is bounded: a bucket left alone long enough to be full again is dropped (it is the
same as no bucket), and past `MAX_TRACKED_KEYS` the least recently used bucket goes, so a
flood of distinct client ids or addresses cannot grow the process.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from shared.fhir.outcomes import FhirError, throttled
from shared.settings import ServiceSettings

if TYPE_CHECKING:
    from shared.auth import Principal

MAX_TRACKED_KEYS = 10_000
# The platform's own services calling each other: internal traffic paced by the events'
# own back-off, which a client's limit must not starve.
EXEMPT_ROLES = frozenset({"system"})


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """Token buckets by key: `rate` tokens a second, at most `burst` saved up."""

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        max_keys: int = MAX_TRACKED_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("rate must be positive, burst and max_keys at least 1")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._refill_seconds = burst / rate
        # Least recently used first: dicts keep insertion order, and a used key is re-inserted.
        self._buckets: dict[str, _Bucket] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> float:
        """Spend one of `key`'s tokens: 0.0 if it had one, else the seconds until it will."""
        now = self._clock()
        self._drop_full(now)
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(tokens=float(self.burst), updated=now)
        else:
            refill = (now - bucket.updated) * self.rate
            bucket.tokens = min(float(self.burst), bucket.tokens + refill)
            bucket.updated = now
        self._buckets[key] = bucket
        if len(self._buckets) > self.max_keys:
            del self._buckets[next(iter(self._buckets))]
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def _drop_full(self, now: float) -> None:
        """Forget the buckets idle long enough to have refilled: keeping them changes nothing."""
        while self._buckets:
            oldest = next(iter(self._buckets))
            if now - self._buckets[oldest].updated < self._refill_seconds:
                return
            del self._buckets[oldest]


@dataclass(frozen=True, slots=True)
class RateLimiter:
    """This process's limits: buckets per client id, and per address for failed logins."""

    clients: TokenBuckets
    addresses: TokenBuckets

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> RateLimiter | None:
        """The limiter `RATE_LIMIT_PER_SECOND` / `RATE_LIMIT_BURST` ask for; None when off."""
        if settings.rate_limit_per_second <= 0:
            return None
        rate, burst = settings.rate_limit_per_second, settings.rate_limit_burst
        return cls(
            clients=TokenBuckets(rate=rate, burst=burst),
            addresses=TokenBuckets(rate=rate, burst=burst),
        )


def _limiter(request: Request) -> RateLimiter | None:
    return getattr(request.app.state, "rate_limiter", None)


def _refusal(wait_seconds: float) -> FhirError:
    return throttled(
        "Too many requests from this client; retry after the time in Retry-After",
        max(1, math.ceil(wait_seconds)),
    )


def enforce_rate_limit(request: Request, principal: Principal) -> None:
    """429 with Retry-After when `principal` has spent its requests (call after authenticating)."""
    limiter = _limiter(request)
    if limiter is None or principal.role in EXEMPT_ROLES:
        return
    wait = limiter.clients.take(principal.client_id)
    if wait:
        raise _refusal(wait)


def enforce_address_limit(request: Request) -> None:
    """429 with Retry-After when the client's address has failed authentication too often."""
    limiter = _limiter(request)
    if limiter is None:
        return
    address = request.client.host if request.client else "unknown"
    wait = limiter.addresses.take(address)
    if wait:
        raise _refusal(wait)
