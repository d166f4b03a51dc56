"""The reporting service's own settings, beside every service's (shared.settings)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from shared.settings import MIN_SECRET_LENGTH, ServiceSettings

# Development-only key-encryption secret of the radiologists' signing keys; refused elsewhere.
DEV_REPORT_SIGNING_KEY_SECRET = "development-only-report-signing-key-secret-0123456789"


class ReportingSettings(ServiceSettings):
    report_signing_key_secret: SecretStr = Field(
        default=SecretStr(DEV_REPORT_SIGNING_KEY_SECRET),
        min_length=MIN_SECRET_LENGTH,
        description="Encrypts the radiologists' private signing keys at rest (at least 32 "
        "characters); losing it makes the stored keys unusable, never the signatures made",
    )

    @model_validator(mode="after")
    def _real_secret_outside_development(self) -> ReportingSettings:
        """A signing key encrypted with a published secret is no key at all."""
        secret = self.report_signing_key_secret.get_secret_value()
        if self.environment != "development" and secret == DEV_REPORT_SIGNING_KEY_SECRET:
            raise ValueError("REPORT_SIGNING_KEY_SECRET must be set outside development")
        return self


def reporting_settings(settings: ServiceSettings | None) -> ReportingSettings:
    """`settings` with the reporting fields (from the environment unless given)."""
    if isinstance(settings, ReportingSettings):
        return settings
    given = settings.model_dump() if settings is not None else {"service_name": "reporting"}
    return ReportingSettings(**given)
