"""Roster, exams and work for the engine's tests: one reading group "g1" under a primary
contract "c1" with facility "f1" in Texas, around the clock, unless a test says otherwise.
Every builder returns a fresh value; keyword arguments replace the defaults."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from services.assignment.engine.engine import Engine, EngineSettings
from services.assignment.engine.model import (
    Contract,
    Exam,
    Licence,
    Privilege,
    Reader,
    Roster,
    Shift,
    Span,
    Work,
)
from services.assignment.engine.policies import Policy

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # a Wednesday, 09:00 in Chicago
WEEKDAYS = frozenset(range(5))
EVERY_DAY = frozenset(range(7))


def shift(start: str, end: str, days: frozenset[int] = EVERY_DAY) -> Shift:
    return Shift(days=days, start=time.fromisoformat(start), end=time.fromisoformat(end))


def span(start: str | None = None, end: str | None = None) -> Span:
    return Span(
        date.fromisoformat(start) if start else None, date.fromisoformat(end) if end else None
    )


def reader(reader_id: str = "r1", **changes: Any) -> Reader:
    """A radiologist of group g1, licensed in TX and privileged at f1, reading CT, MR and
    DX, with no shifts published (so around the clock)."""
    base = Reader(
        id=reader_id,
        practitioner=f"p-{reader_id}",
        name=f"Dr {reader_id}",
        group="g1",
        timezone="America/Chicago",
        licences=(Licence("TX"),),
        privileges=(Privilege("f1"),),
        modalities=frozenset({"CT", "MR", "DX"}),
    )
    return replace(base, **changes)


def contract(contract_id: str = "c1", **changes: Any) -> Contract:
    """A primary contract of group g1 with facility f1: every modality, priority, hour."""
    return replace(Contract(id=contract_id, facility="f1", group="g1"), **changes)


def exam(order_id: str = "o1", **changes: Any) -> Exam:
    """A routine CT head at f1 for a patient imaged in TX, ordered at NOW."""
    base = Exam(
        order_id=order_id,
        facility="f1",
        state="TX",
        code="70450",
        modality="CT",
        priority="routine",
        ordered_at=NOW,
        rvu=0.83,
        read_minutes=16.1,
        patient=f"pat-{order_id}",
    )
    return replace(base, **changes)


def work(order_id: str, reader_id: str = "r1", **changes: Any) -> Work:
    """Open routine work assigned at NOW, due a day later."""
    base = Work(
        order_id=order_id,
        reader=reader_id,
        priority="routine",
        rvu=1.0,
        read_minutes=10.0,
        deadline=NOW + timedelta(hours=24),
        assigned_at=NOW,
    )
    return replace(base, **changes)


def engine(
    readers: tuple[Reader, ...] = (),
    contracts: tuple[Contract, ...] | None = None,
    *,
    settings: EngineSettings | None = None,
    policy: Policy | None = None,
) -> Engine:
    """An engine over `readers` (default: r1) and `contracts` (default: c1)."""
    roster = Roster(readers=readers or (reader(),), contracts=contract_default(contracts))
    return Engine(roster, settings=settings, policy=policy)


def contract_default(contracts: tuple[Contract, ...] | None) -> tuple[Contract, ...]:
    return (contract(),) if contracts is None else contracts


def constraints_failed(engine_: Engine, exam_: Exam, now: datetime = NOW) -> dict[str, list[str]]:
    """Reader id -> codes of the constraints it fails for the exam."""
    return {
        c.reader.id: [f.constraint.value for f in c.failures] for c in engine_.evaluate(exam_, now)
    }
