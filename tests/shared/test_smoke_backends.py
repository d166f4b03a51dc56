"""Both databases are really used: the suite's harness itself."""

from __future__ import annotations

import httpx


async def test_create_then_read_round_trips_on_each_database(client: httpx.AsyncClient) -> None:
    created = await client.post("/Patient", json={"resourceType": "Patient", "gender": "female"})
    assert created.status_code == 201
    read = await client.get(f"/Patient/{created.json()['id']}")
    assert read.status_code == 200
    assert read.json()["gender"] == "female"
