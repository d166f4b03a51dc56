"""The open reads in assignment's own table (services.assignment.tables), and the clock
that orders every change to them across replicas.

`advance` is the first statement of any transaction that decides or changes work: it
increments the clock row, which holds that row's lock (PostgreSQL) or the database's write
lock (SQLite) until the transaction ends -- so decisions are taken one at a time, each on a
workload that includes every committed change before it. A replica catches up by reading
the rows stamped after the generation it last saw (`changed_since`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.assignment.engine.model import Exam, Work
from services.assignment.tables import assignment_clock, read_work
from services.assignment.tasks import OPEN_STATUSES


@dataclass(frozen=True, slots=True)
class Clock:
    generation: int  # this transaction's stamp
    roster_generation: int


async def advance(session: AsyncSession, *, roster: bool = False) -> Clock:
    """Take the decision lock for this transaction and return its stamp (`roster`: a roster
    or contract write, which every replica must reload)."""
    values: dict[str, Any] = {"generation": assignment_clock.c.generation + 1}
    if roster:
        values["roster_generation"] = assignment_clock.c.roster_generation + 1
    statement = (
        update(assignment_clock)
        .where(assignment_clock.c.id == 1)
        .values(**values)
        .returning(assignment_clock.c.generation, assignment_clock.c.roster_generation)
    )
    row = (await session.execute(statement)).first()
    if row is None:  # an emptied table (a restored or truncated database): start again
        await session.execute(
            insert(assignment_clock).values(id=1, generation=1, roster_generation=1)
        )
        return Clock(1, 1)
    return Clock(int(row.generation), int(row.roster_generation))


async def peek(session: AsyncSession) -> Clock:
    """The clock as committed, without taking the lock."""
    statement = select(assignment_clock.c.generation, assignment_clock.c.roster_generation)
    row = (await session.execute(statement.where(assignment_clock.c.id == 1))).first()
    return Clock(int(row.generation), int(row.roster_generation)) if row else Clock(0, 0)


async def changed_since(session: AsyncSession, generation: int) -> Sequence[Any]:
    """Rows stamped after `generation` (all of them from 0)."""
    statement = select(read_work).where(read_work.c.changed > generation)
    return (await session.execute(statement)).all()


async def row_of(session: AsyncSession, order_id: str) -> Any | None:
    statement = select(read_work).where(read_work.c.order_id == order_id)
    return (await session.execute(statement)).first()


async def rows_where(session: AsyncSession, *conditions: Any) -> Sequence[Any]:
    return (await session.execute(select(read_work).where(*conditions))).all()


def exam_values(exam: Exam, deadline: datetime) -> dict[str, Any]:
    """The columns that describe the exam (unchanged by re-routing)."""
    return {
        "facility": exam.facility,
        "state": exam.state,
        "code": exam.code,
        "modality": exam.modality,
        "priority": exam.priority,
        "stroke": exam.stroke,
        "patient": exam.patient,
        "rvu": exam.rvu,
        "read_minutes": exam.read_minutes,
        "ordered_at": exam.ordered_at,
        "deadline": deadline,
        "excluded": " ".join(sorted(exam.excluded)),
    }


async def record(
    session: AsyncSession, order_id: str, values: Mapping[str, Any], *, clock: Clock
) -> None:
    """Insert or change the order's row, stamped with this transaction's generation."""
    stamped = {**values, "changed": clock.generation}
    result = await session.execute(
        update(read_work).where(read_work.c.order_id == order_id).values(**stamped)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        await session.execute(insert(read_work).values(order_id=order_id, **stamped))


async def purge(session: AsyncSession, *, closed_before: datetime) -> int:
    """Forget finished reads once they no longer count for balance."""
    result = await session.execute(delete(read_work).where(read_work.c.closed_at < closed_before))
    return int(result.rowcount)  # type: ignore[attr-defined]


def exam_of(row: Any, *, exclude: frozenset[str] = frozenset()) -> Exam:
    """The exam a row describes, with its exclusions (and `exclude` added)."""
    excluded = frozenset(row.excluded.split()) | exclude
    return Exam(
        order_id=row.order_id,
        facility=row.facility,
        state=row.state,
        code=row.code,
        modality=row.modality,
        priority=row.priority,
        ordered_at=row.ordered_at,
        rvu=row.rvu,
        read_minutes=row.read_minutes,
        patient=row.patient,
        stroke=row.stroke,
        excluded=excluded,
        deadline=row.deadline,
    )


def work_of(row: Any, *, finished: bool = False) -> Work | None:
    """The engine's Work for a row, when a reader holds it open (or, `finished`, held it
    to the end)."""
    if row.reader is None or (row.status not in OPEN_STATUSES and not finished):
        return None
    return Work(
        order_id=row.order_id,
        reader=row.reader,
        priority=row.priority,
        rvu=row.rvu,
        read_minutes=row.read_minutes,
        deadline=row.deadline,
        assigned_at=row.assigned_at or row.ordered_at,
        patient=row.patient,
        started_at=row.started_at,
        stroke=row.stroke,
        exam=exam_of(row),  # so the engine can judge the reader again (stranded, rebalance)
    )
