"""The running platform as an end-to-end test sees it (made by the `platform` fixture in
conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import httpx

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
