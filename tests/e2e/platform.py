"""The running platform as an end-to-end test sees it (made by the `platform` fixture in
conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import httpx

from scripts.dev_token import request_token
from scripts.local_platform import GATEWAY, LocalPlatform
from tests.fixtures import DEV_TOKEN


@dataclass(frozen=True)
class E2EPlatform:
    """The running platform as a test sees it: where to send requests, with what
    credentials, and each service's database."""

    AUTH: ClassVar[dict[str, str]] = {"Authorization": f"Bearer {DEV_TOKEN}"}

    local: LocalPlatform
    fhir_base: str
    service_bases: dict[str, str]
    database_urls: dict[str, str]

    def client(self, service: str = GATEWAY) -> httpx.Client:
        """An authenticated client of a FHIR base (the gateway's by default)."""
        return httpx.Client(base_url=self.base(service), headers=self.AUTH, trust_env=False)

    def async_client(self, service: str = GATEWAY) -> httpx.AsyncClient:
        """`client` for async tests."""
        return httpx.AsyncClient(base_url=self.base(service), headers=self.AUTH, trust_env=False)

    def base(self, service: str = GATEWAY) -> str:
        """The FHIR base of `service` on its own port, or the gateway's."""
        return self.fhir_base if service == GATEWAY else self.service_bases[service]

    def client_as(self, client_id: str) -> httpx.Client:
        """A gateway client with a real token of the development client `client_id` (e.g.
        "ehr-mercy-dallas": a facility's EHR), from the token endpoint."""
        gateway = self.fhir_base.removesuffix("/fhir")
        token_url = f"{self.local.public_base_url}/auth/token"
        token = request_token(client_id, token_url=token_url, post_to=f"{gateway}/auth/token")
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=self.fhir_base, headers=headers, trust_env=False)
