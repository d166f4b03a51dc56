"""Delivering one rest-hook notification: address-checked, signed, traced, never redirected.

Spec: https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/channels.html#rest-hook
(R5 Backport IG, R4 form). The channel is a POST of the notification Bundle to
`Subscription.channel.endpoint` with the subscriber's `channel.header` values.

On top of the IG, every notification carries an HMAC signature the subscriber can check
(`SIGNATURE_HEADER`, see `sign` / `verify_signature`), and the W3C `traceparent` of the
change that caused it, so the receiving service continues the same trace.

Deliveries fail often and harmlessly (a subscriber restarting): `post_notification` never
raises for an endpoint's failure; it returns a `DeliveryResult` whose `reason` is short
operator text with no URL and no PHI. Retrying is the caller's loop, paced by
`next_retry_delay` and ended by `give_up`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import ssl
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from opentelemetry import context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.events.endpoint_policy import (
    EndpointPolicy,
    EndpointRefused,
    ResolvedEndpoint,
    check_endpoint,
    resolve_and_check,
)

__all__ = [
    "DEFAULT_RETRY_PERIOD",
    "FHIR_JSON",
    "SIGNATURE_HEADER",
    "DeliveryResult",
    "EndpointPolicy",
    "EndpointRefused",
    "ResolvedEndpoint",
    "check_endpoint",
    "give_up",
    "new_delivery_client",
    "next_retry_delay",
    "post_notification",
    "resolve_and_check",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Teleradiology-Signature"
FHIR_JSON = "application/fhir+json"
DEFAULT_RETRY_PERIOD = timedelta(hours=24)

# Set by this module; a channel header with one of these names is dropped, not merged.
_OWN_HEADERS = frozenset(
    {
        "host",
        "connection",
        "content-type",
        "content-length",
        "transfer-encoding",
        "traceparent",
        SIGNATURE_HEADER.lower(),
    }
)
# Past this many doublings every sane cap has been reached (and 2.0**n would overflow).
_MAX_DOUBLINGS = 64
# Exception chains are short; the bound only guards against a cycle.
_MAX_CAUSE_DEPTH = 16
_TRACE_CONTEXT = TraceContextTextMapPropagator()


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The outcome of one POST; `reason` is operator text without URLs or PHI."""

    delivered: bool
    status: int | None
    reason: str


# --------------------------------------------------------------------------- signatures


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The SIGNATURE_HEADER value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t." + body>`."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify_signature(
    secret: bytes, header: str, body: bytes, *, now: float, tolerance_seconds: float = 300
) -> bool:
    """True if `header` signs `body` with `secret` and its timestamp is within the tolerance.

    Several `v1=` values are accepted (a sender rotating secrets signs with both).
    """
    parsed = _parse_signature(header)
    if parsed is None:
        return False
    timestamp, signatures = parsed
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = _digest(secret, timestamp, body).encode()
    return any(hmac.compare_digest(expected, s.encode()) for s in signatures)


