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
    critical_sweep_seconds: float = Field(
        default=15.0,
        gt=0,
        description="How often each replica opens, follows up and escalates critical results",
    )
    critical_ack_minutes_category_1: float = Field(
        default=15.0,
        gt=0,
        description="ACR category 1 (communicate within minutes): each step of the ladder "
        "waits this long for an acknowledgement",
    )
    critical_ack_minutes_category_2: float = Field(
        default=60.0,
        gt=0,
        description="ACR category 2 (within hours): the wait per step",
    )
    critical_ack_minutes_category_3: float = Field(
        default=4320.0,
        gt=0,
        description="ACR category 3 (within days): the wait per step (72 h)",
    )
    operations_organization: str | None = Field(
        default=None,
        pattern=r"^Organization/[A-Za-z0-9\-.]{1,64}$",
        description="The platform's operations (Organization/<id>): the last step of the "
        "critical-result ladder; unset, the ladder ends at the ordering facility",
    )
    hl7_sending_application: str = Field(
        default="TELERAD", description="MSH-3 of the ORU^R01 rendering of a report"
    )
    hl7_sending_facility: str = Field(
        default="TELERAD", description="MSH-4 of the ORU^R01 rendering of a report"
    )
    hl7_receiving_application: str = Field(
        default="EHR",
        description="MSH-5 of the ORU^R01 rendering (MSH-6 is the ordering facility's NPI)",
    )

    def ack_minutes(self, category: int) -> float:
        """How long one step of the ladder waits for an acknowledgement at `category`."""
        return {
            1: self.critical_ack_minutes_category_1,
            2: self.critical_ack_minutes_category_2,
            3: self.critical_ack_minutes_category_3,
        }[category]

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
