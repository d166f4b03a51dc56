"""The assignment service's own settings, beside every service's (shared.settings)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class AssignmentSettings(ServiceSettings):
    assignment_accept_minutes: float = Field(
        default=10.0,
        gt=0,
        description="A routed read not accepted within this goes to the next best reader "
        "(STAT and stroke: a third of it)",
    )
    assignment_sweep_seconds: float = Field(
        default=5.0, gt=0, description="How often each replica sweeps open reads"
    )
    assignment_max_wait_minutes: float = Field(
        default=120.0,
        gt=0,
        description="Routine work waiting longer than this is read before newer urgent work",
    )


def assignment_settings(settings: ServiceSettings | None) -> AssignmentSettings:
    """`settings` with the assignment fields (from the environment unless given)."""
    if isinstance(settings, AssignmentSettings):
        return settings
    given = settings.model_dump() if settings is not None else {"service_name": "assignment"}
    return AssignmentSettings(**given)
