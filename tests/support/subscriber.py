"""A rest-hook subscriber for the tests: an HTTP server on loopback, in a background thread,
that checks each notification's signature and records what it received.

Notifications are the R4 backport Bundles of shared/events/notifications.py: a `history`
Bundle whose first entry is the SubscriptionStatus Parameters, then the focus resources.

    with Subscriber(SECRET) as subscriber:
        ... create a Subscription with endpoint subscriber.endpoint() ...
        subscriber.wait_for(lambda got: got.events("handshake"))
        subscriber.down()  # connections refused, on the same port until up()
        subscriber.up()
        with subscriber.answering(503): ...

Works from sync and async tests alike: the server has its own thread; `wait_for` polls
with time.sleep, `wait_for_async` with asyncio.sleep.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar

from shared.events.delivery import SIGNATURE_HEADER, verify_signature
from shared.events.subscriptions import MIN_SECRET_LENGTH

T = TypeVar("T")
FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True)
class Notification:
    """One accepted notification: its SubscriptionStatus, focus resources and headers."""

    type: str
    subscription: str
    topic: str
    status: str
    events_since_start: int
    event_numbers: tuple[int, ...]
    focus: tuple[str, ...]
    resources: tuple[dict[str, Any], ...]
    bundle: dict[str, Any]
    path: str
    traceparent: str | None
    headers: dict[str, str]
    received_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Rejected:
    """A POST answered with an error: bad signature, or a body that is no notification."""

    status: int
    reason: str
    path: str
    body: bytes


def parse_notification(
    bundle: dict[str, Any], *, path: str, headers: dict[str, str]
) -> Notification:
    """The Notification a backport Bundle carries; ValueError if it is not one."""
    entries = bundle.get("entry") or []
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "history" or not entries:
        raise ValueError("not a history Bundle with entries")
    status = entries[0].get("resource") or {}
    if status.get("resourceType") != "Parameters":
        raise ValueError("first entry is not a Parameters")
    values: dict[str, Any] = {}
    numbers: list[int] = []
    focus: list[str] = []
    for parameter in status.get("parameter", []):
        if parameter.get("name") == "notification-event":
            event = {part["name"]: part for part in parameter.get("part", [])}
            numbers.append(int(event["event-number"]["valueString"]))
            if "focus" in event:
                focus.append(event["focus"]["valueReference"]["reference"])
        else:
            values[parameter["name"]] = _value(parameter)
    return Notification(
        type=str(values.get("type", "")),
        subscription=str((values.get("subscription") or {}).get("reference", "")),
        topic=str(values.get("topic", "")),
        status=str(values.get("status", "")),
        events_since_start=int(values.get("events-since-subscription-start") or 0),
        event_numbers=tuple(numbers),
        focus=tuple(focus),
        resources=tuple(e["resource"] for e in entries[1:] if "resource" in e),
        bundle=bundle,
        path=path,
        traceparent=headers.get("traceparent"),
        headers=headers,
    )


def _value(parameter: dict[str, Any]) -> Any:
    return next((v for k, v in parameter.items() if k.startswith("value")), None)


class Received:
    """What a subscriber holds: the accepted notifications, in arrival order."""

    def __init__(self, notifications: list[Notification]) -> None:
        self.notifications = notifications

    def events(
        self, type: str | None = "event-notification", subscription: str | None = None
    ) -> list[Notification]:
        """The notifications of `type` (None: every type), for `subscription` if given."""
        return [
            n
            for n in self.notifications
            if (type is None or n.type == type)
            and (subscription is None or _same_subscription(n.subscription, subscription))
        ]

    def event_numbers(self, subscription: str | None = None) -> list[int]:
        """The event numbers notified (to `subscription`), in arrival order."""
        return [
            number for n in self.events(subscription=subscription) for number in n.event_numbers
        ]

    def resources(self, resource_type: str | None = None) -> list[dict[str, Any]]:
        """The resources carried by event notifications (of `resource_type`)."""
        return [
            resource
            for n in self.events()
            for resource in n.resources
            if resource_type is None or resource.get("resourceType") == resource_type
        ]

    def summary(self) -> str:
        """One line per notification, for assertion messages."""
        lines = [
            f"  {n.type} {n.subscription} events={list(n.event_numbers)} path={n.path}"
            for n in self.notifications
        ]
        return "\n".join(lines) or "  (nothing)"


def _same_subscription(reference: str, wanted: str) -> bool:
    """`Subscription/1` matches an absolute reference ending in it, and the other way."""
    return (
        reference == wanted or reference.endswith(f"/{wanted}") or wanted.endswith(f"/{reference}")
    )


class Subscriber(Received):
    """A signature-checking notification receiver on 127.0.0.1, started on construction."""

    def __init__(self, secret: str | bytes, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.secret = secret.encode() if isinstance(secret, str) else secret
        if len(self.secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"the signing secret needs at least {MIN_SECRET_LENGTH} characters")
        super().__init__([])
        self.rejected: list[Rejected] = []
        self.declined: list[int] = []
        self.host = host
        self._lock = threading.Lock()
        self._status: int | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = port
        self.up()

    @property
    def url(self) -> str:
        """This subscriber's origin, e.g. http://127.0.0.1:40123."""
        return f"http://{self.host}:{self.port}"

    def endpoint(self, path: str = "/notify") -> str:
        """A URL to give as `Subscription.channel.endpoint`."""
        return f"{self.url}{path}"

    # ------------------------------------------------------------------ serving

    def up(self) -> None:
        """Listen (again, on the same port once it has one)."""
        if self._server is not None:
            return
        server = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        server.daemon_threads = True
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._server = server
        self._thread.start()

    def down(self) -> None:
        """Stop listening: connections to the port are refused until `up()`."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    close = down

    def answer(self, status: int | None) -> None:
        """Answer every notification with `status` (e.g. 503) instead of 200; None: normal."""
        with self._lock:
            self._status = status

    @contextmanager
    def answering(self, status: int) -> Iterator[None]:
        """Answer `status` to every notification inside the block."""
        self.answer(status)
        try:
            yield
        finally:
            self.answer(None)

    def clear(self) -> None:
        """Forget everything received so far."""
        with self._lock:
            self.notifications = []
            self.rejected = []
            self.declined = []

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.down()

    # ------------------------------------------------------------------ waiting

    def snapshot(self) -> Received:
        """The notifications received so far, frozen (later arrivals are not in it)."""
        with self._lock:
            return Received(list(self.notifications))

    def wait_for(self, predicate: Callable[[Received], T], timeout: float = 10.0) -> T:
        """Poll until `predicate(received)` is truthy and return it; AssertionError after
        `timeout` seconds, listing what was received."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate(self.snapshot())
            if result:
                return result
            if time.monotonic() >= deadline:
                raise AssertionError(self._timed_out(timeout))
            time.sleep(0.05)

    async def wait_for_async(
        self,
        predicate: Callable[[Received], T],
        timeout: float = 10.0,  # noqa: ASYNC109 -- as wait_for: the error lists what came
    ) -> T:
        """`wait_for` for async tests: sleeps without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate(self.snapshot())
            if result:
                return result
            if time.monotonic() >= deadline:
                raise AssertionError(self._timed_out(timeout))
            await asyncio.sleep(0.05)

    def _timed_out(self, timeout: float) -> str:
        with self._lock:
            rejected = [f"  {r.status} {r.reason} path={r.path}" for r in self.rejected]
        return (
            f"not received within {timeout:g} s; received:\n{self.snapshot().summary()}\n"
            f"rejected: {len(rejected)}\n" + "\n".join(rejected)
        )

    # ------------------------------------------------------------------ receiving

    def receive(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        """Check and record one POST; returns the status to answer and a short reason."""
        with self._lock:
            if self._status is not None:
                self.declined.append(self._status)
                return self._status, "told to answer this status"
        signature = headers.get(SIGNATURE_HEADER.lower(), "")
        if not verify_signature(self.secret, signature, body, now=time.time()):
            return self._reject(401, "bad signature", path, body)
        try:
            notification = parse_notification(json.loads(body), path=path, headers=headers)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            return self._reject(400, f"not a notification: {error}", path, body)
        with self._lock:
            self.notifications = [*self.notifications, notification]
        return 200, "ok"

    def _reject(self, status: int, reason: str, path: str, body: bytes) -> tuple[int, str]:
        with self._lock:
            self.rejected = [*self.rejected, Rejected(status, reason, path, body)]
        return status, reason


def _handler_for(subscriber: Subscriber) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, reason = subscriber.receive(self.path, headers, body)
            answer = json.dumps({"status": status, "reason": reason}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads what was received from the subscriber, not stderr."""

    return Handler
