"""Service settings from the environment (12-factor), refusing bad values at start-up.

Every service reads the same variable names; each runs as its own process with its own
environment. Unset, a service runs on an embedded SQLite file under `var/`.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from shared.events.endpoint_policy import DEFAULT_ALLOWED_PORTS
from shared.smart.config import check_auth_settings

DEV_TOKEN_DEFAULT = "dev-token"
MIN_SECRET_LENGTH = 32  # a shared secret (service token, signing secret) outside development
# Development-only signing secret for the platform's own subscriptions; refused elsewhere.
DEV_EVENTS_SECRET_DEFAULT = "development-only-events-signing-secret-0123456789"
# The most a radiologist's OpenID Connect user token may be granted (OIDC_SCOPES).
DEFAULT_OIDC_SCOPES = (
    "user/Task.rus user/ServiceRequest.rs user/ImagingStudy.rs user/Patient.rs "
    "user/Endpoint.rs user/DiagnosticReport.crus user/Provenance.rs user/Communication.crs "
    "user/Practitioner.rs user/PractitionerRole.rs"
)
# The throw-away database passwords of the development stacks (docker-compose.yml, the
# Kubernetes dev overlay); refused outside development with the other default secrets.
DEV_DATABASE_PASSWORDS = frozenset({"fhir"})
_PEER_URL = "Origin (scheme://host[:port]) of the {} service; it serves FHIR at FHIR_BASE_PATH"
_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


def async_database_url(value: str) -> str:
    """`value` with the async driver of its database ('' stays ''); ValueError if unknown."""
    if not value:
        return value
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in _DRIVERS:
        raise ValueError("DATABASE_URL must start with postgresql:// or sqlite://")
    return f"{_DRIVERS[scheme]}://{rest}"


def database_password(url: str) -> str | None:
    """The password in a database URL, None without one (or when the URL does not parse)."""
    try:
        return make_url(url).password if url else None
    except (ArgumentError, ValueError):
        return None


# The audit log every service appends to when AUDIT_DATABASE_URL is not set.
DEFAULT_AUDIT_DATABASE_URL = "sqlite+aiosqlite:///var/audit.db"


def default_database_url(service_name: str) -> str:
    """Where a service keeps its data when DATABASE_URL is not set: an embedded SQLite file."""
    return f"sqlite+aiosqlite:///var/{service_name}.db"


def http_origin(value: str | None, name: str) -> str | None:
    """`value` without a trailing slash; ValueError naming `name` unless it is http(s)."""
    if value is not None and not value.startswith(("http://", "https://")):
        raise ValueError(f"{name} must be an http(s) URL")
    return value.rstrip("/") if value else value


class ProcessSettings(BaseSettings):
    """What every process of the platform reads the same way: the services and the gateway."""

    # A refused value is named, never echoed: it may be a secret or a URL with a password.
    model_config = SettingsConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    service_name: str = Field(default="intake", pattern=r"^[a-z][a-z0-9-]{1,40}$")
    environment: Literal["development", "test", "production"] = "development"
    fhir_base_path: str = Field(default="/fhir", pattern=r"^(/[A-Za-z0-9._-]+)+$")
    public_base_url: str | None = Field(
        default=None,
        description="External origin (scheme://host[:port]) behind a proxy; the FHIR base "
        "is this plus FHIR_BASE_PATH",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_request_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_query_bytes: int = Field(
        default=8192, ge=256, description="Longest query string (414 past it)"
    )
    max_query_parameters: int = Field(
        default=100, ge=1, description="Most parameters in a query or search form (400 past it)"
    )
    otel_traces_exporter: Literal["none", "console", "otlp"] = "none"
    otel_exporter_otlp_endpoint: str | None = None
    otel_traces_sample_ratio: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="Share of new traces recorded (a caller's sampling decision is followed)",
    )

    @field_validator("public_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return http_origin(value, "PUBLIC_BASE_URL")

    @model_validator(mode="after")
    def _exporter_configured(self) -> ProcessSettings:
        if self.otel_traces_exporter == "otlp" and not self.otel_exporter_otlp_endpoint:
            raise ValueError("OTEL_TRACES_EXPORTER=otlp needs OTEL_EXPORTER_OTLP_ENDPOINT")
        return self


class PeerSettings(ProcessSettings):
    """Where each service answers (its origin); read by the gateway and by every service
    that calls or subscribes to another."""

    intake_url: str = Field(default="http://127.0.0.1:8081", description=_PEER_URL.format("intake"))
    assignment_url: str = Field(
        default="http://127.0.0.1:8082", description=_PEER_URL.format("assignment")
    )
    reporting_url: str = Field(
        default="http://127.0.0.1:8083", description=_PEER_URL.format("reporting")
    )
    sla_url: str = Field(default="http://127.0.0.1:8084", description=_PEER_URL.format("sla"))

    @field_validator("intake_url", "assignment_url", "reporting_url", "sla_url")
    @classmethod
    def _service_origin(cls, value: str) -> str:
        return http_origin(value, "service URLs") or ""

    @property
    def service_urls(self) -> dict[str, str]:
        """Each service's origin, by service name (the names of the services' registries)."""
        return {
            "intake": self.intake_url,
            "assignment": self.assignment_url,
            "reporting": self.reporting_url,
            "sla": self.sla_url,
        }

    def unset_peer_urls(self) -> list[str]:
        """The *_URL variables left at their local defaults (refused in production)."""
        return sorted(
            f"{name.upper()}_URL"
            for name in self.service_urls
            if f"{name}_url" not in self.model_fields_set
        )


class ServiceSettings(PeerSettings):
    """Settings of a FHIR service."""

    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; postgresql:// or sqlite:// (default: var/<service>.db)",
    )
    db_pool_size: int = Field(default=10, ge=1, le=200)
    audit_database_url: str = Field(
        default="",
        description="SQLAlchemy URL of the append-only audit log the services share "
        "(AuditEvents); postgresql:// or sqlite:// (default: var/audit.db)",
    )
    dev_auth_token: SecretStr = SecretStr(DEV_TOKEN_DEFAULT)
    search_default_count: int = Field(default=20, ge=1, le=1000)
    search_max_count: int = Field(default=200, ge=1, le=1000)
    include_max: int = Field(default=500, ge=1, le=5000)
    rate_limit_per_second: float = Field(
        default=50.0, ge=0, description="Requests a second per client in this process; 0: off"
    )
    rate_limit_burst: int = Field(
        default=100, ge=1, description="Requests a client may send at once before the rate applies"
    )
    events_enabled: bool = Field(
        default=True, description="Run the outbox relay and the subscription notifier"
    )
    subscription_retry_hours: float = Field(
        default=24.0, gt=0, description="Failing deliveries retry this long before status error"
    )
    subscription_allow_http: bool = Field(
        default=False, description="Allow http:// notification endpoints (https only otherwise)"
    )
    subscription_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Endpoint hosts (or *.suffix) exempt from the address checks, where "
        "plain http is allowed too (e.g. the platform's own services in a cluster)",
    )
    subscription_allowed_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs endpoints may resolve to although private/loopback, e.g. 127.0.0.0/8",
    )
    subscription_allowed_ports: list[int] = Field(
        default_factory=lambda: sorted(DEFAULT_ALLOWED_PORTS),
        description="Ports endpoints may use (allowed hosts and networks may use any)",
    )

    internal_url: str | None = Field(
        default=None,
        description="This service's own origin as the other services reach it; the endpoint "
        "of its subscriptions is this plus /events/<name>",
    )
    service_token: SecretStr = Field(
        default=SecretStr(DEV_TOKEN_DEFAULT),
        description="Bearer token this service presents when it calls another service",
    )
    events_signing_secret: SecretStr = Field(
        default=SecretStr(DEV_EVENTS_SECRET_DEFAULT),
        description="HMAC secret of this service's own subscriptions (at least 32 characters)",
        min_length=32,
    )

    auth_signing_key: SecretStr | None = Field(
        default=None,
        description="PEM private key (EC P-384 or RSA) signing the platform's access tokens; "
        "only the service hosting /auth/token (intake) needs it",
    )
    auth_verify_jwks: str | None = Field(
        default=None,
        description="JWKS (JSON) of the platform's public keys, which every service verifies "
        "access tokens with (several while a key is rotated)",
    )
    auth_clients_file: Path | None = Field(
        default=None, description="JSON list of the registered backend-services clients"
    )
    access_token_seconds: int = Field(default=300, ge=30, le=300)
    auth_jwks_cache_seconds: float = Field(
        default=300.0, gt=0, description="How long fetched JWKS (jwks_uri, OIDC) are reused"
    )
    oidc_issuer: str | None = Field(default=None, description="Issuer of accepted user tokens")
    oidc_jwks_url: str | None = Field(default=None, description="The OIDC provider's JWKS")
    oidc_audience: str | None = Field(default=None, description="`aud` of accepted user tokens")
    oidc_scopes: str = Field(
        default=DEFAULT_OIDC_SCOPES, description="The most scopes a user token is granted"
    )

    @field_validator(
        "auth_signing_key",
        "auth_verify_jwks",
        "auth_clients_file",
        "oidc_issuer",
        "oidc_jwks_url",
        "oidc_audience",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # docker compose passes an unset ${VAR:-} as an empty string.
        return None if value == "" else value

    @field_validator("internal_url")
    @classmethod
    def _internal_origin(cls, value: str | None) -> str | None:
        return http_origin(value, "INTERNAL_URL")

    @field_validator("database_url", "audit_database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        return async_database_url(value)

    @field_validator("subscription_allowed_ports")
    @classmethod
    def _ports(cls, value: list[int]) -> list[int]:
        if any(not 0 < port < 65536 for port in value):
            raise ValueError("SUBSCRIPTION_ALLOWED_PORTS are TCP ports, 1-65535")
        return value

    @field_validator("subscription_allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)  # ValueError names the bad one
        return value

    @model_validator(mode="after")
    def _safe_outside_development(self) -> ServiceSettings:
        if self.search_default_count > self.search_max_count:
            raise ValueError("SEARCH_DEFAULT_COUNT exceeds SEARCH_MAX_COUNT")
        if self.environment == "production" and not self.database_url.startswith("postgresql"):
            raise ValueError("production needs a PostgreSQL DATABASE_URL")
        if self.environment == "production" and not self.audit_database_url.startswith(
            "postgresql"
        ):
            raise ValueError("production needs a PostgreSQL AUDIT_DATABASE_URL")
        if self.environment != "development":
            self._refuse_development_secrets()
        check_auth_settings(self)
        return self

    def _refuse_development_secrets(self) -> None:
        service_token = self.service_token.get_secret_value()
        if self.events_signing_secret.get_secret_value() == DEV_EVENTS_SECRET_DEFAULT:
            raise ValueError("EVENTS_SIGNING_SECRET must be set outside development")
        if service_token == DEV_TOKEN_DEFAULT:
            raise ValueError("SERVICE_TOKEN must be set outside development")
        if len(service_token) < MIN_SECRET_LENGTH:
            raise ValueError(f"SERVICE_TOKEN needs at least {MIN_SECRET_LENGTH} characters")
        if self.events_signing_secret.get_secret_value() == service_token:
            raise ValueError("EVENTS_SIGNING_SECRET and SERVICE_TOKEN must be different secrets")
        for name, url in (
            ("DATABASE_URL", self.database_url),
            ("AUDIT_DATABASE_URL", self.audit_database_url),
        ):
            if database_password(url) in DEV_DATABASE_PASSWORDS:
                raise ValueError(f"{name} has a development password; set a real one")

    @property
    def public_fhir_base(self) -> str:
        """The FHIR base clients use, where no request tells it (notifications)."""
        origin = self.public_base_url or f"http://{self.service_name}"
        return f"{origin}{self.fhir_base_path}"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or default_database_url(self.service_name)

    @property
    def resolved_audit_database_url(self) -> str:
        return self.audit_database_url or DEFAULT_AUDIT_DATABASE_URL
