"""sla's tables filled for bench/sla_bench.py: a template of reads recorded through sla's own
timeline code, then copied in SQL to the size asked.

Recording 100,000 reads event by event (four versions each, a few statements per version)
would take most of the run, so `--template` reads are recorded as the consumers record them
(services/sla/timeline.py `record`, with the resource versions of
services/sla/tests/timelines.py `Read`), many events per transaction, and the rows they
made -- order_clock, order_milestone, task_status (and order_term, empty without contract
terms) -- are then copied with new order ids, each copy `copy` days (closed reads) or
minutes (open reads) later. Every row of a copy is thus a row the code itself wrote, moved
in time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
from fastapi import FastAPI
from sqlalchemy import Column

from services.sla.tables import order_clock, order_milestone, order_term, task_status
from services.sla.tests.timelines import Read
from services.sla.timeline import record

FACILITIES = tuple(f"Organization/bench-facility-{n}" for n in range(20))
RADIOLOGISTS = tuple(f"Practitioner/bench-reader-{n}" for n in range(40))
MODALITIES = ("CT", "MR", "CR", "US")
# priority -> (share of orders, the read Task's budget in minutes)
PRIORITIES = {"stat": (0.2, 60.0), "urgent": (0.2, 240.0), "routine": (0.6, 1440.0)}
OPEN_BUDGET = 1440.0  # open reads: a day, so that none is due when measured at their time
EVENTS_PER_TRANSACTION = 200
TABLES = (order_clock, order_milestone, task_status, order_term)


@dataclass(slots=True)
class Seeded:
    """The template's order ids and how many copies of it are in the tables."""

    template: list[str]
    copies: int = 0

    @property
    def size(self) -> int:
        return len(self.template) * (1 + self.copies)


def _priority(rng: random.Random) -> tuple[str, float]:
    draw, total = rng.random(), 0.0
    for name, (share, budget) in PRIORITIES.items():
        total += share
        if draw < total:
            return name, budget
    return "routine", PRIORITIES["routine"][1]


def closed_reads(n: int, day: datetime, rng: random.Random) -> list[Read]:
    """`n` reads ordered over `day` and reported (routine ones up to a day later), about one
    in eight after its deadline."""
    reads = []
    for _ in range(n):
        priority, budget = _priority(rng)
        ordered = day + timedelta(minutes=rng.uniform(0, 1440))
        reads.append(
            Read(
                order_id=uuid4().hex,
                ordered=ordered,
                budget=budget,
                took=budget * rng.uniform(0.3, 1.15),
                facility=rng.choice(FACILITIES),
                priority=priority,
                modality=rng.choice(MODALITIES),
                radiologist=rng.choice(RADIOLOGISTS),
            )
        )
    return reads


def open_reads(n: int, now: datetime, rng: random.Random) -> list[Read]:
    """`n` running reads ordered in the last hour, each due a day after its order."""
    return [
        Read(
            order_id=uuid4().hex,
            ordered=now - timedelta(minutes=rng.uniform(1, 60)),
            budget=OPEN_BUDGET,
            facility=rng.choice(FACILITIES),
            priority=_priority(rng)[0],
            modality=rng.choice(MODALITIES),
        )
        for _ in range(n)
    ]


async def record_reads(app: FastAPI, reads: list[Read]) -> None:
    """Record every version of `reads` with sla's timeline code (as its consumers do, but
    EVENTS_PER_TRANSACTION events to a transaction)."""
    versions = [resource for read in reads for resource in read.resources()]
    for start in range(0, len(versions), EVENTS_PER_TRANSACTION):
        async with app.state.database.transaction() as session:
            for resource in versions[start : start + EVENTS_PER_TRANSACTION]:
                await record(session, resource)


def _copied(column: Column[Any], unit: str) -> str:
    if column.name == "order_id":
        return "order_id || '-' || copy"
    if column.type.__class__.__name__ == "UTCDateTime":
        return f"{column.name} + copy * interval '{unit}'"
    return column.name


async def copy(dsn: str, seeded: Seeded, until: int, *, unit: str) -> None:
    """Copies `seeded.copies + 1 .. until` of the template, copy n moved by n times `unit`
    (an interval: "1 day", "-1 minute"); VACUUM ANALYZE after, as autovacuum would have
    long done (hint bits set: the first reads after do not pay for writing them)."""
    if until <= seeded.copies:
        return
    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            for table in TABLES:
                names = ", ".join(c.name for c in table.columns)
                values = ", ".join(_copied(c, unit) for c in table.columns)
                await connection.execute(
                    f"INSERT INTO {table.name} ({names}) SELECT {values} FROM {table.name}, "
                    "generate_series($2::int, $3::int) AS copy WHERE order_id = ANY($1::text[])",
                    seeded.template,
                    seeded.copies + 1,
                    until,
                )
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    seeded.copies = until


async def grow(dsn: str, seeded: Seeded, size: int, *, unit: str) -> None:
    """Copies of the template until the tables hold at least `size` of these reads."""
    copies = -(-size // len(seeded.template)) - 1
    await copy(dsn, seeded, copies, unit=unit)


async def seed_template(app: FastAPI, reads: list[Read]) -> Seeded:
    await record_reads(app, reads)
    return Seeded([read.order_id for read in reads])


async def table_rows(dsn: str) -> dict[str, int]:
    connection = await asyncpg.connect(dsn)
    try:
        return {t.name: await connection.fetchval(f"SELECT count(*) FROM {t.name}") for t in TABLES}
    finally:
        await connection.close()