def _digest(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _parse_signature(header: str) -> tuple[int, list[str]] | None:
    timestamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            signatures.append(value)
    if len(timestamps) != 1 or not signatures:
        return None
    if not (timestamps[0].isascii() and timestamps[0].isdigit()):
        return None
    return int(timestamps[0]), signatures


# --------------------------------------------------------------------------- retries


def next_retry_delay(
    attempt: int, *, base: float = 1.0, cap: float = 600.0, rng: random.Random
) -> float:
    """Seconds before retry `attempt` (1-based): full jitter, uniform in [0, min(cap, base*2^(attempt-1))]."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if base <= 0 or cap <= 0:
        raise ValueError("base and cap must be positive")
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, _MAX_DOUBLINGS))
    return rng.uniform(0.0, ceiling)


def give_up(
    first_failure_at: datetime, now: datetime, retry_period: timedelta = DEFAULT_RETRY_PERIOD
) -> bool:
    """True once deliveries have been failing for the whole retry period."""
    return now - first_failure_at >= retry_period


# --------------------------------------------------------------------------- delivery


def new_delivery_client(*, max_connections: int = 100) -> httpx.AsyncClient:
    """An HTTP client fit for `post_notification`; build it in the app's lifespan.

    No proxies from the environment (a proxy would connect by name, undoing the address
    check), no redirects, HTTP/1.1 only and no idle connections kept (see `_pinned_request`).
    """
    return httpx.AsyncClient(
        trust_env=False,
        follow_redirects=False,
        http2=False,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=0),
    )


async def post_notification(
    client: httpx.AsyncClient,
    *,
    url: str,
    body: bytes,
    secret: bytes,
    headers: Mapping[str, str],
    policy: EndpointPolicy,
    timeout: float,  # noqa: ASYNC109 -- the subscription's own setting, applied to httpx too
    traceparent: str | None,
) -> DeliveryResult:
    """POST one signed notification to a freshly checked address; 2xx counts as delivered.

    `timeout` bounds the whole attempt: name resolution, connecting, sending, the answer.
    """
    try:
        async with asyncio.timeout(timeout):
            endpoint = await resolve_and_check(url, policy)
            request = _pinned_request(
                client,
                endpoint,
                body=body,
                headers=_notification_headers(headers, secret, body, traceparent),
                timeout=timeout,
            )
            with _continuing_trace(traceparent):
                response = await client.send(request, follow_redirects=False, stream=True)
                await response.aclose()  # the answer's body is not needed, nor read
    except EndpointRefused as refused:
        return DeliveryResult(False, None, refused.reason)
    except (TimeoutError, httpx.TimeoutException):
        return DeliveryResult(False, None, "timeout")
    except (httpx.LocalProtocolError, UnicodeEncodeError):
        return DeliveryResult(False, None, "invalid channel header")
    except httpx.TransportError as error:
        return DeliveryResult(False, None, _transport_reason(error))
    return _status_result(response.status_code)


def _notification_headers(
    channel_headers: Mapping[str, str], secret: bytes, body: bytes, traceparent: str | None
) -> dict[str, str]:
    headers = {k: v for k, v in channel_headers.items() if k.lower() not in _OWN_HEADERS}
    headers["Content-Type"] = FHIR_JSON
    headers[SIGNATURE_HEADER] = sign(secret, int(time.time()), body)
    if traceparent:
        headers["traceparent"] = traceparent
    return headers


@contextmanager
def _continuing_trace(traceparent: str | None) -> Iterator[None]:
    """Make `traceparent` the current trace while sending.

    An OpenTelemetry-instrumented client (shared/telemetry.py instruments httpx) replaces
    the traceparent header with its own span's; inside the original trace that span is a
    child of the change, so the subscriber still continues the same trace.
    """
    if not traceparent:
        yield
        return
    token = context.attach(_TRACE_CONTEXT.extract({"traceparent": traceparent}))
    try:
        yield
    finally:
        context.detach(token)


def _pinned_request(
    client: httpx.AsyncClient,
    endpoint: ResolvedEndpoint,
    *,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
) -> httpx.Request:
    """A request that connects to the address just checked, not to a second DNS answer.

    The URL carries the address; Host and the TLS server name (SNI, also the name the
    certificate is verified against) stay the endpoint's host. `Connection: close` keeps
    the connection out of the pool, which is keyed by address: another subscriber's host
    behind the same address must never reuse a TLS session verified for this one.
    """
    url = endpoint.url
    extensions: dict[str, str] = {}
    if url.scheme == "https":
        extensions["sni_hostname"] = url.raw_host.decode("ascii")
    return client.build_request(
        "POST",
        url.copy_with(host=str(endpoint.addresses[0])),
        content=body,
        headers={**headers, "Host": url.netloc.decode("ascii"), "Connection": "close"},
        timeout=timeout,
        extensions=extensions,
    )


def _status_result(status: int) -> DeliveryResult:
    if 200 <= status < 300:
        return DeliveryResult(True, status, f"HTTP {status}")
    if 300 <= status < 400:
        return DeliveryResult(False, status, f"HTTP {status} (redirect not followed)")
    return DeliveryResult(False, status, f"HTTP {status}")


def _transport_reason(error: httpx.TransportError) -> str:
    """Name the underlying failure from the exception chain, in operator words."""
    cause: BaseException | None = error
    for _ in range(_MAX_CAUSE_DEPTH):
        if cause is None:
            break
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return "TLS certificate not accepted"
        if isinstance(cause, ssl.SSLError):
            return "TLS handshake failed"
        cause = cause.__cause__ or cause.__context__
    if isinstance(error, httpx.RemoteProtocolError):
        return "no valid HTTP answer"
    if isinstance(error, httpx.ConnectError):
        return "connection failed"
    return "transport error"
