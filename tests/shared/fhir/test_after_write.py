"""`ResourceRules.after_write` runs once a created or updated version is stored, in the
same transaction, knowing its id and versionId: what a rule stores there
(`store_alongside`) is committed with the version, and a failure there rolls both back.
Run on the test's database (SQLite or PostgreSQL), as the services run it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from shared.auth import DEV_PRINCIPAL
from shared.db import Database
from shared.fhir.registry import Registry, ResourceDefinition, ResourceRules, WriteContext
from shared.fhir.search.request import SearchLimits
from shared.fhir.service import FhirService, store_alongside
from shared.fhir.storage.records import StoredResource
from tests.support.databases import truncate_all


class Stamping(ResourceRules):
    """Writes a Basic naming each stored Patient version; refuses when told."""

    def __init__(self) -> None:
        self.fail = False

    async def after_write(self, stored: StoredResource, *, context: WriteContext) -> None:
        await store_alongside(
            context,
            {"resourceType": "Basic", "code": {"text": stored.versioned_path}},
            labels=set(),
        )
        if self.fail:
            raise RuntimeError("after_write failed")


RULES = Stamping()
REGISTRY = Registry(
    service="after-write-test",
    definitions=(ResourceDefinition(type="Patient", rules=RULES), ResourceDefinition(type="Basic")),
)


@pytest.fixture
async def database(database_url: Callable[[str], str]) -> AsyncIterator[Database]:
    db = Database(database_url("intake"))
    if db.engine.dialect.name == "postgresql":
        await truncate_all(db.engine)
    try:
        yield db
    finally:
        await db.dispose()


async def _write(database: Database, resource: dict[str, Any]) -> StoredResource:
    async with database.transaction() as session:
        service = FhirService(
            session=session,
            registry=REGISTRY,
            principal=DEV_PRINCIPAL,
            limits=SearchLimits(20, 200),
            base_url="http://test/fhir",
        )
        if "id" in resource:
            return (await service.update("Patient", resource["id"], resource)).stored
        return (await service.create("Patient", resource)).stored


async def _stamps(database: Database) -> list[str]:
    async with database.transaction() as session:
        service = FhirService(
            session=session,
            registry=REGISTRY,
            principal=DEV_PRINCIPAL,
            limits=SearchLimits(20, 200),
            base_url="http://test/fhir",
        )
        found = await service.search("Basic", [])
    return sorted(s.resource()["code"]["text"] for s in found.matches)


async def test_after_write_sees_each_stored_version_in_its_transaction(database: Database) -> None:
    RULES.fail = False
    created = await _write(database, {"resourceType": "Patient", "gender": "female"})
    await _write(database, {**created.resource(), "gender": "other"})

    assert await _stamps(database) == [
        f"Patient/{created.id}/_history/1",
        f"Patient/{created.id}/_history/2",
    ]


async def test_a_failing_after_write_rolls_the_version_back(database: Database) -> None:
    RULES.fail = True
    try:
        with pytest.raises(RuntimeError):
            await _write(database, {"resourceType": "Patient", "gender": "female"})
    finally:
        RULES.fail = False

    assert await _stamps(database) == []
