"""INTERIM (replaced when SMART tokens land): principals by opaque test tokens."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from shared.auth import Principal, authenticate

_BY_TOKEN: dict[str, Principal] = {}


async def _lookup(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    principal = _BY_TOKEN.get(header.partition(" ")[2])
    if principal is None:
        return await authenticate(request)
    request.state.principal = principal
    return principal


def bearer_token(settings: Any, principal: Principal, **_: Any) -> str:
    token = f"test-{len(_BY_TOKEN)}"
    _BY_TOKEN[token] = principal
    return token


def install(app: Any) -> None:
    app.dependency_overrides[authenticate] = _lookup
