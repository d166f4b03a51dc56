"""The client registry is read again when AUTH_CLIENTS_FILE changes: a registration
withdrawn there gets no more tokens, without a restart; a broken edit changes nothing; and
the platform's own credentials are never taken for a registered client."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.auth import DEV_PRINCIPAL, SERVICE_PRINCIPAL, Principal
from shared.settings import ServiceSettings
from shared.smart.clients import ClientRegistry, load_clients, registered_client_id
from tests.fixtures import running_app
from tests.support.clients import TestClient, origin_client, registry_file, token_form

EHR = TestClient.new("ehr-alder", role="facility", organizations=["Organization/alder"])
OPS = TestClient.new("ops", role="admin", scopes=["system/Organization.rs"])


def rewrite(path: Path, clients: list[TestClient]) -> None:
    """The operator's edit of the registry file, seen as a change however fast it comes."""
    before = path.stat().st_mtime_ns
    path.write_text(json.dumps([c.registration for c in clients]), encoding="utf-8")
    os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def registry(path: Path) -> ClientRegistry:
    return ClientRegistry(path, development=True, jwks_ttl_seconds=60)


def test_a_withdrawn_registration_is_gone_and_an_added_one_is_there(tmp_path: Path) -> None:
    path = registry_file(tmp_path, [EHR, OPS])
    clients = registry(path)
    assert "ehr-alder" in clients and "ops" in clients

    rewrite(path, [OPS])

    assert "ehr-alder" not in clients and "ops" in clients
    rewrite(path, [OPS, EHR])
    assert set(clients.clients()) == {"ops", "ehr-alder"}


def test_a_broken_edit_or_a_missing_file_keeps_the_last_good_registry(tmp_path: Path) -> None:
    path = registry_file(tmp_path, [EHR, OPS])
    clients = registry(path)

    path.write_text('[{"client_id": "half-writ', encoding="utf-8")
    assert set(clients.clients()) == {"ehr-alder", "ops"}
    path.unlink()
    assert set(clients.clients()) == {"ehr-alder", "ops"}
    path.write_text(json.dumps([OPS.registration]), encoding="utf-8")
    assert set(clients.clients()) == {"ops"}


def test_a_malformed_registry_is_refused_at_start(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="JSON list"):
        registry(path)


@pytest.mark.parametrize("client_id", [SERVICE_PRINCIPAL.client_id, DEV_PRINCIPAL.client_id])
def test_the_platforms_own_client_ids_cannot_be_registered(tmp_path: Path, client_id: str) -> None:
    path = registry_file(tmp_path, [TestClient.new(client_id, role="system")])
    with pytest.raises(ValueError, match="reserved"):
        load_clients(path, development=True, jwks_ttl_seconds=60)


def test_only_a_platform_access_token_names_a_registered_client() -> None:
    facility = Principal(client_id="ehr-alder", scopes=frozenset(), role="facility")
    user = Principal(
        client_id="reading-app",
        scopes=frozenset(),
        role="radiologist",
        fhir_user="Practitioner/p-1",
        user="idp|p-1",
    )
    assert registered_client_id(facility) == "ehr-alder"
    assert registered_client_id(user) is None  # the identity provider's client
    assert registered_client_id(SERVICE_PRINCIPAL) is None
    assert registered_client_id(DEV_PRINCIPAL) is None


async def test_a_withdrawn_client_gets_no_more_tokens_without_a_restart(
    make_settings: Callable[..., ServiceSettings], tmp_path: Path
) -> None:
    path = registry_file(tmp_path, [EHR, OPS])
    settings = make_settings("intake", auth_clients_file=path)
    async with running_app("intake", settings) as app, origin_client(app) as http:
        assert (await http.post("/auth/token", data=token_form(OPS.assertion()))).status_code == 200

        rewrite(path, [EHR])
        refused = await http.post("/auth/token", data=token_form(OPS.assertion()))

    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
