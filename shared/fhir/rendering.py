"""Bundles for search and history, written straight from stored JSON (no re-parsing)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import orjson

from shared.fhir.http import link_url
from shared.fhir.search.execute import SearchResult
from shared.fhir.service import format_instant, now_utc
from shared.fhir.storage.repository import HistoryEntry, StoredResource

_STATUS_BY_METHOD = {"POST": "201 Created", "PUT": "200 OK", "DELETE": "204 No Content"}


def _bundle_head(bundle_type: str, total: int | None, links: list[dict[str, str]]) -> bytes:
    head: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid4()),
        "meta": {"lastUpdated": format_instant(now_utc())},
        "type": bundle_type,
    }
    if total is not None:
        head["total"] = total
    head["link"] = links
    return orjson.dumps(head)[:-1]


def _with_resource(element: dict[str, Any], content: str | None) -> bytes:
    """`element` as JSON with the stored resource JSON spliced in as `resource`."""
    encoded = orjson.dumps(element)
    if content is None:
        return encoded
    return encoded[:-1] + b',"resource":' + content.encode() + b"}"


def _match(stored: StoredResource, base_url: str, mode: str) -> bytes:
    element = {
        "fullUrl": f"{base_url}/{stored.resource_type}/{stored.id}",
        "search": {"mode": mode},
    }
    return _with_resource(element, stored.content)


def searchset(result: SearchResult, *, base_url: str, resource_type: str) -> bytes:
    """A searchset Bundle with self/next/previous links."""
    params = result.request.link_params
    links = [{"relation": "self", "url": link_url(base_url, resource_type, params)}]
    for relation, token in (("next", result.next_page), ("previous", result.previous_page)):
        if token:
            url = link_url(base_url, resource_type, [*params, ("_page", token)])
            links.append({"relation": relation, "url": url})
    entries = [_match(s, base_url, "match") for s in result.matches]
    entries += [_match(s, base_url, "include") for s in result.included]
    head = _bundle_head("searchset", result.total, links)
    if not entries:  # FHIR JSON has no empty arrays: no matches means no `entry`
        return head + b"}"
    return head + b',"entry":[' + b",".join(entries) + b"]}"


def history(
    entries: list[HistoryEntry],
    *,
    base_url: str,
    self_url: str,
    next_url: str | None,
    total: int | None,
) -> bytes:
    """A history Bundle, newest first; a deletion appears as a request without a resource."""
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    parts = []
    for entry in entries:
        stored = entry.stored
        path = f"{stored.resource_type}/{stored.id}"
        element = {
            "fullUrl": f"{base_url}/{path}",
            "request": {
                "method": entry.method,
                "url": stored.resource_type if entry.method == "POST" else path,
            },
            "response": {
                "status": _STATUS_BY_METHOD.get(entry.method, "200 OK"),
                "etag": stored.etag,
                "lastModified": format_instant(stored.last_updated),
            },
        }
        parts.append(_with_resource(element, None if stored.deleted else stored.content))
    head = _bundle_head("history", total, links)
    if not parts:
        return head + b"}"
    return head + b',"entry":[' + b",".join(parts) + b"]}"
