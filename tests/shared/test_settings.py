"""Settings fail fast on bad configuration, and the dev credential stays in development."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from pydantic import ValidationError

from shared.settings import ServiceSettings
from tests.fixtures import AUTH, client_for, start_app


def test_database_url_is_normalised_to_async_drivers() -> None:
    settings = ServiceSettings(database_url="postgresql://u:p@db:5432/intake")
    assert settings.database_url == "postgresql+asyncpg://u:p@db:5432/intake"
    assert ServiceSettings(database_url="sqlite:///x.db").database_url.startswith(
        "sqlite+aiosqlite"
    )


def test_default_database_is_a_local_sqlite_file_per_service() -> None:
    settings = ServiceSettings(service_name="reporting")
    assert settings.resolved_database_url == "sqlite+aiosqlite:///var/reporting.db"
    # The audit log is one database every service shares, not one per service.
    assert settings.resolved_audit_database_url == "sqlite+aiosqlite:///var/audit.db"
    shared = ServiceSettings(audit_database_url="postgresql://u:p@db:5432/audit")
    assert shared.resolved_audit_database_url == "postgresql+asyncpg://u:p@db:5432/audit"


@pytest.mark.parametrize(
    "overrides",
    [
        {"database_url": "mysql://db/intake"},
        {"environment": "production", "database_url": "sqlite:///x.db"},
        {"audit_database_url": "mysql://db/audit"},
        {
            "environment": "production",
            "database_url": "postgresql://db/intake",
            "audit_database_url": "sqlite:///audit.db",
        },
        {"environment": "staging"},
        {"otel_traces_exporter": "otlp"},
        {"search_default_count": 500, "search_max_count": 100},
        {"public_base_url": "ftp://example.org"},
        {"db_pool_size": 0},
        {"otel_traces_sample_ratio": 1.5},
    ],
)
def test_bad_configuration_is_refused_at_start(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ServiceSettings(**overrides)  # type: ignore[arg-type]


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCH_MAX_COUNT", "50")
    monkeypatch.setenv("FHIR_BASE_PATH", "/api/fhir")
    settings = ServiceSettings()
    assert settings.search_max_count == 50
    assert settings.fhir_base_path == "/api/fhir"


async def test_dev_credential_is_refused_outside_development(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    settings = make_settings(
        "intake", environment="test", service_token="a-real-service-token-of-32-characters-or-more"
    )
    app, manager = await start_app("intake", settings)
    try:
        async with client_for(app, headers=AUTH) as http:
            response = await http.get("/Patient")
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["resourceType"] == "OperationOutcome"
    finally:
        await manager.__aexit__(None, None, None)


async def test_every_fhir_interaction_needs_a_principal(client: httpx.AsyncClient) -> None:
    anonymous = {"Authorization": ""}
    for method, path in [("GET", "/Patient"), ("GET", "/Patient/x"), ("POST", "/")]:
        response = await client.request(method, path, headers=anonymous)
        assert response.status_code == 401, (method, path)
    assert (await client.get("/metadata", headers=anonymous)).status_code == 200


async def test_the_service_token_is_the_platforms_system_client_outside_development(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    token = "a-service-token-from-the-secret-manager-0123456789"
    app, manager = await start_app(
        "intake", make_settings("intake", environment="test", service_token=token)
    )
    try:
        async with client_for(app, headers={"Authorization": f"Bearer {token}"}) as http:
            assert (await http.get("/Patient")).status_code == 200
        async with client_for(app, headers={"Authorization": "Bearer not-the-token"}) as http:
            assert (await http.get("/Patient")).status_code == 401
    finally:
        await manager.__aexit__(None, None, None)
