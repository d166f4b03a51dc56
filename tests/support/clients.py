"""Backend-services clients for tests of the token endpoint: keys, registrations, assertions.

    ehr = TestClient.new("ehr-1", role="facility", organizations=["Organization/1"])
    settings = make_settings("intake", auth_clients_file=registry_file(tmp_path, [ehr]))
    response = await http.post("/auth/token", data=token_form(ehr.assertion()))

`assertion(...)` signs what a well-behaved client sends; its keywords change one claim
(None removes it) or the header, to try each rule of the endpoint.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
from fastapi import FastAPI

from shared.smart.client_assertion import ASSERTION_TYPE
from shared.smart.keys import SigningKey
from tests.support.tokens import new_key

ORIGIN = "http://testserver"
TOKEN_URL = f"{ORIGIN}/auth/token"
_UNSET: Any = object()


@dataclass
class TestClient:
    """A client's identity and its private key, and how it is registered."""

    __test__ = False  # not a pytest class

    client_id: str
    key: SigningKey
    registration: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(
        cls,
        client_id: str,
        *,
        kind: str = "ec",
        role: str = "system",
        scopes: list[str] | None = None,
        **registration: Any,
    ) -> TestClient:
        """A client with a fresh `kind` key ("ec": ES384, "rsa": RS384), registered inline."""
        key = new_key(kind)
        entry = {
            "client_id": client_id,
            "role": role,
            "scopes": scopes or ["system/*.cruds"],
            "jwks": key.jwks(),
        } | registration
        return cls(client_id, key, entry)

    def assertion(
        self,
        *,
        key: SigningKey | None = None,
        headers: dict[str, Any] | None = None,
        algorithm: str | None = None,
        **claims: Any,
    ) -> str:
        """A signed assertion for TOKEN_URL; `claims` override (None removes) a claim."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": TOKEN_URL,
            "exp": now + 120,
            "iat": now,
            "jti": uuid.uuid4().hex,
        }
        for name, value in claims.items():
            if value is None:
                body.pop(name, None)
            else:
                body[name] = value
        signer = key or self.key
        header = {"kid": signer.kid} | (headers or {})
        return jwt.encode(
            body, signer.private_key, algorithm=algorithm or signer.algorithm, headers=header
        )


def registry_file(directory: Path, clients: list[TestClient]) -> Path:
    """An AUTH_CLIENTS_FILE registering `clients`."""
    path = directory / f"clients-{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps([c.registration for c in clients]), encoding="utf-8")
    return path


def token_form(assertion: str, scope: str | None = None, **more: str) -> dict[str, str]:
    """The form of a client-credentials token request with `assertion`."""
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    if scope is not None:
        form["scope"] = scope
    return form | more


def origin_client(app: FastAPI) -> httpx.AsyncClient:
    """A client of `app` at its origin (the token endpoint is outside the FHIR base),
    sending no Authorization header."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN)
