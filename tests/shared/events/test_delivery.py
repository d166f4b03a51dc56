"""Rest-hook delivery: which endpoints may be used, how notifications are signed, how
retries are paced, and what one POST does against a real HTTP server on 127.0.0.1.

No test touches the network: name lookups go to `FakeDns` (names it does not know fail,
numeric hosts are parsed locally), and every server listens on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import random
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
    resolve_and_check,
    sign,
    verify_signature,
)
from shared.fhir.outcomes import FhirError

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
LOCAL = EndpointPolicy(allow_http=True, allowed_networks=LOOPBACK)
STRICT = EndpointPolicy()
SECRET = b"a-signing-secret-of-some-length"
BODY = b'{"resourceType":"Bundle","type":"history"}'
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


# --------------------------------------------------------------------------- fake DNS


class FakeDns:
    """Stands in for the resolver: known names answer from `answers` (one answer per lookup,
    the last one repeating), `localhost` is loopback, anything else must be numeric."""

    def __init__(self) -> None:
        self.answers: dict[str, list[tuple[str, ...]]] = {"localhost": [("127.0.0.1", "::1")]}
        self.lookups: list[str] = []
        self.delay = 0.0

    def set(self, name: str, *answers: tuple[str, ...]) -> None:
        self.answers[name] = list(answers)

    async def getaddrinfo(
        self, real: Any, loop: asyncio.AbstractEventLoop, host: Any, port: Any, **kwargs: Any
    ) -> list[tuple[Any, ...]]:
        name = (host.decode() if isinstance(host, bytes) else str(host)).lower().rstrip(".")
        if name in self.answers:
            self.lookups.append(name)
            await asyncio.sleep(self.delay)
            queue = self.answers[name]
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
            return [_addrinfo(address, int(port or 0)) for address in answer]
        flags = kwargs.pop("flags", 0) | socket.AI_NUMERICHOST  # never a real DNS query
        result: list[tuple[Any, ...]] = await real(loop, host, port, flags=flags, **kwargs)
        return result


def _addrinfo(address: str, port: int) -> tuple[Any, ...]:
    if ipaddress.ip_address(address).version == 6:
        return (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))


@pytest.fixture(autouse=True)
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    fake = FakeDns()
    real = asyncio.base_events.BaseEventLoop.getaddrinfo

    async def getaddrinfo(
        loop: asyncio.AbstractEventLoop, host: Any, port: Any, **kwargs: Any
    ) -> list[tuple[Any, ...]]:
        return await fake.getaddrinfo(real, loop, host, port, **kwargs)

    monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "getaddrinfo", getaddrinfo)
    return fake


# --------------------------------------------------------------------------- endpoint policy


async def _refusal(url: str, policy: EndpointPolicy = STRICT) -> str:
    with pytest.raises(FhirError) as caught:
        await check_endpoint(url, policy)
    error = caught.value
    assert error.status == 422
    [issue] = error.issues
    assert (issue.code, issue.expression) == ("business-rule", ("Subscription.channel.endpoint",))
    return issue.diagnostics


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://93.184.216.34/hook", "must use https"),
        ("ftp://93.184.216.34/hook", "must use https"),
        ("file:///etc/passwd", "must use https"),
        ("https://user:pw@93.184.216.34/hook", "user credentials"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://127.9.9.9:8443/hook", "loopback"),
        ("https://0x7f.1/hook", "loopback"),  # 127.0.0.1 as inet_aton reads it
        ("https://2130706433/hook", "cluster-internal name"),  # 127.0.0.1; one label
        ("https://[::1]/hook", "loopback"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),  # IPv4-mapped
        ("https://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("https://[fd00:ec2::254]/", "cloud metadata"),
        ("https://100.100.100.200/", "cloud metadata"),
        ("https://[64:ff9b::a9fe:a9fe]/", "cloud metadata"),  # NAT64 of 169.254.169.254
        ("https://169.254.10.10/", "link-local"),
        ("https://[fe80::1]/", "link-local"),
        ("https://10.1.2.3/", "private"),
        ("https://172.16.0.1/", "private"),
        ("https://192.168.1.20/", "private"),
        ("https://[fc00::1]/", "private"),
        ("https://[fd12:3456::1]/", "private"),
        ("https://[2002:a01:203::1]/", "private"),  # 6to4 of 10.1.2.3
        ("https://0.0.0.0/", "unspecified"),
        ("https://[::]/", "unspecified"),
        ("https://224.0.0.1/", "multicast"),
        ("https://[ff02::1]/", "multicast"),
        ("https://240.0.0.1/", "reserved"),
        ("https://100.64.0.1/", "not publicly routable"),  # carrier-grade NAT
        ("https://localhost/hook", "cluster-internal name"),
        ("https://LocalHost./hook", "cluster-internal name"),
        ("https://api.localhost/hook", "cluster-internal name"),
        ("https://intake.svc/hook", "cluster-internal name"),
        ("https://intake.default.svc.cluster.local/hook", "cluster-internal name"),
        ("https://kube-dns.cluster.local/", "cluster-internal name"),
        ("https://metadata.google.internal/", "cluster-internal name"),
        ("https://intake:8000/hook", "cluster-internal name"),  # completed by search domains
        ("https://no-such-host.example/hook", "does not resolve"),
    ],
)
async def test_endpoint_is_refused_naming_the_rule(url: str, rule: str) -> None:
    assert rule in await _refusal(url)


async def test_internal_names_are_refused_without_a_lookup(dns: FakeDns) -> None:
    dns.set("intake.default.svc.cluster.local", ("10.0.0.9",))
    await _refusal("https://intake.default.svc.cluster.local/hook")
    assert dns.lookups == []


async def test_refusal_does_not_echo_the_url_or_its_token() -> None:
    diagnostics = await _refusal("https://10.20.30.40/hook?token=s3cr3t-t0ken")
    assert "s3cr3t" not in diagnostics
    assert "10.20.30.40" not in diagnostics
    assert "hook" not in diagnostics


@pytest.mark.parametrize(
    "answer",
    [("10.0.0.5",), ("93.184.216.34", "10.0.0.5"), ("2606:4700::1", "fe80::1")],
)
async def test_name_is_refused_when_any_address_is_not_public(
    dns: FakeDns, answer: tuple[str, ...]
) -> None:
    dns.set("hooks.example.com", answer)
    assert "resolves to" in await _refusal("https://hooks.example.com/hook")


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.216.34/hook",
        "https://93.184.216.34:8443/hook?token=x",
        "https://[2606:4700::1]/hook",
        "https://hooks.example.com/notify",
        "https://HOOKS.example.com./notify",
    ],
)
async def test_public_https_endpoint_is_accepted(dns: FakeDns, url: str) -> None:
    dns.set("hooks.example.com", ("93.184.216.34", "2606:4700::1"))
    await check_endpoint(url, STRICT)


async def test_unicode_host_is_resolved_by_its_idna_name(dns: FakeDns) -> None:
    dns.set("xn--bcher-kva.example", ("93.184.216.34",))
    await check_endpoint("https://bücher.example/hook", STRICT)
    assert dns.lookups == ["xn--bcher-kva.example"]


async def test_http_is_accepted_only_when_the_policy_allows_it() -> None:
    await check_endpoint("http://93.184.216.34/hook", EndpointPolicy(allow_http=True))
    assert "http or https" in await _refusal(
        "ftp://93.184.216.34/", EndpointPolicy(allow_http=True)
    )


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hook", "http://[::1]:8080/hook", "http://localhost:8080/hook"]
)
async def test_allowed_networks_admit_loopback_for_development(url: str) -> None:
    await check_endpoint(url, LOCAL)


async def test_every_address_must_be_in_the_allowed_networks() -> None:
    only_v4 = EndpointPolicy(allow_http=True, allowed_networks=(LOOPBACK[0],))
    await check_endpoint("http://127.0.0.1:8080/hook", only_v4)
    assert "cluster-internal" in await _refusal("http://localhost:8080/hook", only_v4)  # ::1 too


async def test_allowed_networks_do_not_open_other_private_ranges() -> None:
    assert "private" in await _refusal("http://10.0.0.1/hook", LOCAL)
    assert "cloud metadata" in await _refusal("http://169.254.169.254/", LOCAL)


async def test_allowed_hosts_bypass_the_address_checks(dns: FakeDns) -> None:
    dns.set("receiver.partner.internal", ("10.0.0.7",))
    dns.set("partner.internal", ("10.0.0.8",))
    dns.set("hooks.example.com", ("192.168.0.3",))
    policy = EndpointPolicy(allowed_hosts=frozenset({"*.partner.internal", "hooks.example.com"}))
    await check_endpoint("https://receiver.partner.internal/hook", policy)
    await check_endpoint("https://hooks.example.com/hook", policy)
    assert "cluster-internal" in await _refusal("https://partner.internal/", policy)  # not *.


async def test_allowed_host_must_still_resolve() -> None:
    policy = EndpointPolicy(allowed_hosts=frozenset({"gone.example.com"}))
    assert "does not resolve" in await _refusal("https://gone.example.com/", policy)


async def test_slow_resolver_is_refused_after_the_policy_timeout(dns: FakeDns) -> None:
    dns.set("slow.example.com", ("93.184.216.34",))
    dns.delay = 5.0
    policy = EndpointPolicy(resolve_timeout_seconds=0.05)
    started = time.monotonic()
    assert "in time" in await _refusal("https://slow.example.com/", policy)
    assert time.monotonic() - started < 1.0


async def test_resolve_and_check_returns_the_checked_addresses(dns: FakeDns) -> None:
    dns.set("hooks.example.com", ("93.184.216.34", "2606:4700::1"))
    endpoint = await resolve_and_check("https://hooks.example.com/hook", STRICT)
    assert endpoint.addresses == (
        ipaddress.ip_address("93.184.216.34"),
        ipaddress.ip_address("2606:4700::1"),
    )


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
    await check_endpoint(url, LOCAL)
    result = await _post(client, url)
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
