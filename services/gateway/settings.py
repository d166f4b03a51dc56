"""The gateway's settings from the environment (12-factor), refusing bad values at start-up.

The gateway has no database and serves no resource of its own: it shares with the
services only `PeerSettings` (`ENVIRONMENT`, `FHIR_BASE_PATH`, `PUBLIC_BASE_URL`,
`LOG_LEVEL`, `MAX_REQUEST_BYTES`, `OTEL_*`, and each service's `*_URL`), which mean the
same thing everywhere.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from shared.settings import PeerSettings


class GatewaySettings(PeerSettings):
    """Where each service answers, and how the front door presents them."""

    service_name: str = Field(default="gateway", pattern=r"^[a-z][a-z0-9-]{1,40}$")
    upstream_timeout_seconds: float = Field(default=30.0, gt=0)
    metadata_cache_seconds: float = Field(
        default=30.0, ge=0, description="How long the merged CapabilityStatement is reused"
    )

    @model_validator(mode="after")
    def _safe_outside_development(self) -> GatewaySettings:
        if self.environment == "production" and (unset := self.unset_peer_urls()):
            raise ValueError(f"production needs {', '.join(unset)} set explicitly")
        return self
