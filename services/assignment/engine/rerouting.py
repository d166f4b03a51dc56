"""Open work that should move to another reader, for the service's sweeper to route again.

- Stranded: unstarted work its reader may or can no longer read -- the reader is gone from
  the roster, inactive, off shift or unavailable (all their unstarted work), or, for work
  whose exam is known, no longer licensed in the patient's state, privileged at the
  facility, covered by a contract of their group, reading the modality, the subspecialist
  the contract asks, or is now excluded from it. Capacity is left aside: what a reader
  holds already counts against their caps.
- Better placed (`better_placed`): unstarted work predicted to wait longer than
  `EngineSettings.rebalance_after` (a third of it for STAT and stroke) before its reader
  opens it -- most often behind a read running long -- when the engine would now give it
  to another reader who finishes it at least that much sooner. A read's length is known
  only when it ends, so this is what keeps one long read from making the work queued
  behind it wait: the choice is made again when it can be made better.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from services.assignment.engine.constraints import (
    ANY_KIND,
    check_active,
    check_shift,
    judge,
)
from services.assignment.engine.model import Constraint, Exam, Failure, Reader, Work
from services.assignment.engine.workload import is_stat

if TYPE_CHECKING:
    from services.assignment.engine.engine import Engine

_MINUTE = timedelta(minutes=1)
_GONE = Failure(Constraint.ACTIVE, "The reading role is no longer in the roster")


def _exam_of(work: Work) -> Exam | None:
    return None if work.exam is None else replace(work.exam, deadline=work.deadline)


def _reader_away(engine: Engine, reader: Reader | None, now: datetime) -> Failure | None:
    """Why the reader can read nothing now (gone, inactive, off shift, unavailable)."""
    if reader is None:
        return _GONE
    probe = Exam("", None, None, None, None, "routine", now, 0.0, 0.0)
    ctx = engine.context(probe, now)
    return check_active(reader, ctx) or check_shift(reader, ctx)


def _fails_now(engine: Engine, reader: Reader, work: Work, now: datetime) -> Failure | None:
    """The first hard constraint the reader now fails for the work's exam, capacity aside
    (under any contract kind of their group: a vendor's reader reads under overflow)."""
    exam = _exam_of(work)
    if exam is None:
        return None
    failures, _ = judge(reader, engine.context(exam, now, ANY_KIND), all_failures=False)
    return next((f for f in failures if f.constraint is not Constraint.CAPACITY), None)


def why_stranded(engine: Engine, work: Work, now: datetime) -> Failure | None:
    """Why the unstarted `work` must leave its reader now, or None when it may stay."""
    if work.started_at is not None:
        return None
    reader = engine.reader(work.reader)
    away = _reader_away(engine, reader, now)
    if away is not None or reader is None:
        return away
    return _fails_now(engine, reader, work, now)


def stranded(engine: Engine, now: datetime) -> list[Work]:
    """Unstarted open work that must leave its reader now (see the module doc), by deadline."""
    found: list[Work] = []
    for reader_id in engine.workload.readers():
        unstarted = [w for w in engine.workload.open_for(reader_id) if w.started_at is None]
        if not unstarted:
            continue
        reader = engine.reader(reader_id)
        if reader is None or _reader_away(engine, reader, now) is not None:
            found += unstarted
        else:
            found += [w for w in unstarted if _fails_now(engine, reader, w, now) is not None]
    return sorted(found, key=lambda w: (w.deadline, w.order_id))


def better_placed(engine: Engine, now: datetime, *, limit: int | None = None) -> list[Work]:
    """Unstarted work the engine would now give to a reader who finishes it sooner by at
    least its patience (see the module doc), most urgent first; one move per receiving
    reader per call, so that the moves do not all pile onto the same free reader. Only
    work that some reader free soon enough may take is judged again, and at most `limit`
    of it (a sweep's budget: each costs one decision)."""
    after = engine.settings.rebalance_after
    if after is None:
        return []
    waiting: list[tuple[Work, Exam, float, timedelta]] = []
    busy: dict[str, float] = {}
    for reader_id in engine.workload.readers():
        busy[reader_id] = engine.busy_for(reader_id, now)
        for work, minutes in engine.waits(reader_id, now):
            patience = after / 3 if is_stat(work) else after
            if work.exam is not None and minutes > patience / _MINUTE:
                waiting.append((work, work.exam, minutes, patience))
    if not waiting:
        return []
    waiting.sort(key=lambda item: (item[0].deadline, item[0].order_id))
    present: dict[str, bool] = {}
    pace = engine.workload.pace

    def could_finish_by(reader_id: str, read_minutes: float, minutes: float) -> bool:
        """Whether the reader might finish a read of `read_minutes` within `minutes`: not
        while busy with their open reads, nor off shift."""
        done = busy.get(reader_id, 0.0) + read_minutes * pace(reader_id)
        if reader_id in taken or done >= minutes:
            return False
        if reader_id not in present:
            present[reader_id] = _reader_away(engine, engine.reader(reader_id), now) is None
        return present[reader_id]

    moves: list[Work] = []
    taken: set[str] = set()
    judged = 0
    for work, exam, minutes, patience in waiting:
        if limit is not None and judged >= limit:
            break
        # The reader's own finish, less the patience: a receiver must beat it.
        by = minutes + work.read_minutes * pace(work.reader) - patience / _MINUTE
        if not any(
            r != work.reader and could_finish_by(r, work.read_minutes, by)
            for r in engine.licensed_and_privileged(exam)
        ):
            continue
        judged += 1
        receiver = _sooner_reader(engine, work, now, minutes, patience)
        if receiver is not None and receiver not in taken:
            moves.append(work)
            taken.add(receiver)
    return moves


def _sooner_reader(
    engine: Engine, work: Work, now: datetime, minutes: float, patience: timedelta
) -> str | None:
    """The reader the engine would choose for `work` now, if not its own and finishing it
    at least `patience` sooner than its own reader would (who opens it in `minutes`)."""
    exam = _exam_of(work)
    if exam is None:
        return None
    own = now + timedelta(minutes=minutes + work.read_minutes * engine.workload.pace(work.reader))
    engine.workload.remove(work.order_id)  # judged as if unassigned: caps, queue, balance
    try:
        decision = engine.choose(exam, now)
    finally:
        engine.workload.add(work)
    if decision.reader is None or decision.score is None or decision.reader.id == work.reader:
        return None
    if decision.score.predicted_completion > own - patience:
        return None
    return decision.reader.id
