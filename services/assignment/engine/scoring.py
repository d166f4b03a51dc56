"""Choosing among the eligible: a score per reader, lower is better, with each term named
(Score.parts) so that an explanation can show why one reader won.

Terms, in the order they matter (weights in Weights):
- lateness: minutes the predicted completion falls past the deadline, at a weight that
  dominates every other term -- deadline first;
- completion: minutes from now to the predicted completion (what is left of the read in
  progress, never less than a long read still expects to run; the reads queued ahead of
  this exam; its own read time), each minute weighted by the exam's urgency: a flat
  `minute` plus `deadline_pressure` over the minutes left until the deadline. A stroke due
  in 20 min pays ~31 a minute, a STAT due in an hour ~11, a routine read due tomorrow ~1.4:
  so a STAT goes to the reader who starts it soonest, and even a routine read does not
  queue behind others while someone is free;
- after_shift: minutes the predicted completion falls past the end of the reader's shift;
- balance: RVU balance across the shift -- the RVUs the reader completed and holds open
  since coming on shift (within the balance window), per hour on shift, against the
  eligible readers' mean; for STAT and stroke, the reader's open STAT count against the
  mean (the lowest current STAT load, as Intelerad does);
- subspecialty: a bonus when the reader holds the exam's preferred subspecialty;
- patient: a bonus when the reader already holds open work of the same patient.
The two bonuses are fixed, the minutes are weighted by urgency: for a routine read a
subspecialist is worth ~10 min of waiting, for a STAT ~1.5 min, for a stroke half a minute
-- preferences break near-ties of urgent work and never outweigh reading it sooner. The
patient bonus is the smaller, the last of the issue's preferences (~7 min of a routine
read's waiting): a patient's second study waits behind their first only briefly.
Ties fall to the reader id, so the choice is reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.assignment.engine.clock import shift_end, shift_start, zone
from services.assignment.engine.model import Candidate, Exam, Reader, Score, Work
from services.assignment.engine.workload import DEFAULT_READ_SIGMA, Discipline, Place, Workload

_MINUTE = timedelta(minutes=1)
_HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Weights:
    lateness: float = 1000.0  # per minute predicted past the deadline
    minute: float = 1.0  # per minute to the predicted completion, at any priority
    deadline_pressure: float = 600.0  # per minute to completion, over the minutes left
    after_shift: float = 20.0  # per minute predicted past the reader's shift end
    balance: float = 10.0  # per RVU/hour on shift above the eligible mean
    stat_balance: float = 10.0  # per open STAT above the eligible mean (STAT, stroke)
    subspecialty: float = 15.0  # bonus: the exam's preferred subspecialty
    patient: float = (
        10.0  # bonus: already reading this patient's open studies (the last preference)
    )


@dataclass(frozen=True, slots=True)
class ScoreInputs:
    """What scoring needs beyond the reader: shared by every candidate of one decision."""

    exam: Exam
    now: datetime
    deadline: datetime
    workload: Workload
    weights: Weights
    balance_window: timedelta
    max_wait: timedelta
    discipline: Discipline
    read_sigma: float = DEFAULT_READ_SIGMA

    def pending(self, reader_id: str) -> Work:
        """The exam as open work of `reader_id`, were it assigned now."""
        exam = self.exam
        return Work(
            order_id=exam.order_id,
            reader=reader_id,
            priority=exam.priority,
            rvu=exam.rvu,
            read_minutes=exam.read_minutes,
            deadline=self.deadline,
            assigned_at=self.now,
            patient=exam.patient,
            stroke=exam.stroke,
            exam=exam,
        )


def _minutes(delta: timedelta) -> float:
    return delta / _MINUTE


def _is_stat(exam: Exam) -> bool:
    return exam.stroke or exam.priority == "stat"


def rvu_rate(reader: Reader, inputs: ScoreInputs) -> float:
    """RVUs the reader completed or holds open since coming on shift (within the balance
    window), per hour on shift -- at least one hour, so a newcomer is not divided by zero."""
    now, window = inputs.now, inputs.balance_window
    tz = zone(reader.timezone)
    began = shift_start(reader.shifts, now, tz) if reader.shifts and tz else None
    since = max(began or now - window, now - window)
    hours = max((now - since) / _HOUR, 1.0)
    workload = inputs.workload
    done = workload.completed_rvu(reader.id, now, window, since=since)
    return (done + workload.open_rvu(reader.id)) / hours


def _load(reader: Reader, inputs: ScoreInputs) -> float:
    if _is_stat(inputs.exam):
        return float(inputs.workload.stat_open(reader.id))
    return rvu_rate(reader, inputs)


def place(reader: Reader, inputs: ScoreInputs) -> Place:
    """Where the exam would stand in the reader's queue if it were theirs now."""
    return inputs.workload.place(
        reader.id,
        inputs.now,
        pending=inputs.pending(reader.id),
        discipline=inputs.discipline,
        max_wait=inputs.max_wait,
        sigma=inputs.read_sigma,
    )


