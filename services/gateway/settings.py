"""The gateway's settings from the environment (12-factor), refusing bad values at start-up.

The gateway has no database and serves no resource of its own: it shares with the
services only `ProcessSettings` (`ENVIRONMENT`, `FHIR_BASE_PATH`, `PUBLIC_BASE_URL`,
`LOG_LEVEL`, `MAX_REQUEST_BYTES`, `OTEL_*`), which mean the same thing everywhere.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from shared.settings import ProcessSettings

_URL = "Origin (scheme://host[:port]) of the {} service; it serves FHIR at FHIR_BASE_PATH"


class GatewaySettings(ProcessSettings):
    """Where each service answers, and how the front door presents them."""

    service_name: str = Field(default="gateway", pattern=r"^[a-z][a-z0-9-]{1,40}$")
    intake_url: str = Field(default="http://127.0.0.1:8081", description=_URL.format("intake"))
    assignment_url: str = Field(
        default="http://127.0.0.1:8082", description=_URL.format("assignment")
    )
    reporting_url: str = Field(
        default="http://127.0.0.1:8083", description=_URL.format("reporting")
    )
    sla_url: str = Field(default="http://127.0.0.1:8084", description=_URL.format("sla"))
    upstream_timeout_seconds: float = Field(default=30.0, gt=0)
    metadata_cache_seconds: float = Field(
        default=30.0, ge=0, description="How long the merged CapabilityStatement is reused"
    )

    @field_validator("intake_url", "assignment_url", "reporting_url", "sla_url")
    @classmethod
    def _service_origin(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("service URLs must be http(s) URLs")
        return value.rstrip("/")

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
