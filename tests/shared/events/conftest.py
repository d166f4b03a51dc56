"""The `dns` fixture: name lookups answered by `FakeDns` (tests.support.endpoints), never a
real resolver; the delivery and endpoint-policy tests use it for every test."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

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
