"""Choosing among the eligible: a score per reader, lower is better, with each term named
(Score.parts) so that an explanation can show why one reader won.

Terms, in the order they matter (weights in Weights):
- lateness: minutes the predicted completion falls past the deadline, at a weight that
  dominates every other term -- deadline first;
- deadline_share: the share of the time left until the deadline the reader would use
  (predicted completion = now + what is left of started reads + the reads queued ahead
  of this exam + its own read time), so a STAT goes to the reader who reads it soonest
  while minutes hardly matter for a routine read due tomorrow;
- after_shift: minutes the predicted completion falls past the end of the reader's shift;
- balance: RVU balance across the shift -- the reader's open RVU plus RVU completed in the
  balance window, against the eligible readers' mean; for STAT and stroke, the reader's
  open STAT count against the mean (the lowest current STAT load, as Intelerad does);
- subspecialty: a bonus when the reader holds the exam's preferred subspecialty;
- patient: a bonus when the reader already holds open work of the same patient.
Ties fall to the reader id, so the choice is reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.assignment.engine.clock import shift_end, zone
from services.assignment.engine.model import Candidate, Exam, Reader, Score
from services.assignment.engine.workload import Discipline, Workload, urgency

_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Weights:
    lateness: float = 1000.0  # per minute predicted past the deadline
    deadline_share: float = 100.0  # for using the whole time left until the deadline
    after_shift: float = 20.0  # per minute predicted past the reader's shift end
    balance: float = 10.0  # per RVU above the eligible mean
    stat_balance: float = 10.0  # per open STAT above the eligible mean (STAT, stroke)
    subspecialty: float = 15.0  # bonus: the exam's preferred subspecialty
    patient: float = 25.0  # bonus: already reading this patient's open studies


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


def _minutes(delta: timedelta) -> float:
    return delta / _MINUTE


def _load(reader: Reader, inputs: ScoreInputs) -> float:
    exam, workload = inputs.exam, inputs.workload
    if exam.stroke or exam.priority == "stat":
        return float(workload.stat_open(reader.id))
    return workload.open_rvu(reader.id) + workload.completed_rvu(
        reader.id, inputs.now, inputs.balance_window
    )


def predicted_completion(reader: Reader, inputs: ScoreInputs) -> datetime:
    """When the reader would finish the exam if it were theirs now."""
    exam = inputs.exam
    ahead = inputs.workload.minutes_ahead(
        reader.id,
        inputs.now,
        deadline=inputs.deadline,
        urgency_rank=urgency(exam.priority, exam.stroke),
        discipline=inputs.discipline,
        max_wait=inputs.max_wait,
    )
    return inputs.now + timedelta(minutes=ahead + exam.read_minutes)


def score(reader: Reader, inputs: ScoreInputs, mean_load: float) -> Score:
    """The reader's score for the exam (lower is better), term by term."""
    exam, weights, now = inputs.exam, inputs.weights, inputs.now
    completion = predicted_completion(reader, inputs)
    budget = max(_minutes(inputs.deadline - now), 1.0)
    parts: dict[str, float] = {
        "lateness": weights.lateness * max(_minutes(completion - inputs.deadline), 0.0),
        "deadline_share": weights.deadline_share * _minutes(completion - now) / budget,
        "after_shift": 0.0,
        "balance": 0.0,
        "subspecialty": 0.0,
        "patient": 0.0,
    }
    tz = zone(reader.timezone)
    ends = shift_end(reader.shifts, now, tz) if reader.shifts and tz else None
    if ends is not None:
        parts["after_shift"] = weights.after_shift * max(_minutes(completion - ends), 0.0)
    stat = exam.stroke or exam.priority == "stat"
    parts["balance"] = (weights.stat_balance if stat else weights.balance) * (
        _load(reader, inputs) - mean_load
    )
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
    return {reader.id: score(reader, inputs, mean) for reader in readers}


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
