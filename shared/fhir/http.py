"""HTTP details of the FHIR API: content negotiation, Prefer, headers, response bodies."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import Request, Response

from shared.fhir.outcomes import (
    FhirError,
    not_acceptable,
    payload_too_large,
    unsupported_media_type,
)
from shared.fhir.storage.repository import StoredResource

FHIR_JSON = "application/fhir+json"
_JSON_MEDIA = frozenset({"application/fhir+json", "application/json", "application/json+fhir"})
_FORMAT_ALIASES = {"json": FHIR_JSON, **{m: m for m in _JSON_MEDIA}}
_ACCEPT_ANY = frozenset({"*/*", "application/*"})


class FhirResponse(Response):
    media_type = f"{FHIR_JSON}; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Preferences:
    """The parts of the Prefer header (RFC 7240) that FHIR defines."""

    return_: str = "representation"  # minimal | representation | OperationOutcome
    lenient: bool = False


def preferences(request: Request) -> Preferences:
    values: dict[str, str] = {}
    for header in request.headers.getlist("prefer"):
        for part in header.split(","):
            key, _, value = part.strip().partition("=")
            values[key.strip().lower()] = value.strip().strip('"')
    return_ = values.get("return", "representation")
    if return_ not in ("minimal", "representation", "OperationOutcome"):
        return_ = "representation"
    return Preferences(return_=return_, lenient=values.get("handling") == "lenient")


def response_media_type(request: Request) -> str:
    """The JSON media type to answer with; 406 when the client accepts no JSON."""
    fmt = request.query_params.get("_format")
    if fmt is not None:
        media = _FORMAT_ALIASES.get(fmt.split(";")[0].strip())
        if media is None:
            raise not_acceptable("Only JSON is supported (_format=json)")
        return media
    accept = request.headers.get("accept")
    if not accept:
        return FHIR_JSON
    offered = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    if offered & _ACCEPT_ANY or FHIR_JSON in offered or "application/json+fhir" in offered:
        return FHIR_JSON
    if "application/json" in offered:
        return "application/json"
    raise not_acceptable("Only application/fhir+json is supported")


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, after checking its media type (415) and size (413).

    The answer's media type (406) is checked first too: a write must not be stored and
    then answered with an error the client may retry.
    """
    response_media_type(request)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in _JSON_MEDIA:
        raise unsupported_media_type("Send FHIR resources as application/fhir+json")
    return await read_limited(request, max_bytes)


async def read_limited(request: Request, max_bytes: int) -> bytes:
    """The body as sent, whatever its media type; 413 as soon as it passes `max_bytes`
    (never held in memory whole before the check)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise payload_too_large(f"The request body exceeds {max_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise payload_too_large(f"The request body exceeds {max_bytes} bytes")
    return bytes(body)


def error_response(error: FhirError) -> FhirResponse:
    """The OperationOutcome answer of `error`, with its status and headers."""
    return FhirResponse(
        content=dumps(error.outcome()), status_code=error.status, headers=error.headers
    )


def dumps(data: Any, request: Request | None = None) -> bytes:
    pretty = request is not None and request.query_params.get("_pretty") == "true"
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 if pretty else 0)


def respond(
    request: Request,
    content: bytes | dict[str, Any] | None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> FhirResponse:
    media = response_media_type(request)
    if isinstance(content, dict):
        content = dumps(content, request)
    elif content is not None and request.query_params.get("_pretty") == "true":
        content = dumps(orjson.loads(content), request)
    response = FhirResponse(content=content or b"", status_code=status, headers=headers)
    if media != FHIR_JSON:
        response.headers["content-type"] = f"{media}; charset=utf-8"
    return response


def version_headers(stored: StoredResource, base_url: str) -> dict[str, str]:
    return {
        "ETag": stored.etag,
        "Last-Modified": format_datetime(stored.last_updated, usegmt=True),
        "Location": f"{base_url}/{stored.versioned_path}",
    }


def link_url(base_url: str, resource_type: str, params: list[tuple[str, str]]) -> str:
    query = urlencode(params)
    return f"{base_url}/{resource_type}" + (f"?{query}" if query else "")
