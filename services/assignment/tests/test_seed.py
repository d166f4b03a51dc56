"""The demo roster `make run` loads: every demo order finds a licensed, privileged reader,
and loading it again changes nothing."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.assignment.matching import choose_reader, eligible_roles
from services.assignment.resources import REGISTRY
from services.assignment.seed import ROSTER, SEED_PRINCIPAL, seed
from services.intake.seed import FACILITIES
from shared.fhir.search.request import SearchLimits
from shared.fhir.service import FhirService
from tests.support.rest import count

# Intake's demo facilities as intake would answer for them: NPI -> Organization/<id>.
FACILITY_REFERENCES = {npi: f"Organization/{uuid4()}" for *_, npi in FACILITIES}
TODAY = date.today()


def _fhir(session: AsyncSession) -> FhirService:
    """FHIR semantics on the assignment database, as the seed acts."""
    return FhirService(
        session=session,
        registry=REGISTRY,
        principal=SEED_PRINCIPAL,
        limits=SearchLimits(20, 200),
        base_url="",
    )


async def test_the_patients_of_every_demo_facility_have_several_eligible_readers(
    assignment_app: FastAPI,
) -> None:
    await seed(assignment_app.state.settings, FACILITY_REFERENCES)

    async with assignment_app.state.database.transaction() as session:
        fhir = _fhir(session)
        for key, _, _, state, npi in FACILITIES:
            # The demo's patients live in their facility's state.
            facility_id = FACILITY_REFERENCES[npi].removeprefix("Organization/")
            eligible = await eligible_roles(fhir, facility_id=facility_id, state=state, day=TODAY)
            assert len(eligible) >= 2, f"{key}: {len(eligible)} eligible readers"
            decision = await choose_reader(fhir, facility_id=facility_id, state=state, day=TODAY)
            assert decision.owner is not None, f"{key}: {decision.reason}"


async def test_privileges_without_a_current_licence_there_make_no_reader(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await seed(assignment_app.state.settings, FACILITY_REFERENCES)
    dallas = next(f for f in FACILITIES if f[0] == "mercy-dallas")
    privileged = sum(1 for reader in ROSTER if "mercy-dallas" in reader.privileged)

    facility = FACILITY_REFERENCES[dallas[4]]
    assert await count(assignment, "PractitionerRole", organization=facility) == privileged
    async with assignment_app.state.database.transaction() as session:
        eligible = await eligible_roles(
            _fhir(session),
            facility_id=facility.removeprefix("Organization/"),
            state="TX",
            day=TODAY,
        )
    # Rossi holds no Texas licence, Singh's has lapsed.
    assert len(eligible) == privileged - 2


async def test_seeding_again_creates_nothing(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    settings = assignment_app.state.settings
    privileges = sum(len(reader.privileged) for reader in ROSTER)

    assert await seed(settings, FACILITY_REFERENCES) == len(ROSTER) + privileges
    assert await seed(settings, FACILITY_REFERENCES) == 0

    assert await count(assignment, "Practitioner") == len(ROSTER) == 12
    assert await count(assignment, "PractitionerRole") == privileges


async def test_a_facility_intake_does_not_know_stops_the_seed_before_it_writes(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    known = dict(list(FACILITY_REFERENCES.items())[1:])

    with pytest.raises(ValueError, match=FACILITIES[0][4]):
        await seed(assignment_app.state.settings, known)
    assert await count(assignment, "Practitioner") == 0
