"""How much one request may ask of a process: the length of its query, the number of its
parameters, and the size of its body -- checked before any endpoint runs.

- a query string longer than `MAX_QUERY_BYTES` is 414;
- more than `MAX_QUERY_PARAMETERS` parameters (in the query, or in the query and a POST
  `_search` form together) is 400 `too-costly`;
- a body over `MAX_REQUEST_BYTES` is 413, whether its Content-Length says so up front or
  it is streamed (the count stops the read; the body is never held whole first).

The request line and headers are bounded by the HTTP server (see docs/security.md).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.fhir.http import error_response
from shared.fhir.outcomes import FhirError, bad_request, payload_too_large, too_costly, uri_too_long


def query_problem(query: bytes, *, max_bytes: int, max_parameters: int) -> FhirError | None:
    """Why this query string is refused, or None."""
    if len(query) > max_bytes:
        return uri_too_long(f"The query string exceeds {max_bytes} bytes")
    if _parameter_count(query) > max_parameters:
        return _too_many(max_parameters)
    return None


def form_parameters(body: bytes, *, already: int, max_parameters: int) -> list[tuple[str, str]]:
    """The parameters of an application/x-www-form-urlencoded body, `already` counted in the
    query; 400 past `max_parameters` in all (checked before any is parsed) or on non-UTF-8."""
    if already + _parameter_count(body) > max_parameters:
        raise _too_many(max_parameters)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("Form parameters must be UTF-8 (percent-encode other bytes)") from None
    return parse_qsl(text, keep_blank_values=True)


def _parameter_count(query: bytes) -> int:
    """Parameters as parse_qsl counts them: '&'-separated, non-empty."""
    return sum(1 for part in query.split(b"&") if part)


def _too_many(max_parameters: int) -> FhirError:
    return too_costly(f"The request has more than {max_parameters} parameters")


class RequestLimitsMiddleware:
    """Refuse an over-long query or over-large body before the app works on it.

    The limits are read from `app.state.settings` (`ProcessSettings`) of the app serving
    the request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = scope["app"].state.settings
        refused = query_problem(
            scope.get("query_string", b""),
            max_bytes=settings.max_query_bytes,
            max_parameters=settings.max_query_parameters,
        ) or _declared_too_large(scope, settings.max_request_bytes)
        if refused is not None:
            await error_response(refused)(scope, receive, send)
            return
        await self.app(scope, _counting(receive, settings.max_request_bytes), send)


def _declared_too_large(scope: Scope, max_bytes: int) -> FhirError | None:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > max_bytes:
            return payload_too_large(f"The request body exceeds {max_bytes} bytes")
    return None


def _counting(receive: Receive, max_bytes: int) -> Receive:
    """`receive`, raising 413 (handled like any FhirError) once the body passes `max_bytes`."""
    received = 0

    async def receive_within_limit() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise payload_too_large(f"The request body exceeds {max_bytes} bytes")
        return message

    return receive_within_limit
