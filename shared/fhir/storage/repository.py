"""The SQL behind FHIR interactions: versioned rows, index rows, identifier claims.

The repository only reads and writes; REST semantics (preconditions, validation, rules)
live in `shared.fhir.service`. It never commits: the request edge does.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    Row,
    and_,
    delete,
    false,
    func,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.outbox import record_event
from shared.fhir.access import AccessKeys, visible, visible_set
from shared.fhir.outcomes import conflict
from shared.fhir.registry import ResourceDefinition
from shared.fhir.search.index import extract_index_rows
from shared.fhir.search.query import Ordering, PageToken, count_query, page_query
from shared.fhir.search.request import Include, SearchRequest
from shared.fhir.storage import statements as sql
from shared.fhir.storage.labels import AccessLabels
from shared.fhir.storage.records import HistoryEntry, StoredResource
from shared.fhir.storage.tables import (
    INDEX_TABLES,
    STORED_COLUMNS,
    resource_access,
    resource_versions,
    resources,
    search_reference,
    unique_identifier,
)

_INTERACTION_BY_METHOD = {"POST": "create", "PUT": "update", "DELETE": "delete"}


class FhirRepository(AccessLabels):
    """Reads and writes FHIR resources of the types in one service's registry.

    `access` confines every read to what a tenant may see (shared/fhir/access.py): a
    resource outside it reads exactly like one that was never stored.
    """

    def __init__(self, session: AsyncSession, *, access: AccessKeys = None) -> None:
        self.session = session
        self.access = access

    def unconfined(self) -> FhirRepository:
        """This repository, seeing every tenant: for a service's own rules, never for
        answering a caller."""
        return self if self.access is None else FhirRepository(self.session)

    def _confined(self, query: Any, pk_column: Any = resources.c.pk, *, many: bool = False) -> Any:
        """`query` restricted to the resources the caller may see; `many` for statements
        over many rows, which test membership of the caller's set instead of each row."""
        if self.access is None:
            return query
        return query.where((visible_set if many else visible)(pk_column, self.access))

    async def current(
        self, resource_type: str, resource_id: str, *, for_update: bool = False
    ) -> StoredResource | None:
        """The current version, deleted or not; None if the id was never used.

        `for_update` locks the row until commit (PostgreSQL; SQLite writers are serial), so
        that a concurrent writer checks its If-Match against the version it will replace.
        """
        statement = self._confined(sql.CURRENT_FOR_UPDATE if for_update else sql.CURRENT)
        row = (
            await self.session.execute(
                statement, {"resource_type": resource_type, "resource_id": resource_id}
            )
        ).first()
        return StoredResource.from_row(row) if row else None

    async def version(
        self, resource_type: str, resource_id: str, version_id: int
    ) -> StoredResource | None:
        row = (
            await self.session.execute(
                self._confined(sql.VERSION, resource_versions.c.resource_pk),
                {
                    "resource_type": resource_type,
                    "resource_id": resource_id,
                    "version_id": version_id,
                },
            )
        ).first()
        return StoredResource.from_row(row) if row else None

    async def existing(self, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (type, id) pairs name a current, undeleted resource."""
        if not keys:
            return set()
        rows = await self.session.execute(self._confined(sql.EXISTING), {"keys": list(keys)})
        return {(r[0], r[1]) for r in rows}

    async def by_ids(self, resource_type: str, ids: Sequence[str]) -> list[StoredResource]:
        if not ids:
            return []
        rows = await self.session.execute(
            self._confined(sql.BY_IDS), {"resource_type": resource_type, "ids": list(ids)}
        )
        return [StoredResource.from_row(r) for r in rows]

    # -- writes -------------------------------------------------------------------------

    async def insert(
        self,
        definition: ResourceDefinition,
        resource: dict[str, Any],
        *,
        last_updated: datetime,
        labels: Collection[str] = (),
    ) -> StoredResource:
        """Store version 1 of a new resource with its access `labels`; `resource` already
        carries id and meta."""
        content = orjson.dumps(resource).decode()
        if self.dialect == "postgresql":
            stored = await self._insert_postgresql(definition, resource, content, last_updated)
            await self.add_labels(stored.pk, labels)
            return stored
        pk = (
            await self.session.execute(
                sql.INSERT_RESOURCE,
                {
                    "resource_type": definition.type,
                    "id": resource["id"],
                    "version_id": 1,
                    "last_updated": last_updated,
                    "deleted": False,
                    "content": content,
                },
            )
        ).scalar_one()
        stored = StoredResource(
            pk, definition.type, resource["id"], 1, last_updated, False, content
        )
        await self._record_version(stored, "POST")
        await self._write_index(definition, pk, resource)
        await self.add_labels(pk, labels)
        return stored

    async def _insert_postgresql(
        self,
        definition: ResourceDefinition,
        resource: dict[str, Any],
        content: str,
        last_updated: datetime,
    ) -> StoredResource:
        """`insert` in one statement: the same rows as the general path writes."""
        parameters: dict[str, Any] = {
            "resource_type": definition.type,
            "id": resource["id"],
            "last_updated": last_updated,
            "content": content,
        }
        for table, rows in sql.index_rows_by_table(extract_index_rows(definition, resource)):
            for column in table.columns:
                if column.name != "resource_pk":
                    parameters[f"{table.name}__{column.name}"] = [row[column.name] for row in rows]
        pk = (await self.session.execute(sql.CREATE_POSTGRESQL, parameters)).scalar_one()
        stored = StoredResource(
            pk, definition.type, resource["id"], 1, last_updated, False, content
        )
        await self._record_event(stored, "POST")
        return stored

    async def replace(
        self,
        definition: ResourceDefinition,
        previous: StoredResource,
        resource: dict[str, Any] | None,
        *,
        last_updated: datetime,
        method: str,
        labels: Collection[str] | None = None,
    ) -> StoredResource:
        """Write the next version of `previous` (a delete when `resource` is None); its
        access labels become `labels` (unchanged when None)."""
        content = orjson.dumps(resource).decode() if resource is not None else previous.content
        version_id = previous.version_id + 1
        deleted = resource is None
        result = await self.session.execute(
            update(resources)
            .where(resources.c.pk == previous.pk, resources.c.version_id == previous.version_id)
            .values(
                version_id=version_id, last_updated=last_updated, deleted=deleted, content=content
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise conflict(
                f"{previous.resource_type}/{previous.id} was changed by another request; retry"
            )
        stored = StoredResource(
            previous.pk,
            previous.resource_type,
            previous.id,
            version_id,
            last_updated,
            deleted,
            content,
        )
        await self._record_version(stored, method)
        for table in INDEX_TABLES:
            await self.session.execute(delete(table).where(table.c.resource_pk == previous.pk))
        if resource is not None:
            await self._write_index(definition, previous.pk, resource)
        if labels is not None:
            await self.session.execute(
                delete(resource_access).where(resource_access.c.resource_pk == previous.pk)
            )
            await self.add_labels(previous.pk, labels)
        return stored

    async def _record_version(self, stored: StoredResource, method: str) -> None:
        """History row and outbox event of a new version, in the writer's transaction."""
        await self.session.execute(
            sql.INSERT_VERSION,
            {
                "resource_pk": stored.pk,
                "resource_type": stored.resource_type,
                "id": stored.id,
                "version_id": stored.version_id,
                "last_updated": stored.last_updated,
                "method": method,
                "deleted": stored.deleted,
                "content": None if stored.deleted else stored.content,
            },
        )
        await self._record_event(stored, method)

    async def _record_event(self, stored: StoredResource, method: str) -> None:
        await record_event(
            self.session,
            resource_type=stored.resource_type,
            resource_id=stored.id,
            version_id=stored.version_id,
            interaction=_INTERACTION_BY_METHOD[method],
            occurred_at=stored.last_updated,
        )

    async def _write_index(
        self, definition: ResourceDefinition, pk: int, resource: dict[str, Any]
    ) -> None:
        rows = extract_index_rows(definition, resource)
        for table, table_rows in sql.index_rows_by_table(rows):
            if table_rows:
                for row in table_rows:
                    row["resource_pk"] = pk
                await self.session.execute(sql.INSERT_INDEX[table], table_rows)

    # -- business identifiers -----------------------------------------------------------

    async def identifier_owner(
        self, resource_type: str, keys: Sequence[tuple[str, str]], *, confined: bool = True
    ) -> str | None:
        """The id of the resource that already holds any of these (system, value) keys --
        among those the caller may see, unless `confined` is False."""
        if not keys:
            return None
        statement = sql.IDENTIFIER_OWNER
        if self.access is not None and confined:
            holder = resources.c
            statement = statement.where(
                select(holder.pk)
                .where(
                    holder.resource_type == unique_identifier.c.resource_type,
                    holder.id == unique_identifier.c.resource_id,
                    visible(holder.pk, self.access),
                )
                .exists()
            )
        row = (
            await self.session.execute(
                statement, {"resource_type": resource_type, "keys": list(keys)}
            )
        ).first()
        return row[0] if row else None

    async def claim_identifiers(
        self,
        resource_type: str,
        resource_id: str,
        keys: Sequence[tuple[str, str]],
        *,
        new_id: bool = False,
    ) -> str | None:
        """Claim `keys` for `resource_id`; on a clash claim none and return the holder's id.

        A concurrent claim of the same key waits for the other transaction, so exactly one
        of two simultaneous identical orders wins. `new_id` says `resource_id` was just
        generated, so it holds no earlier claims to release first.
        """
        if not new_id:
            await self.release_identifiers(resource_type, resource_id)
        claim = sql.CLAIM["postgresql" if self.dialect == "postgresql" else "sqlite"]
        for system, value in keys:
            result = await self.session.execute(
                claim,
                {
                    "resource_type": resource_type,
                    "system": system,
                    "value": value,
                    "resource_id": resource_id,
                },
            )
            if result.first() is None:
                holder = await self.identifier_owner(
                    resource_type, [(system, value)], confined=False
                )
                await self.release_identifiers(resource_type, resource_id)
                return holder
        return None

    async def release_identifiers(self, resource_type: str, resource_id: str) -> None:
        await self.session.execute(
            sql.RELEASE, {"resource_type": resource_type, "resource_id": resource_id}
        )

    async def lock(self, key: str) -> None:
        """Serialise writers on `key` for this transaction (PostgreSQL; SQLite is serial)."""
        if self.dialect == "postgresql":
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
            )

    # -- search and history -------------------------------------------------------------

    async def search_page(
        self,
        resource_type: str,
        request: SearchRequest,
        order: Ordering,
        token: PageToken | None,
    ) -> list[Row[Any]]:
        query = self._confined(page_query(resource_type, request, order, token), many=True)
        return list(await self.session.execute(query))

    async def count(self, resource_type: str, request: SearchRequest) -> int:
        query = self._confined(count_query(resource_type, request), many=True)
        return int((await self.session.execute(query)).scalar_one())

    async def included(
        self, include: Include, source_pks: Sequence[int], served: set[str], limit: int
    ) -> list[StoredResource]:
        """Targets of `include` from the page's resources (only types stored here)."""
        if not source_pks:
            return []
        r = search_reference.c
        query = select(r.target_type, r.target_id).where(
            r.resource_pk.in_(source_pks), r.param == include.param
        )
        if include.target_type:
            query = query.where(r.target_type == include.target_type)
        targets = {(t, i) for t, i in await self.session.execute(query.distinct()) if t in served}
        found: list[StoredResource] = []
        for target_type in sorted({t for t, _ in targets}):
            ids = sorted(i for t, i in targets if t == target_type)[:limit]
            found += await self.by_ids(target_type, ids)
        return found[:limit]

    async def revincluded(
        self, include: Include, target_type: str, target_ids: Sequence[str], limit: int
    ) -> list[StoredResource]:
        """Resources of `include.source_type` whose `include.param` points at the page."""
        if not target_ids:
            return []
        r = search_reference.c
        referencing = select(r.resource_pk).where(
            r.resource_type == include.source_type,
            r.param == include.param,
            r.target_type == target_type,
            r.target_id.in_(target_ids),
        )
        rows = await self.session.execute(
            self._confined(
                select(*STORED_COLUMNS)
                .where(resources.c.pk.in_(referencing), resources.c.deleted == false())
                .order_by(resources.c.pk)
                .limit(limit),
                many=True,
            )
        )
        return [StoredResource.from_row(row) for row in rows]

    async def history(
        self,
        resource_type: str,
        resource_id: str | None,
        *,
        since: datetime | None,
        before_seq: int | None,
        count: int,
    ) -> list[HistoryEntry]:
        """Versions newest first (one more than `count`, to tell whether more follow)."""
        v = resource_versions.c
        clauses = [v.resource_type == resource_type]
        if resource_id is not None:
            clauses.append(v.id == resource_id)
        if since is not None:
            clauses.append(v.last_updated >= since)
        if before_seq is not None:
            clauses.append(v.seq < before_seq)
        rows = await self.session.execute(
            self._confined(
                select(
                    v.seq,
                    v.resource_pk,
                    v.resource_type,
                    v.id,
                    v.version_id,
                    v.last_updated,
                    v.deleted,
                    v.content,
                    v.method,
                )
                .where(and_(*clauses))
                .order_by(v.seq.desc())
                .limit(count + 1),
                v.resource_pk,
                many=True,
            )
        )
        return [HistoryEntry(r[0], StoredResource.from_row(r[1:8]), r[8]) for r in rows]

    async def history_total(
        self, resource_type: str, resource_id: str | None, *, since: datetime | None = None
    ) -> int:
        """How many versions `history` would list over all its pages."""
        v = resource_versions.c
        query = select(func.count()).where(v.resource_type == resource_type)
        if resource_id is not None:
            query = query.where(v.id == resource_id)
        if since is not None:
            query = query.where(v.last_updated >= since)
        return int(
            (
                await self.session.execute(self._confined(query, v.resource_pk, many=True))
            ).scalar_one()
        )
