"""Every roster or contract write tells the replicas to reload their roster: it advances
the clock's roster generation in its own transaction (services.assignment.work), whoever
writes -- the API, a transaction Bundle or the demo seed."""

from __future__ import annotations

from typing import Any

from services.assignment import work
from shared.fhir.registry import ResourceRules, WriteContext


class RosterChange(ResourceRules):
    """Mixed into the rules of Practitioner, PractitionerRole and OrganizationAffiliation."""

    async def prepare(
        self,
        resource: dict[str, Any],
        *,
        previous: dict[str, Any] | None,
        context: WriteContext,
    ) -> None:
        await super().prepare(resource, previous=previous, context=context)
        await work.advance(context.repository.session, roster=True)

    async def before_delete(self, resource: dict[str, Any], *, context: WriteContext) -> None:
        await super().before_delete(resource, context=context)
        await work.advance(context.repository.session, roster=True)
