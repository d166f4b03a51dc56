"""The audit log fails closed and cannot be altered: no AuditEvent, no answer (and no
change); an AuditEvent once written refuses UPDATE, DELETE and TRUNCATE."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.intake.tests.builders import registered_patient
from shared.audit.log import AuditLog
from tests.fixtures import client_for
from tests.support.audit import audit_events
from tests.support.rest import assert_outcome, count, create

FAMILY = "Quillfeather"  # the patient's name: must never be answered while audit is down


@asynccontextmanager
async def audit_log_down(app: FastAPI, directory: Path) -> AsyncIterator[None]:
    """Within the block, `app`'s audit log is a database without the audit schema."""
    working = app.state.audit
    app.state.audit = AuditLog(f"sqlite+aiosqlite:///{directory}/not-migrated.db")
    try:
        yield
    finally:
        await app.state.audit.dispose()
        app.state.audit = working


async def stored_patient(client: httpx.AsyncClient) -> dict[str, Any]:
    return await create(client, registered_patient("MRN-9001", FAMILY))


@pytest.mark.parametrize("path", ["/Patient/{id}", "/Patient?_id={id}", "/Patient/{id}/_history"])
async def test_nothing_is_answered_when_the_audit_log_cannot_be_written(
    intake_app: FastAPI, client: httpx.AsyncClient, path: str, tmp_path: Path
) -> None:
    patient = await stored_patient(client)

    async with audit_log_down(intake_app, tmp_path):
        answer = await client.get(path.format(id=patient["id"]))

    assert_outcome(answer, 503, code="transient")
    assert FAMILY not in answer.text and patient["id"] not in answer.text


async def test_a_write_is_rolled_back_when_its_audit_event_cannot_be_written(
    intake_app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    async with audit_log_down(intake_app, tmp_path):
        answer = await client.post("/Patient", json=registered_patient("MRN-9002", FAMILY))

    assert_outcome(answer, 503)
    assert await _patients_stored(intake_app) == 0


async def _patients_stored(app: FastAPI) -> int:
    async with app.state.database.transaction() as session:
        found = await session.execute(
            text("SELECT count(*) FROM fhir_resource WHERE resource_type = 'Patient'")
        )
        return int(found.scalar_one())


async def test_a_refusal_is_not_answered_either_without_its_audit_event(
    intake_app: FastAPI, tmp_path: Path
) -> None:
    async with audit_log_down(intake_app, tmp_path), client_for(intake_app, headers={}) as anon:
        assert_outcome(await anon.get("/Patient"), 503)


async def test_the_service_is_not_ready_while_its_audit_log_is_down(
    intake_app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    async with audit_log_down(intake_app, tmp_path):
        assert_outcome(await client.get("http://testserver/readyz"), 503)


def _changes(event_id: str) -> list[str]:
    """SQL that would alter or remove the AuditEvent `event_id` and its rows."""
    own = f"(SELECT pk FROM fhir_resource WHERE id = '{event_id}')"
    return [
        f"UPDATE fhir_resource SET content = '{{}}' WHERE id = '{event_id}'",
        f"DELETE FROM fhir_resource WHERE id = '{event_id}'",
        f"UPDATE fhir_resource_version SET content = NULL WHERE id = '{event_id}'",
        f"DELETE FROM fhir_resource_version WHERE id = '{event_id}'",
        f"UPDATE search_token SET code = 'x' WHERE resource_pk IN {own}",
        f"DELETE FROM search_string WHERE resource_pk IN {own}",
        f"DELETE FROM search_date WHERE resource_pk IN {own}",
        f"DELETE FROM search_reference WHERE resource_pk IN {own}",
    ]


async def test_the_database_refuses_to_change_or_delete_an_audit_event(
    intake_app: FastAPI, client: httpx.AsyncClient, backend: str
) -> None:
    patient = await stored_patient(client)
    [event] = await audit_events(intake_app, ("patient", f"Patient/{patient['id']}"))
    statements = _changes(event["id"])
    if backend == "postgresql":
        statements += ["TRUNCATE fhir_resource CASCADE", "TRUNCATE search_token"]

    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"):
            async with intake_app.state.audit.database.transaction() as session:
                await session.execute(text(statement))

    assert await audit_events(intake_app, ("_id", event["id"])) == [event]
    assert await count(client, "Patient") == 1
