"""Rest-hook delivery: how notifications are signed, how retries are paced, and what one
POST does against a real HTTP server on 127.0.0.1 (name lookups go to `FakeDns`)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider

from shared.events.delivery import (
    FHIR_JSON,
    SIGNATURE_HEADER,
    DeliveryResult,
    EndpointPolicy,
    check_endpoint,
    give_up,
    next_retry_delay,
    post_notification,
    sign,
    verify_signature,
)
from tests.support.endpoints import LOCAL, FakeDns

# No test here may reach a real resolver.
pytestmark = pytest.mark.usefixtures("dns", "plain_httpx")

SECRET = b"a-signing-secret-of-some-length"
BODY = b'{"resourceType":"Bundle","type":"history"}'
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


# --------------------------------------------------------------------------- signatures


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET, b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1_700_000_000, BODY) == f"t=1700000000,v1={expected}"


def test_signature_round_trip_verifies() -> None:
    header = sign(SECRET, 1_700_000_000, BODY)
    assert verify_signature(SECRET, header, BODY, now=1_700_000_000)
    assert verify_signature(SECRET, header, BODY, now=1_700_000_300)


def test_tampered_body_fails_verification() -> None:
    header = sign(SECRET, 1_700_000_000, BODY)
    assert not verify_signature(SECRET, header, BODY + b" ", now=1_700_000_000)


def test_wrong_secret_fails_verification() -> None:
    header = sign(SECRET, 1_700_000_000, BODY)
    assert not verify_signature(b"another-secret", header, BODY, now=1_700_000_000)


@pytest.mark.parametrize("skew", [301, -301, 86_400])
def test_stale_or_future_timestamp_fails_verification(skew: int) -> None:
    header = sign(SECRET, 1_700_000_000, BODY)
    assert not verify_signature(SECRET, header, BODY, now=1_700_000_000 + skew)


def test_tolerance_is_configurable() -> None:
    header = sign(SECRET, 1_700_000_000, BODY)
    assert verify_signature(SECRET, header, BODY, now=1_700_000_900, tolerance_seconds=900)
    assert not verify_signature(SECRET, header, BODY, now=1_700_000_010, tolerance_seconds=5)


def test_any_of_several_signatures_verifies_for_secret_rotation() -> None:
    old = sign(b"old-secret", 1_700_000_000, BODY)
    new = sign(SECRET, 1_700_000_000, BODY)
    header = f"{old},v1={new.split('v1=')[1]}"
    assert verify_signature(SECRET, header, BODY, now=1_700_000_000)


@pytest.mark.parametrize(
    "header",
    ["", "v1=00", "t=1700000000", "t=abc,v1=00", "t=1700000000,t=1700000001,v1=00", "t=¹,v1=é"],
)
def test_malformed_signature_header_fails_verification(header: str) -> None:
    assert not verify_signature(SECRET, header, BODY, now=1_700_000_000)


# --------------------------------------------------------------------------- retry pacing


class Highest(random.Random):
    """Always the top of the jitter range: exposes the ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_backoff_ceiling_doubles_from_base_up_to_the_cap() -> None:
    ceilings = [next_retry_delay(n, rng=Highest()) for n in range(1, 13)]
    assert ceilings == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]
    assert next_retry_delay(3, base=5.0, cap=30.0, rng=Highest()) == 20.0
    assert next_retry_delay(4, base=5.0, cap=30.0, rng=Highest()) == 30.0


def test_backoff_stays_at_the_cap_for_very_many_attempts() -> None:
    assert next_retry_delay(100_000, rng=Highest()) == 600.0


def test_backoff_jitter_spreads_over_the_whole_range() -> None:
    rng = random.Random(7)
    delays = [next_retry_delay(5, rng=rng) for _ in range(500)]
    assert all(0.0 <= d <= 16.0 for d in delays)
    assert min(delays) < 2.0 and max(delays) > 14.0  # full jitter, not a fixed delay


@pytest.mark.parametrize("attempt", [0, -1])
def test_backoff_counts_attempts_from_one(attempt: int) -> None:
    with pytest.raises(ValueError):
        next_retry_delay(attempt, rng=random.Random(1))


def test_give_up_after_the_retry_period() -> None:
    first = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
    assert not give_up(first, first + timedelta(hours=23, minutes=59))
    assert give_up(first, first + timedelta(hours=24))
    assert not give_up(first, first + timedelta(minutes=30), timedelta(hours=1))
    assert give_up(first, first + timedelta(hours=2), timedelta(hours=1))


