"""The gateway's settings from the environment (12-factor), refusing bad values at start-up.

The gateway has no database and serves no resource of its own, so it does not share
`ServiceSettings`; the names it has in common with the services (`ENVIRONMENT`,
`FHIR_BASE_PATH`, `PUBLIC_BASE_URL`, `LOG_LEVEL`, `OTEL_*`) mean the same thing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_URL = "Origin (scheme://host[:port]) of the {} service; it serves FHIR at FHIR_BASE_PATH"


class GatewaySettings(BaseSettings):
    """Where each service answers, and how the front door presents them."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service_name: str = Field(default="gateway", pattern=r"^[a-z][a-z0-9-]{1,40}$")
    environment: Literal["development", "test", "production"] = "development"
    intake_url: str = Field(default="http://127.0.0.1:8081", description=_URL.format("intake"))
    assignment_url: str = Field(
        default="http://127.0.0.1:8082", description=_URL.format("assignment")
    )
    reporting_url: str = Field(
        default="http://127.0.0.1:8083", description=_URL.format("reporting")
    )
    sla_url: str = Field(default="http://127.0.0.1:8084", description=_URL.format("sla"))
    fhir_base_path: str = Field(default="/fhir", pattern=r"^(/[A-Za-z0-9._-]+)+$")
    public_base_url: str | None = Field(
        default=None,
        description="External origin (scheme://host[:port]) of the front door; the FHIR base "
        "is this plus FHIR_BASE_PATH",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # As large as the services' own MAX_REQUEST_BYTES: they give the precise 413.
    max_request_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    upstream_timeout_seconds: float = Field(default=30.0, gt=0)
    metadata_cache_seconds: float = Field(
        default=30.0, ge=0, description="How long the merged CapabilityStatement is reused"
    )
    otel_traces_exporter: Literal["none", "console", "otlp"] = "none"
    otel_exporter_otlp_endpoint: str | None = None

    @field_validator("intake_url", "assignment_url", "reporting_url", "sla_url")
    @classmethod
    def _service_origin(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("service URLs must be http(s) URLs")
        return value.rstrip("/")

    @field_validator("public_base_url")
    @classmethod
    def _public_origin(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("PUBLIC_BASE_URL must be an http(s) URL")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _safe_outside_development(self) -> GatewaySettings:
        if self.environment == "production":
            unset = sorted(
                f"{name.upper()}_URL"
                for name in self.service_urls
                if f"{name}_url" not in self.model_fields_set
            )
            if unset:
                raise ValueError(f"production needs {', '.join(unset)} set explicitly")
        if self.otel_traces_exporter == "otlp" and not self.otel_exporter_otlp_endpoint:
            raise ValueError("OTEL_TRACES_EXPORTER=otlp needs OTEL_EXPORTER_OTLP_ENDPOINT")
        return self

    @property
    def service_urls(self) -> dict[str, str]:
        """Each service's origin, by service name (the names of the services' registries)."""
        return {
            "intake": self.intake_url,
            "assignment": self.assignment_url,
            "reporting": self.reporting_url,
            "sla": self.sla_url,
        }
