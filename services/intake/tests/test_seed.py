"""The demo `make run` loads into intake: the facilities first (other services' demo data
name them), then the orders, which name the facilities; loading either again creates
nothing."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from services.intake.codes import NPI_SYSTEM
from services.intake.seed import (
    FACILITIES,
    OPERATOR,
    PATIENTS,
    VENDORS,
    seed_facilities,
    seed_orders,
)
from tests.support.rest import count, entries, search

ORDERS = 16
STUDIES = 11  # two orders in three have their images


async def test_the_facilities_load_once_and_are_named_by_npi(
    intake_app: FastAPI, client: httpx.AsyncClient
) -> None:
    settings = intake_app.state.settings

    first = await seed_facilities(settings)
    assert await seed_facilities(settings) == first

    assert sorted(first) == sorted(npi for *_, npi in [*FACILITIES, OPERATOR, *VENDORS])
    assert await count(client, "Organization") == len(FACILITIES) + 1 + len(VENDORS)
    assert await count(client, "Endpoint") == len(FACILITIES)
    for npi, reference in first.items():
        (found,) = entries(
            await search(client, "Organization", {"identifier": f"{NPI_SYSTEM}|{npi}"})
        )
        assert f"Organization/{found['resource']['id']}" == reference


async def test_the_orders_load_once_at_their_patients_facilities(
    intake_app: FastAPI, client: httpx.AsyncClient
) -> None:
    settings = intake_app.state.settings
    facilities = await seed_facilities(settings)

    assert await seed_orders(settings) == len(PATIENTS) + ORDERS + STUDIES
    assert await seed_orders(settings) == 0

    assert await count(client, "ServiceRequest") == ORDERS
    assert await count(client, "ImagingStudy") == STUDIES
    states = {facilities[npi]: state for _, _, _, state, npi in FACILITIES}
    bundle = await search(
        client, "ServiceRequest", {"_include": "ServiceRequest:patient", "_count": "50"}
    )
    patients = {e["resource"]["id"]: e["resource"] for e in entries(bundle, "include")}
    for order in (e["resource"] for e in entries(bundle)):
        patient = patients[order["subject"]["reference"].removeprefix("Patient/")]
        # The patient lives in the ordering facility's state (assignment needs a reader
        # licensed there).
        assert patient["address"][0]["state"] == states[order["requester"]["reference"]]
