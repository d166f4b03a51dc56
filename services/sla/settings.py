"""The sla service's own settings, beside every service's (shared.settings)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from shared.settings import ServiceSettings


class SlaSettings(ServiceSettings):
    sla_sweep_seconds: float = Field(
        default=30.0, gt=0, description="How often each replica predicts every open order"
    )
    sla_alert_budget_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Share of an order's time budget from which a predicted breach is "
        "raised (DetectedIssue breach-predicted)",
    )
    sla_reroute_budget_share: float = Field(
        default=0.75,
        gt=0,
        le=1,
        description="Share from which an order still predicted late is re-routed "
        "(assignment's Task/{id}/$reroute)",
    )
    sla_operations_budget_share: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Share from which operations are told (DetectedIssue escalated)",
    )
    sla_accept_wait_minutes: float = Field(
        default=5.0,
        ge=0,
        description="Expected wait for a routed read to be accepted (STAT and stroke: a "
        "third of it): half of assignment's default acceptance window",
    )

    @model_validator(mode="after")
    def _ladder_in_order(self) -> Self:
        shares = (
            self.sla_alert_budget_share,
            self.sla_reroute_budget_share,
            self.sla_operations_budget_share,
        )
        if list(shares) != sorted(shares):
            raise ValueError(
                "SLA_ALERT_BUDGET_SHARE <= SLA_REROUTE_BUDGET_SHARE <= "
                "SLA_OPERATIONS_BUDGET_SHARE: the ladder climbs in that order"
            )
        return self


def sla_settings(settings: ServiceSettings | None) -> SlaSettings:
    """`settings` with the sla fields (from the environment unless given)."""
    if isinstance(settings, SlaSettings):
        return settings
    given = settings.model_dump() if settings is not None else {"service_name": "sla"}
    return SlaSettings(**given)
