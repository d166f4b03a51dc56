"""The hostile suite's world: two facilities on one intake, each with its EHR client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from services.intake.tests.builders import facility, order, registered_patient, study
from shared.settings import ServiceSettings
from tests.fixtures import client_for, running_app
from tests.support.rest import create
from tests.support.tenants import as_caller, facility_ehr


@dataclass
class Facility:
    """One facility's records, and its EHR's client."""

    organization: str
    patient: str
    order: str
    study: str
    client: httpx.AsyncClient


async def _facility(app: FastAPI, admin: httpx.AsyncClient, npi: str, tag: str) -> Facility:
    organization = await create(admin, facility(npi=npi, name=f"Facility {tag}"))
    org_ref = f"Organization/{organization['id']}"
    client = as_caller(app, facility_ehr(org_ref))
    stored_patient = await create(client, registered_patient(mrn=f"MRN-{tag}", family=tag))
    patient_ref = f"Patient/{stored_patient['id']}"
    stored_order = await create(client, order(patient_ref, org_ref, accession_number=f"ACC-{tag}"))
    order_ref = f"ServiceRequest/{stored_order['id']}"
    stored_study = await create(client, study(order_ref, patient_ref, uid=f"1.2.3.{npi}"))
    return Facility(org_ref, patient_ref, order_ref, f"ImagingStudy/{stored_study['id']}", client)


@pytest.fixture
async def intake(make_settings: Callable[..., ServiceSettings]) -> AsyncIterator[FastAPI]:
    async with running_app("intake", make_settings("intake")) as app:
        yield app


@pytest.fixture
async def two(intake: FastAPI) -> AsyncIterator[tuple[Facility, Facility]]:
    """Facilities A (Alder) and B (Birch), each with a patient, an order and a study."""
    async with client_for(intake) as admin:
        a = await _facility(intake, admin, "1003000126", "Alder")
        b = await _facility(intake, admin, "1013000133", "Birch")
    try:
        yield a, b
    finally:
        await a.client.aclose()
        await b.client.aclose()