# --------------------------------------------------------------------------- a local receiver


@dataclass
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A tiny HTTP/1.1 server on 127.0.0.1 that records requests and answers `status`."""

    status: int = 200
    answer_headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    tls: ssl.SSLContext | None = None
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._handlers:
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    def url(self, path: str = "/hook?token=t0ken") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            async with asyncio.timeout(5):
                self.requests.append(await _read_request(reader))
                await asyncio.sleep(self.delay)
                extra = "".join(f"{k}: {v}\r\n" for k, v in self.answer_headers.items())
                writer.write(
                    f"HTTP/1.1 {self.status} Answer\r\nContent-Length: 2\r\n"
                    f"Connection: close\r\n{extra}\r\nok".encode()
                )
                await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client gave up or refused our certificate: nothing to answer
        finally:
            writer.close()
            self._handlers.discard(task)


async def _read_request(reader: asyncio.StreamReader) -> Received:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    request_line, *lines = head.split("\r\n")
    method, target, _ = request_line.split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Received(method, target, headers, body)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = await Receiver().start()
    yield server
    await server.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as http:
        yield http


async def _post(
    client: httpx.AsyncClient,
    url: str,
    *,
    policy: EndpointPolicy = LOCAL,
    headers: dict[str, str] | None = None,
    seconds: float = 2.0,
    traceparent: str | None = TRACEPARENT,
) -> DeliveryResult:
    return await post_notification(
        client,
        url=url,
        body=BODY,
        secret=SECRET,
        headers=headers or {},
        policy=policy,
        timeout=seconds,
        traceparent=traceparent,
    )


# --------------------------------------------------------------------------- post_notification


async def test_delivered_notification_is_signed_typed_and_traced(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    result = await _post(client, receiver.url(), headers={"Authorization": "Bearer sub-token"})

    assert (result.delivered, result.status, result.reason) == (True, 200, "HTTP 200")
    [got] = receiver.requests
    assert (got.method, got.target, got.body) == ("POST", "/hook?token=t0ken", BODY)
    assert got.headers["content-type"] == FHIR_JSON
    assert got.headers["traceparent"] == TRACEPARENT
    assert got.headers["authorization"] == "Bearer sub-token"
    assert got.headers["host"] == f"127.0.0.1:{receiver.port}"
    signature = got.headers[SIGNATURE_HEADER.lower()]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", signature)
    assert verify_signature(SECRET, signature, got.body, now=time.time())


async def test_no_traceparent_is_sent_without_a_trace(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await _post(client, receiver.url(), traceparent=None)
    assert "traceparent" not in receiver.requests[0].headers


async def test_instrumented_client_continues_the_events_trace(receiver: Receiver) -> None:
    async with httpx.AsyncClient(trust_env=False) as traced:
        HTTPXClientInstrumentor.instrument_client(traced, tracer_provider=TracerProvider())
        try:
            await _post(traced, receiver.url())
        finally:
            HTTPXClientInstrumentor.uninstrument_client(traced)
    _, trace_id, parent_id, _ = receiver.requests[0].headers["traceparent"].split("-")
    assert trace_id == TRACEPARENT.split("-")[1]  # the same trace ...
    assert parent_id != TRACEPARENT.split("-")[2]  # ... continued by the client's span


async def test_channel_headers_cannot_replace_the_servers_own(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    forged = {"Content-Type": "text/plain", SIGNATURE_HEADER: "t=1,v1=00", "Host": "evil"}
    await _post(client, receiver.url(), headers=forged)
    got = receiver.requests[0].headers
    assert got["content-type"] == FHIR_JSON
    assert got["host"] == f"127.0.0.1:{receiver.port}"
    assert verify_signature(SECRET, got[SIGNATURE_HEADER.lower()], BODY, now=time.time())


async def test_any_2xx_answer_counts_as_delivered(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.status = 204
    result = await _post(client, receiver.url())
    assert (result.delivered, result.status) == (True, 204)


@pytest.mark.parametrize("status", [500, 503, 404, 401])
async def test_error_answer_is_not_delivered(
    client: httpx.AsyncClient, receiver: Receiver, status: int
) -> None:
    receiver.status = status
    result = await _post(client, receiver.url())
    assert (result.delivered, result.status, result.reason) == (False, status, f"HTTP {status}")


async def test_redirect_is_not_followed(client: httpx.AsyncClient, receiver: Receiver) -> None:
    target = await Receiver().start()
    try:
        receiver.status = 302
        receiver.answer_headers = {"Location": target.url("/elsewhere")}
        result = await _post(client, receiver.url())
    finally:
        await target.stop()
    assert (result.delivered, result.status) == (False, 302)
    assert result.reason.startswith("HTTP 302")
    assert target.requests == []


async def test_closed_port_is_reported_as_connection_refused(client: httpx.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = await _post(client, f"http://127.0.0.1:{port}/hook")
    assert (result.delivered, result.status, result.reason) == (False, None, "connection refused")


async def test_slow_endpoint_times_out_within_the_timeout(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.delay = 3.0
    started = time.monotonic()
    result = await _post(client, receiver.url(), seconds=0.3)
    assert (result.delivered, result.status, result.reason) == (False, None, "timeout")
    assert time.monotonic() - started < 1.5


async def test_disallowed_address_is_never_contacted(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    result = await _post(client, receiver.url(), policy=EndpointPolicy(allow_http=True))
    assert (result.delivered, result.reason) == (False, "endpoint address not allowed")
    assert receiver.requests == []


async def test_unresolvable_host_is_reported_without_the_url(client: httpx.AsyncClient) -> None:
    result = await _post(client, "http://gone.example.com/hook?token=t0ken")
    assert (result.delivered, result.reason) == (False, "endpoint host did not resolve")


async def test_address_is_checked_again_at_delivery_time(
    client: httpx.AsyncClient, receiver: Receiver, dns: FakeDns
) -> None:
    # Public when the Subscription was created; the metadata service when delivering.
    dns.set("rebind.example.com", ("93.184.216.34",), ("169.254.169.254",))
    url = f"http://rebind.example.com:{receiver.port}/hook"
    policy = replace(LOCAL, allowed_ports=frozenset({receiver.port}))
    await check_endpoint(url, policy)
    result = await _post(client, url, policy=policy)
    assert (result.delivered, result.reason) == (False, "endpoint address not allowed")


async def test_delivery_connects_to_the_address_it_checked(
    client: httpx.AsyncClient, receiver: Receiver, dns: FakeDns
) -> None:
    # A second lookup would answer the metadata address: there must not be one.
    dns.set("receiver.example.com", ("127.0.0.1",), ("169.254.169.254",))
    result = await _post(client, f"http://receiver.example.com:{receiver.port}/hook")
    assert result.delivered
    assert dns.lookups == ["receiver.example.com"]
    assert receiver.requests[0].headers["host"] == f"receiver.example.com:{receiver.port}"


async def test_header_value_with_a_line_break_is_not_sent(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    result = await _post(client, receiver.url(), headers={"X-Note": "a\r\nInjected: 1"})
    assert (result.delivered, result.reason) == (False, "invalid channel header")
    assert receiver.requests == []


# --------------------------------------------------------------------------- TLS


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Certificate]:
    """A self-signed certificate for hooks.example.com, made by the openssl tool."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl tool not available")
    folder = tmp_path_factory.mktemp("tls")
    made = Certificate(folder / "cert.pem", folder / "key.pem")
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "1"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-subj", "/CN=hooks.example.com", "-addext", "subjectAltName=DNS:hooks.example.com"),
            *("-keyout", str(made.key), "-out", str(made.cert)),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    yield made


@pytest.fixture
async def tls_receiver(certificate: Certificate) -> AsyncIterator[Receiver]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate.cert, certificate.key)
    server = await Receiver(tls=context).start()
    yield server
    await server.stop()


@pytest.fixture
async def tls_client(certificate: Certificate) -> AsyncIterator[httpx.AsyncClient]:
    trusting = ssl.create_default_context(cafile=str(certificate.cert))
    async with httpx.AsyncClient(verify=trusting, trust_env=False) as http:
        yield http


@pytest.mark.parametrize(
    ("name", "delivered"), [("hooks.example.com", True), ("other.example.com", False)]
)
async def test_tls_certificate_is_verified_against_the_endpoint_name_not_the_address(
    tls_client: httpx.AsyncClient, tls_receiver: Receiver, dns: FakeDns, name: str, delivered: bool
) -> None:
    dns.set(name, ("127.0.0.1",))
    result = await _post(tls_client, f"https://{name}:{tls_receiver.port}/hook")
    assert result.delivered is delivered
    if delivered:
        assert tls_receiver.requests[0].headers["host"] == f"{name}:{tls_receiver.port}"
    else:
        assert result.reason == "TLS certificate not accepted"
