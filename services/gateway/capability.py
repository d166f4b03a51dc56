"""One CapabilityStatement for the front door, merged from the services' own.

Each service describes what it serves (generated from its registry); the front door lists
every service's resources under one `rest` entry. Subscription, which each service offering
topics serves for its own topics, appears once with every topic.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from shared.fhir.capability import smart_security
from shared.fhir.outcomes import FhirError

log = logging.getLogger("teleradiology.gateway")

Statement = dict[str, Any]


def merge_capability_statements(
    statements: Sequence[Statement], *, software_version: str
) -> Statement:
    """One statement listing every resource of `statements` (in their order)."""
    resources: list[dict[str, Any]] = []
    by_type: dict[str, dict[str, Any]] = {}
    operations: list[dict[str, Any]] = []
    for statement in statements:
        _add_missing(operations, statement["rest"][0].get("operation", []))
        for resource in statement["rest"][0]["resource"]:
            known = by_type.get(resource["type"])
            if known is None:
                by_type[resource["type"]] = copy.deepcopy(resource)
                resources.append(by_type[resource["type"]])
            else:  # Subscription: the same definition, with each service's topics
                for key in ("extension", "operation"):
                    _add_missing(known.setdefault(key, []), resource.get(key, []))
    first = statements[0]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": max(s["date"] for s in statements),
        "publisher": first["publisher"],
        "kind": "instance",
        "software": {"name": "teleradiology", "version": software_version},
        "implementation": {"description": "Teleradiology platform", "url": ""},
        "fhirVersion": first["fhirVersion"],
        "format": first["format"],
        "rest": [
            {**first["rest"][0], "resource": resources}
            | ({"operation": operations} if operations else {})
        ],
    }


def _add_missing(items: list[Any], more: list[Any]) -> None:
    items.extend(item for item in more if item not in items)


def at_base(statement: Statement, base_url: str, token_url: str) -> Statement:
    """`statement` describing the server at `base_url`, whose clients get their tokens at
    `token_url` (the services describe themselves at their own, internal addresses)."""
    rest = {**statement["rest"][0], "security": smart_security(token_url)}
    return {
        **statement,
        "implementation": {**statement["implementation"], "url": base_url},
        "rest": [rest, *statement["rest"][1:]],
    }


class CapabilityCache:
    """The merged statement, fetched again after `ttl_seconds`; while the services cannot
    be asked, the last good one is served rather than an error."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._statement: Statement | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    def _fresh(self) -> Statement | None:
        if self._statement is not None and (time.monotonic() - self._fetched_at < self.ttl_seconds):
            return self._statement
        return None

    async def get(self, fetch: Callable[[], Awaitable[Statement]]) -> Statement:
        """The cached statement, or `fetch()`'s when it is older than the TTL."""
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        async with self._lock:  # one fetch at a time, however many clients ask
            fresh = self._fresh()
            if fresh is not None:
                return fresh
            try:
                statement = await fetch()
            except FhirError:
                if self._statement is None:
                    raise
                log.warning("serving the previous CapabilityStatement")
                return self._statement
            self._statement, self._fetched_at = statement, time.monotonic()
            return statement
