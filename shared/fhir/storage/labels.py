"""The access labels of stored resources and the grants of labels to other holders
(shared/fhir/access.py says what they mean): the part of `FhirRepository` that writes and
reads them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.fhir.storage.tables import access_grant, resource_access, search_reference


class AccessLabels:
    """Labels and grants, on the repository's session."""

    session: AsyncSession

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def _confined(self, query: Any, pk_column: Any = None) -> Any:
        """`query` restricted to what the caller may see (defined by FhirRepository)."""
        raise NotImplementedError

    async def add_labels(self, pk: int, labels: Collection[str]) -> None:
        """Give the resource stored at `pk` these access labels too (kept ones stay)."""
        if not labels:
            return
        insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        await self.session.execute(
            insert(resource_access).on_conflict_do_nothing(),
            [{"resource_pk": pk, "label": label} for label in sorted(labels)],
        )

    async def labels(self, pks: Sequence[int]) -> set[str]:
        """Every access label of the resources stored at `pks`."""
        if not pks:
            return set()
        query = select(resource_access.c.label).where(resource_access.c.resource_pk.in_(pks))
        return {row[0] for row in await self.session.execute(query.distinct())}

    async def referencing(
        self, resource_type: str, param: str, target_type: str, target_id: str
    ) -> list[int]:
        """The row keys of the `resource_type`s whose reference `param` names the target."""
        r = search_reference.c
        query = select(r.resource_pk).where(
            r.resource_type == resource_type,
            r.param == param,
            r.target_type == target_type,
            r.target_id == target_id,
        )
        return [row[0] for row in await self.session.execute(self._confined(query, r.resource_pk))]

    async def set_grants(self, source: str, grants: Collection[tuple[str, str]]) -> None:
        """What `source` grants is now exactly `grants`, (holder, label) pairs."""
        await self.session.execute(delete(access_grant).where(access_grant.c.source == source))
        if grants:
            await self.session.execute(
                access_grant.insert(),
                [{"holder": h, "label": label, "source": source} for h, label in sorted(grants)],
            )
