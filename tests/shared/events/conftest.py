"""Fixtures of the events tests: `dns` (name lookups answered by `FakeDns`, never a real
resolver) and `plain_httpx` (httpx as if no app had instrumented it)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

from tests.support.endpoints import FakeDns


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    fake = FakeDns()
    real = asyncio.base_events.BaseEventLoop.getaddrinfo

    async def getaddrinfo(
        loop: asyncio.AbstractEventLoop, host: Any, port: Any, **kwargs: Any
    ) -> list[tuple[Any, ...]]:
        return await fake.getaddrinfo(real, loop, host, port, **kwargs)

    monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "getaddrinfo", getaddrinfo)
    return fake


@pytest.fixture
def plain_httpx() -> Iterator[None]:
    """httpx without OpenTelemetry for the test: any app started earlier in the process
    instruments httpx process-wide, which replaces the traceparent a test sends."""
    instrumentor = HTTPXClientInstrumentor()
    was_instrumented = instrumentor.is_instrumented_by_opentelemetry
    if was_instrumented:
        instrumentor.uninstrument()
    try:
        yield
    finally:
        if was_instrumented:
            instrumentor.instrument()
