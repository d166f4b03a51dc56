"""Each replica's engine: the roster and the open reads in memory, brought up to date at
the start of every decision (services.assignment.work explains the clock)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.assignment import work
from services.assignment.engine.engine import Engine, EngineSettings, Workload
from services.assignment.engine.model import Roster
from services.assignment.roster import roster_from_fhir
from shared.fhir.storage.tables import resources

log = logging.getLogger("teleradiology.assignment")

ROSTER_TYPES = ("Practitioner", "PractitionerRole", "OrganizationAffiliation")


class EngineState:
    """One replica's Engine and the clock generations it reflects."""

    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings()
        self.engine = Engine(Roster(), workload=Workload(), settings=self.settings)
        self._seen = -1  # work generation reflected (-1: nothing loaded)
        self._roster_seen = -1
        self.woken = asyncio.Event()  # the sweeper has work now (e.g. a decline)

    def wake(self) -> None:
        self.woken.set()

    @asynccontextmanager
    async def locked(self, session: AsyncSession) -> AsyncIterator[tuple[Engine, work.Clock]]:
        """Take the decision lock, catch up with every committed change, and yield the
        engine with this transaction's clock. Decisions taken inside are applied to memory
        at once; if the transaction then fails, the next decision reloads everything."""
        clock = await work.advance(session)
        if clock.roster_generation != self._roster_seen:
            await self._load_roster(session)
            self._roster_seen = clock.roster_generation
        await self._catch_up(session, clock)
        try:
            yield self.engine, clock
        except BaseException:
            self.forget()
            raise
        self._seen = clock.generation - 1  # this transaction's rows are read back next time

    async def current(self, session: AsyncSession) -> Engine:
        """The engine caught up with every committed change, without taking the lock
        (for questions that change nothing, e.g. $eligibility)."""
        clock = await work.peek(session)
        if clock.roster_generation != self._roster_seen:
            await self._load_roster(session)
            self._roster_seen = clock.roster_generation
        await self._catch_up(session, clock)
        self._seen = clock.generation
        return self.engine

    def forget(self) -> None:
        """Drop what memory holds, to be reloaded from the database."""
        self._seen = -1
        self._roster_seen = -1

    async def _load_roster(self, session: AsyncSession) -> None:
        found: dict[str, list[dict[str, Any]]] = {}
        for resource_type in ROSTER_TYPES:  # the whole roster, whoever triggers the load
            statement = select(resources.c.content).where(
                resources.c.resource_type == resource_type, resources.c.deleted.is_(False)
            )
            found[resource_type] = [
                json.loads(content) for content in (await session.scalars(statement))
            ]
        roster = roster_from_fhir(
            found["Practitioner"], found["PractitionerRole"], found["OrganizationAffiliation"]
        )
        self.engine.replace_roster(roster)
        log.info(
            "roster loaded",
            extra={"readers": len(roster.readers), "contracts": len(roster.contracts)},
        )

    async def _catch_up(self, session: AsyncSession, clock: work.Clock) -> None:
        since = self._seen
        if since < 0:  # first use, or after a failure: everything again
            self.engine.workload = Workload()
        for row in await work.changed_since(session, since):
            apply_row(self.engine.workload, row)


def apply_row(workload: Workload, row: Any) -> None:
    """Make the workload agree with one read_work row."""
    workload.remove(row.order_id)
    open_work = work.work_of(row)
    if open_work is not None:
        workload.add(open_work)
        if row.status == "on-hold":
            workload.hold(row.order_id)
    elif row.status == "completed" and row.reader and row.closed_at is not None:
        finished = work.work_of(row, finished=True)
        if finished is not None:  # counted as read, for RVU balance
            workload.add(finished)
            workload.remove(row.order_id, completed_at=row.closed_at)
