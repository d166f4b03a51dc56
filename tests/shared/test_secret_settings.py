"""Secrets come only from configuration: outside development the settings refuse the
development defaults (shared secrets, the development stacks' database password), one
secret doing two jobs, and a start-up error never echoes the value it refused."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.gateway.settings import GatewaySettings
from shared.settings import ServiceSettings
from tests.support.tokens import TEST_SIGNING_PEM, TEST_VERIFY_JWKS

SERVICE_TOKEN = "a-real-service-token-of-32-characters-or-more"
EVENTS_SECRET = "a-real-events-signing-secret-of-40-chars!"


def outside_development(**values: Any) -> dict[str, Any]:
    return {
        "environment": "production",
        "database_url": "postgresql://intake:Str0ng-pa55@db:5432/intake",
        "audit_database_url": "postgresql://audit:Str0ng-pa55@db:5432/audit",
        "auth_signing_key": TEST_SIGNING_PEM,
        "auth_verify_jwks": TEST_VERIFY_JWKS,
        "service_token": SERVICE_TOKEN,
        "events_signing_secret": EVENTS_SECRET,
    } | values


def refusal(settings: type[ServiceSettings] | type[GatewaySettings], **values: Any) -> str:
    with pytest.raises(ValidationError) as refused:
        settings(**values)
    return str(refused.value)


@pytest.mark.parametrize("environment", ["test", "production"])
def test_the_development_database_password_is_refused_outside_development(
    environment: str,
) -> None:
    values = outside_development(
        environment=environment, database_url="postgresql://fhir:fhir@postgres:5432/intake"
    )

    assert "DATABASE_URL has a development password" in refusal(ServiceSettings, **values)


def test_the_development_database_password_is_fine_in_development() -> None:
    settings = ServiceSettings(database_url="postgresql://fhir:fhir@127.0.0.1:55432/intake")

    assert settings.environment == "development"


def test_a_database_url_without_a_password_is_accepted() -> None:
    settings = ServiceSettings(**outside_development(database_url="postgresql://intake@db/intake"))

    assert settings.database_url.startswith("postgresql+asyncpg://")


def test_one_secret_for_both_jobs_is_refused_outside_development() -> None:
    values = outside_development(events_signing_secret=SERVICE_TOKEN)

    assert "must be different secrets" in refusal(ServiceSettings, **values)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("database_url", "mysql://intake:s3cr3t-in-url@db/intake"),
        ("service_token", "s3cr3t-but-short"),
        ("events_signing_secret", "s3cr3t-but-short"),
    ],
)
def test_a_refused_value_is_never_echoed_in_the_error(name: str, value: str) -> None:
    message = refusal(ServiceSettings, **outside_development(**{name: value}))

    assert "s3cr3t" not in message


def test_the_gateway_never_echoes_a_refused_value_either() -> None:
    message = refusal(GatewaySettings, public_base_url="ftp://user:s3cr3t@example.org")

    assert "s3cr3t" not in message