def predicted_completion(reader: Reader, inputs: ScoreInputs) -> datetime:
    """When the reader would finish the exam if it were theirs now."""
    where = place(reader, inputs)
    return inputs.now + timedelta(minutes=where.ahead + inputs.exam.read_minutes * where.pace)


def per_minute(weights: Weights, deadline: datetime, now: datetime) -> float:
    """What a minute to completion costs for work due at `deadline`: more the nearer it is."""
    left = max(_minutes(deadline - now), 1.0)
    return weights.minute + weights.deadline_pressure / left


def _delay_cost(where: Place, exam: Exam, weights: Weights, now: datetime) -> float:
    """What one minute more costs the reader's other waiting work that this exam could be
    read before (the same patient's studies aside: they are read together)."""
    return sum(
        per_minute(weights, work.deadline, now)
        for work in where.delayed
        if not (exam.patient and work.patient == exam.patient)
    )


def score(reader: Reader, inputs: ScoreInputs, load: float, mean_load: float) -> Score:
    """The reader's score for the exam (lower is better), term by term; `load` is the
    reader's for balance (`_load`), `mean_load` the eligible readers' mean of it."""
    exam, weights, now = inputs.exam, inputs.weights, inputs.now
    where = place(reader, inputs)
    own = exam.read_minutes * where.pace
    completion = now + timedelta(minutes=where.ahead + own)
    parts: dict[str, float] = {
        "lateness": weights.lateness * max(_minutes(completion - inputs.deadline), 0.0),
        "completion": per_minute(weights, inputs.deadline, now) * _minutes(completion - now),
        "queue_delay": own * _delay_cost(where, exam, weights, now),
        "after_shift": 0.0,
        "balance": 0.0,
        "subspecialty": 0.0,
        "patient": 0.0,
    }
    tz = zone(reader.timezone)
    ends = shift_end(reader.shifts, now, tz) if reader.shifts and tz else None
    if ends is not None:
        parts["after_shift"] = weights.after_shift * max(_minutes(completion - ends), 0.0)
    weight = weights.stat_balance if _is_stat(exam) else weights.balance
    parts["balance"] = weight * (load - mean_load)
    if exam.subspecialty and exam.subspecialty in reader.subspecialties:
        parts["subspecialty"] = -weights.subspecialty
    if inputs.workload.holds_patient(reader.id, exam.patient):
        parts["patient"] = -weights.patient
    return Score(total=sum(parts.values()), parts=parts, predicted_completion=completion)


def score_all(readers: Sequence[Reader], inputs: ScoreInputs) -> dict[str, Score]:
    """Scores of the eligible `readers`, balance measured against their mean load."""
    if not readers:
        return {}
    loads = [_load(reader, inputs) for reader in readers]
    mean = sum(loads) / len(loads)
    return {
        reader.id: score(reader, inputs, load, mean)
        for reader, load in zip(readers, loads, strict=True)
    }


def best(candidates: Sequence[Candidate]) -> Candidate:
    """The scored candidate with the lowest total (ties: the lowest reader id)."""
    return min(
        candidates,
        key=lambda c: (c.score.total if c.score else float("inf"), c.reader.id),
    )


def _clock(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%H:%M UTC")


def describe_choice(
    chosen: Candidate, eligible: Sequence[Candidate], deadline: datetime, exam: Exam
) -> str:
    """'Earliest predicted completion 14:32 UTC, 48 min before the deadline; of 7 eligible'."""
    assert chosen.score is not None
    completion = chosen.score.predicted_completion
    earliest = all(c.score is None or c.score.predicted_completion >= completion for c in eligible)
    margin = round(_minutes(deadline - completion))
    timing = (
        f"{margin} min before the deadline" if margin >= 0 else f"{-margin} min after the deadline"
    )
    notes = _notes(chosen.score.parts, exam)
    lead = "Earliest predicted completion" if earliest else "Predicted completion"
    return f"{lead} {_clock(completion)}, {timing}{notes}; of {len(eligible)} eligible"


def _notes(parts: Mapping[str, float], exam: Exam) -> str:
    notes = []
    if parts.get("subspecialty", 0.0) < 0:
        notes.append(f"{exam.subspecialty} subspecialist")
    if parts.get("patient", 0.0) < 0:
        notes.append("already reading this patient's open studies")
    if parts.get("balance", 0.0) < 0:
        notes.append("below the mean load")
    return f" ({', '.join(notes)})" if notes else ""
