"""A contract's turnaround promises: the `sla-target` extensions of an OrganizationAffiliation
(one per priority, or `stroke`), read by assignment for the read Task's deadline and by sla
for the clock that counts (docs/assignment.md, docs/sla.md "Clocks").

Each target gives a `turnaround` (valueDuration, UCUM min or h) and, optionally, the
`clock` it counts (valueCode of SLA_CLOCK_SYSTEM): which milestone starts it and which stops
it. Without a clock sla counts the priority's default (services.sla.clocks.DEFAULT_CLOCKS).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from shared.fhir.canonical import CANONICAL_BASE

# A turnaround target (complex, 0..*): priority valueCode, turnaround valueDuration, clock.
SLA_TARGET_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/sla-target"
PRIORITY_PART = "priority"
TURNAROUND_PART = "turnaround"
CLOCK_PART = "clock"
# The clocks a contract may name: code -> (start milestone, stop milestone) of the timeline.
SLA_CLOCK_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/sla-clock"
CLOCKS = MappingProxyType(
    {
        "ordered-to-final": ("ordered", "final"),
        "ordered-to-preliminary": ("ordered", "preliminary"),
        "images-to-preliminary": ("images-available", "preliminary"),
        "images-to-final": ("images-available", "final"),
    }
)
# UCUM units a turnaround may be given in, as minutes.
TURNAROUND_UNITS = MappingProxyType({"min": 1, "h": 60})


@dataclass(frozen=True, slots=True)
class SlaTerm:
    """What a contract promises for one priority: a turnaround, maybe on a named clock."""

    target: timedelta
    clock: str | None = None


def turnaround(duration: dict[str, Any] | None) -> timedelta | None:
    """A valueDuration in minutes or hours (UCUM min | h) as a timedelta; None otherwise."""
    unit = str((duration or {}).get("code") or (duration or {}).get("unit"))
    value = (duration or {}).get("value")
    if unit not in TURNAROUND_UNITS or not isinstance(value, int | float) or value <= 0:
        return None
    return timedelta(minutes=float(value) * TURNAROUND_UNITS[unit])


def _part(extension: dict[str, Any], url: str, key: str) -> Any:
    return next(
        (
            p[key]
            for p in extension.get("extension") or []
            if p.get("url") == url and p.get(key) is not None
        ),
        None,
    )


def sla_terms(affiliation: dict[str, Any]) -> dict[str, SlaTerm]:
    """The contract's term per priority (and "stroke"); targets it cannot read are left
    out, and a clock it does not know counts as none named."""
    terms = {}
    for extension in affiliation.get("extension") or []:
        if extension.get("url") != SLA_TARGET_EXTENSION:
            continue
        priority = _part(extension, PRIORITY_PART, "valueCode")
        target = turnaround(_part(extension, TURNAROUND_PART, "valueDuration"))
        clock = _part(extension, CLOCK_PART, "valueCode")
        if priority and target:
            terms[priority] = SlaTerm(target, clock if clock in CLOCKS else None)
    return terms
