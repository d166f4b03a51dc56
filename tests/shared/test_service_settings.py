"""What a service needs to talk to the others, refused at start-up when it is unsafe or
unusable: its own internal origin (INTERNAL_URL), the token it presents to the others
(SERVICE_TOKEN) and the secret signing its subscriptions (EVENTS_SIGNING_SECRET) -- the
development defaults of the last two are refused anywhere but in development."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from services.sla.consumers import CONSUMPTIONS as SLA_CONSUMPTIONS
from shared.events.bootstrap import subscription_resource
from shared.events.subscriptions import SIGNING_SECRET
from shared.settings import DEV_EVENTS_SECRET_DEFAULT, DEV_TOKEN_DEFAULT, ServiceSettings
from tests.fixtures import start_app
from tests.support.tokens import TEST_VERIFY_JWKS

SECRET = "a-real-events-signing-secret-of-40-chars!"
POSTGRES = "postgresql://sla:pw@db:5432/sla"


def outside_development(environment: str = "test", **values: Any) -> ServiceSettings:
    """Settings for `environment` with every secret set, unless `values` says otherwise."""
    defaults: dict[str, Any] = {
        "environment": environment,
        "database_url": POSTGRES,
        "audit_database_url": POSTGRES,
        "service_token": "a-real-service-token-of-32-characters-or-more",
        "events_signing_secret": SECRET,
        "auth_verify_jwks": TEST_VERIFY_JWKS,
    }
    return ServiceSettings(**(defaults | values))


def refusal(**values: Any) -> str:
    with pytest.raises(ValidationError) as refused:
        ServiceSettings(**values)
    return str(refused.value)


# -- secrets ------------------------------------------------------------------------------


def test_development_runs_on_the_default_secrets() -> None:
    settings = ServiceSettings(environment="development")

    assert settings.service_token.get_secret_value() == DEV_TOKEN_DEFAULT
    assert settings.events_signing_secret.get_secret_value() == DEV_EVENTS_SECRET_DEFAULT


@pytest.mark.parametrize("environment", ["test", "production"])
def test_every_secret_set_is_accepted_outside_development(environment: str) -> None:
    settings = outside_development(environment)

    assert settings.events_signing_secret.get_secret_value() == SECRET


@pytest.mark.parametrize("environment", ["test", "production"])
@pytest.mark.parametrize(
    ("name", "variable"),
    [("service_token", "SERVICE_TOKEN"), ("events_signing_secret", "EVENTS_SIGNING_SECRET")],
)
def test_a_default_secret_is_refused_outside_development(
    environment: str, name: str, variable: str
) -> None:
    values = {
        "environment": environment,
        "database_url": POSTGRES,
        "audit_database_url": POSTGRES,
        "service_token": "a-real-service-token-of-32-characters-or-more",
        "events_signing_secret": SECRET,
        "auth_verify_jwks": TEST_VERIFY_JWKS,
    }
    del values[name]

    assert f"{variable} must be set outside development" in refusal(**values)


def test_the_default_secrets_given_explicitly_are_refused_too() -> None:
    message = refusal(
        environment="test",
        service_token="a-real-service-token-of-32-characters-or-more",
        events_signing_secret=DEV_EVENTS_SECRET_DEFAULT,
    )

    assert "EVENTS_SIGNING_SECRET" in message


@pytest.mark.parametrize("environment", ["development", "test"])
def test_an_events_secret_shorter_than_32_characters_is_refused(environment: str) -> None:
    values: dict[str, Any] = {
        "environment": environment,
        "service_token": "a-real-service-token-of-32-characters-or-more",
        "auth_verify_jwks": TEST_VERIFY_JWKS,
    }

    assert "events_signing_secret" in refusal(**values, events_signing_secret="x" * 31)
    accepted = ServiceSettings(**(values | {"events_signing_secret": "x" * 32}))
    assert len(accepted.events_signing_secret.get_secret_value()) == 32


def test_secrets_never_show_in_the_settings_printout() -> None:
    settings = outside_development()

    shown = f"{settings!r} {settings}"

    assert SECRET not in shown
    assert "a-real-service-token-of-32-characters-or-more" not in shown


def test_secrets_and_internal_url_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("SERVICE_TOKEN", "token-from-the-environment-0123456789abcdef")
    monkeypatch.setenv("EVENTS_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("INTERNAL_URL", "http://sla.internal:8084/")
    monkeypatch.setenv("AUTH_VERIFY_JWKS", TEST_VERIFY_JWKS)

    settings = ServiceSettings()

    assert (
        settings.service_token.get_secret_value() == "token-from-the-environment-0123456789abcdef"
    )
    assert settings.events_signing_secret.get_secret_value() == SECRET
    assert settings.internal_url == "http://sla.internal:8084"


# -- where the services are ---------------------------------------------------------------


@pytest.mark.parametrize("url", ["sla.internal:8084", "ftp://sla.internal", "//sla", ""])
def test_internal_url_must_be_an_http_origin(url: str) -> None:
    assert "INTERNAL_URL must be an http(s) URL" in refusal(internal_url=url)


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("http://sla.internal:8084/", "http://sla.internal:8084"),
        ("https://sla.example.org", "https://sla.example.org"),
    ],
)
def test_internal_url_is_kept_without_a_trailing_slash(url: str, kept: str) -> None:
    assert ServiceSettings(internal_url=url).internal_url == kept


def test_subscriptions_deliver_to_the_internal_url_signed_with_the_services_secret() -> None:
    settings = outside_development(service_name="sla", internal_url="https://sla.internal/")
    report_final = next(c for c in SLA_CONSUMPTIONS if c.name == "report-final")

    subscription = subscription_resource(report_final, settings)

    assert subscription["criteria"] == report_final.topic
    assert subscription["channel"]["endpoint"] == "https://sla.internal/events/report-final"
    assert subscription["extension"] == [{"url": SIGNING_SECRET, "valueString": SECRET}]


def test_a_subscription_cannot_be_made_without_an_internal_url() -> None:
    with pytest.raises(ValueError, match="INTERNAL_URL"):
        subscription_resource(SLA_CONSUMPTIONS[0], ServiceSettings(service_name="sla"))


async def test_a_service_consuming_events_will_not_start_without_its_internal_url(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    settings = make_settings("sla", events_enabled=True)

    with pytest.raises(ValueError, match="INTERNAL_URL"):
        await start_app("sla", settings)


@pytest.mark.parametrize("name", ["intake_url", "assignment_url", "reporting_url", "sla_url"])
def test_peer_urls_must_be_http_origins(name: str) -> None:
    assert "http(s) URL" in refusal(**{name: "assignment:8082"})


def test_peer_urls_are_found_by_service_name() -> None:
    settings = ServiceSettings(assignment_url="http://assignment.internal:8082/")

    assert settings.service_urls["assignment"] == "http://assignment.internal:8082"
    assert settings.unset_peer_urls() == ["INTAKE_URL", "REPORTING_URL", "SLA_URL"]


def test_a_short_service_token_is_refused_outside_development() -> None:
    with pytest.raises(ValidationError, match="SERVICE_TOKEN needs at least 32"):
        ServiceSettings(
            environment="production",
            database_url="postgresql://db/x",
            audit_database_url="postgresql://db/audit",
            service_token="short-token",
            events_signing_secret="an-events-signing-secret-of-40-characters",
        )
