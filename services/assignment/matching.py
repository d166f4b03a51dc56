"""Choosing the radiologist for an order: the minimum real matching of the first loop.

Eligible: a facility PractitionerRole (privileges at the ordering facility, active, in its
period) whose Practitioner holds an active licence in the patient's state on the day.
Chosen: the eligible role with the fewest open Tasks (ties by id, so the choice is
reproducible). Modality, subspecialty, shifts, contracts and deadlines come with the
assignment engine (a later issue).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.assignment.roster import licensed_states, privileged
from services.assignment.tasks import OPEN_STATUSES
from shared.fhir.references import referenced_id
from shared.fhir.service import FhirService

# Facility roles considered per order: one search page (SEARCH_MAX_COUNT caps it, 200 by
# default). Enough for the first loop; the assignment engine keeps the roster in memory.
MAX_ROLES = 1000


@dataclass(frozen=True, slots=True)
class Decision:
    owner: str | None  # "PractitionerRole/<id>"
    reason: str  # why (the chosen one, or why nobody)


async def eligible_roles(
    fhir: FhirService, *, facility_id: str, state: str, day: date
) -> list[str]:
    """Ids of the facility PractitionerRoles whose radiologist may read this order."""
    result = await fhir.search(
        "PractitionerRole",
        [
            ("organization", f"Organization/{facility_id}"),
            ("active", "true"),
            ("_include", "PractitionerRole:practitioner"),
            ("_count", str(MAX_ROLES)),
        ],
    )
    practitioners = {p.id: p.resource() for p in result.included}
    eligible = []
    for stored in result.matches:
        role = stored.resource()
        practitioner_id = referenced_id(role.get("practitioner"), "Practitioner")
        practitioner = practitioners.get(practitioner_id or "")
        if practitioner is None or not privileged(role, day):
            continue
        if state in licensed_states(practitioner, day):
            eligible.append(stored.id)
    return eligible


async def open_tasks(fhir: FhirService, role_id: str) -> int:
    result = await fhir.search(
        "Task",
        [
            ("owner", f"PractitionerRole/{role_id}"),
            ("status", ",".join(OPEN_STATUSES)),
            ("_summary", "count"),
        ],
    )
    return result.total or 0


async def choose_reader(
    fhir: FhirService, *, facility_id: str | None, state: str | None, day: date
) -> Decision:
    """The PractitionerRole to own the order's Task, or why there is none."""
    if facility_id is None:
        return Decision(None, "The order names no ordering facility")
    if state is None:
        return Decision(None, "The patient's state is unknown (no address with a state)")
    eligible = await eligible_roles(fhir, facility_id=facility_id, state=state, day=day)
    if not eligible:
        return Decision(
            None, f"No radiologist licensed in {state} holds privileges at the facility"
        )
    loads = {role: await open_tasks(fhir, role) for role in eligible}
    chosen = min(sorted(loads), key=loads.__getitem__)
    return Decision(
        f"PractitionerRole/{chosen}",
        f"Least open work ({loads[chosen]} tasks) of {len(eligible)} eligible",
    )
