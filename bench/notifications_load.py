"""The moving parts of bench/notifications_bench.py: the external subscriber, the order
stream placed at a steady rate, and the transport baseline (signed webhook POSTs).

The receiver is the bench's own rather than tests/support/subscriber.py: it stamps each
POST the moment its last byte is parsed, before any checking, and runs on its own event
loop in its own thread, so the order stream in the main loop does not delay the stamp.
It checks signatures and reads Bundles with the platform's own code (shared.events).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any

import httptools
import httpx
import orjson

from shared.events.delivery import (
    FHIR_JSON,
    SIGNATURE_HEADER,
    new_delivery_client,
    sign,
    verify_signature,
)
from shared.events.received import MalformedNotification, Notification, read_notification
from tests.e2e.loop import order_bundle

_STATUS_LINES = {
    200: b"HTTP/1.1 200 OK",
    400: b"HTTP/1.1 400 Bad Request",
    401: b"HTTP/1.1 401 Unauthorized",
}


@dataclass(frozen=True, slots=True)
class Arrival:
    """One notification POST accepted by the receiver."""

    received_at: float  # time.time() when its last byte was parsed
    path: str
    notification: Notification
    built_at: str  # the Bundle's timestamp: when the sender built it
    body: bytes


class Receiver:
    """A signature-checking rest-hook receiver on 127.0.0.1 with its own thread and loop."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self.arrivals: list[Arrival] = []
        self.rejected: list[str] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def __enter__(self) -> Receiver:
        self._thread.start()
        opening = self._loop.create_server(lambda: _Connection(self), "127.0.0.1", 0)
        self._server = asyncio.run_coroutine_threadsafe(opening, self._loop).result(10)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def __exit__(self, *_: object) -> None:
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def url(self, path: str) -> str:
        """The URL of `path` on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def received(self, path: str) -> list[Arrival]:
        """The POSTs accepted on `path` so far, in arrival order."""
        return [a for a in list(self.arrivals) if a.path == path]

    def receive(self, received_at: float, path: str, headers: dict[str, str], body: bytes) -> int:
        """Check and record one POST; the status to answer."""
        signature = headers.get(SIGNATURE_HEADER.lower(), "")
        if not verify_signature(self.secret, signature, body, now=time.time()):
            self.rejected.append(f"{path}: bad signature")
            return 401
        try:
            bundle = orjson.loads(body)
            notification = read_notification(bundle)
        except (orjson.JSONDecodeError, MalformedNotification) as error:
            self.rejected.append(f"{path}: {error}")
            return 400
        built_at = str(bundle.get("timestamp", ""))
        self.arrivals.append(Arrival(received_at, path, notification, built_at, body))
        return 200


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection to the receiver (keep-alive unless the client closes)."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_message_begin(self) -> None:
        self.url, self.headers, self.body = b"", {}, []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode().lower()] = value.decode()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        received_at = time.time()
        path, body = self.url.decode(), b"".join(self.body)
        status = self.receiver.receive(received_at, path, self.headers, body)
        keep_alive = self.parser.should_keep_alive()
        head = _STATUS_LINES[status] + b"\r\nContent-Length: 0\r\n"
        if self.transport is not None:
            self.transport.write(head + (b"\r\n" if keep_alive else b"Connection: close\r\n\r\n"))
            if not keep_alive:
                self.transport.close()


# --------------------------------------------------------------------------- orders


@dataclass(frozen=True, slots=True)
class OrderSent:
    """One order transaction POSTed to the gateway, and what came back."""

    sent_at: float
    answered_at: float
    order_id: str | None
    error: str | None = None


async def place_orders(
    client: httpx.AsyncClient, facility: str, *, rate: float, seconds: float
) -> list[OrderSent]:
    """POST `rate` order transactions a second for `seconds`, open loop."""
    # Open loop, as EHRs send: a slow answer must not delay the next order.
    loop = asyncio.get_running_loop()
    start = loop.time()
    placing = []
    for index in range(round(rate * seconds)):
        await asyncio.sleep(max(0.0, start + index / rate - loop.time()))
        placing.append(asyncio.create_task(place_order(client, facility)))
    return list(await asyncio.gather(*placing))


async def place_order(client: httpx.AsyncClient, facility: str) -> OrderSent:
    """POST one order transaction (a new patient and the order) to the FHIR base."""
    body = orjson.dumps(order_bundle(facility, state="TX"))
    sent_at = time.time()
    try:
        response = await client.post("/", content=body, headers={"Content-Type": FHIR_JSON})
    except httpx.HTTPError as error:
        return OrderSent(sent_at, time.time(), None, type(error).__name__)
    answered_at = time.time()
    if response.status_code != 200:
        return OrderSent(sent_at, answered_at, None, f"HTTP {response.status_code}")
    location = response.json()["entry"][1]["response"]["location"]
    return OrderSent(sent_at, answered_at, location.split("ServiceRequest/")[1].split("/")[0])


# --------------------------------------------------------------------------- baseline


async def webhook_baseline(
    receiver: Receiver, body: bytes, *, rate: float, seconds: float, max_seconds: float
) -> dict[str, Any]:
    """Signed POSTs of `body` as the notifier sends them: paced at `rate`, then back to back."""
    async with new_delivery_client() as client:
        paced = await _paced_posts(client, receiver, body, rate=rate, seconds=seconds)
        loop = asyncio.get_running_loop()
        back_to_back: list[tuple[float, float]] = []
        end = loop.time() + max_seconds
        while loop.time() < end:
            back_to_back.append(await _signed_post(client, receiver, body, "/baseline/max"))
    one_way = _one_way(receiver, paced, "/baseline/paced/")
    elapsed = back_to_back[-1][1] - back_to_back[0][0] if back_to_back else 0.0
    return {
        "body_bytes": len(body),
        "paced": {
            "rate": rate,
            "round_trip_ms": spread([end - start for start, end in paced]),
            "one_way_ms": spread(one_way),
        },
        "max": {
            "posts_per_s": round(len(back_to_back) / elapsed, 1) if elapsed else None,
            "round_trip_ms": spread([end - start for start, end in back_to_back]),
        },
    }


async def _paced_posts(
    client: httpx.AsyncClient, receiver: Receiver, body: bytes, *, rate: float, seconds: float
) -> list[tuple[float, float]]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    posting = []
    for index in range(round(rate * seconds)):
        await asyncio.sleep(max(0.0, start + index / rate - loop.time()))
        path = f"/baseline/paced/{index}"
        posting.append(asyncio.create_task(_signed_post(client, receiver, body, path)))
    return list(await asyncio.gather(*posting))


async def _signed_post(
    client: httpx.AsyncClient, receiver: Receiver, body: bytes, path: str
) -> tuple[float, float]:
    """One signed POST (headers as the notifier sets them); (sent, answered) times."""
    sent_at = time.time()
    headers = {
        "Content-Type": FHIR_JSON,
        SIGNATURE_HEADER: sign(receiver.secret, int(sent_at), body),
        "Connection": "close",
    }
    response = await client.post(receiver.url(path), content=body, headers=headers)
    response.raise_for_status()
    return sent_at, time.time()


def _one_way(receiver: Receiver, posts: list[tuple[float, float]], prefix: str) -> list[float]:
    arrived = {a.path: a.received_at for a in list(receiver.arrivals) if a.path.startswith(prefix)}
    return [
        arrived[f"{prefix}{index}"] - sent_at
        for index, (sent_at, _) in enumerate(posts)
        if f"{prefix}{index}" in arrived
    ]


# --------------------------------------------------------------------------- figures


def spread(seconds: list[float]) -> dict[str, Any]:
    """n, p50, p99 and max of durations given in seconds, in milliseconds."""
    ordered = sorted(seconds)
    if not ordered:
        return {"n": 0, "p50": None, "p99": None, "max": None}

    def rank(q: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"n": len(ordered), "p50": rank(0.50), "p99": rank(0.99), "max": rank(1.0)}
