"""The definitions of sla's resources: the SLA event codes of its DetectedIssues and the
`$turnaround` operation (docs/fhir.md)."""

from __future__ import annotations

from services.sla.breaches import SLA_EVENT_SYSTEM
from services.sla.timeline import INTERVALS, MILESTONES
from services.sla.turnaround import OPERATION
from shared.fhir.conformance import (
    CodeSystemDefinition,
    Concept,
    Definition,
    OperationDefinition,
    OperationParameter,
)
from shared.sla_terms import CLOCKS, SLA_CLOCK_SYSTEM

SLA_EVENT = CodeSystemDefinition(
    url=SLA_EVENT_SYSTEM,
    title="SLA event",
    description=(
        "What an SLA DetectedIssue reports (DetectedIssue.code). The system also names its "
        "identifier, <code>/<order id>: one DetectedIssue per order and code."
    ),
    concepts=(
        Concept(
            "breach-predicted",
            "Breach predicted",
            "The order will miss its deadline at the current pace (topic sla-breach-predicted).",
        ),
        Concept(
            "breached",
            "Breached",
            "The deadline passed before the clock stopped, or the final report came after "
            "it (topic sla-breached).",
        ),
        Concept(
            "escalated",
            "Escalated to operations",
            "The order is still predicted to miss its deadline late in its time budget, or "
            "no reader would finish it sooner: operations are told (topic sla-escalated).",
        ),
        Concept(
            "unassigned",
            "Waiting unassigned",
            "Nobody eligible can read the order now; its read waits in assignment's "
            "unassigned queue (topic sla-unassigned).",
        ),
    ),
)


SLA_CLOCK = CodeSystemDefinition(
    url=SLA_CLOCK_SYSTEM,
    title="SLA clock",
    description=(
        "The interval of an order's timeline a contract's turnaround counts (sla-target "
        "`clock`; $turnaround `clock`): from one milestone to another, holds of the read "
        "taken out. A clock to the preliminary report also stops at a final report that "
        "came without one."
    ),
    concepts=tuple(
        Concept(code, code.replace("-", " ").capitalize(), f"From {start} to {stop}.")
        for code, (start, stop) in CLOCKS.items()
    ),
)


def _out(name: str, type_: str, documentation: str, *, min_: int = 0) -> OperationParameter:
    return OperationParameter(name, "out", documentation, type=type_, min=min_)


def _coded_times(name: str, codes: tuple[str, ...], unit: OperationParameter) -> OperationParameter:
    """A repeating out parameter of a code (one of `codes`) and a value."""
    code = _out("code", "code", "One of: " + ", ".join(codes), min_=1)
    return OperationParameter(name, "out", f"One per {name} known", max="*", parts=(code, unit))


TURNAROUND = OperationDefinition(
    url=OPERATION.definition,
    title="Turnaround of an order",
    description=(
        "One order's timeline: its milestones with their times, the intervals between known "
        "milestones in minutes, its priority, the clock that counts (sla-clock) with the "
        "contract, target and effective deadline (clock start + target + time on hold; "
        "without a contract term, the read Task's deadline + time on hold), minutes on hold, "
        "and whether the clock stopped by the deadline. Times are when the platform knew. "
        "404 for an order sla knows nothing of."
    ),
    code=OPERATION.name,
    system=True,
    parameters=(
        OperationParameter(
            "order",
            "in",
            "The order, as ServiceRequest/<id>",
            type="string",
            min=1,
        ),
        _out("order", "Reference", "The order (ServiceRequest)", min_=1),
        _out("complete", "boolean", "Whether the final report exists", min_=1),
        _out("priority", "code", "The order's priority (routine when unknown)", min_=1),
        _out("clock", "code", "The interval that counts (sla-clock code)", min_=1),
        _out("paused-minutes", "decimal", "Minutes the clock was on hold so far", min_=1),
        _out("on-hold", "boolean", "Whether the read is on hold now", min_=1),
        _out("contract", "Reference", "The OrganizationAffiliation the read runs under"),
        _out("target-minutes", "decimal", "The contract's target (else the Task's budget)"),
        _out("deadline", "instant", "The effective deadline, when known"),
        _out("task-deadline", "instant", "The read Task's restriction.period.end"),
        _out("met-deadline", "boolean", "Whether the clock stopped by the deadline, once stopped"),
        _coded_times("milestone", MILESTONES, _out("time", "instant", "When", min_=1)),
        _coded_times(
            "interval",
            tuple(name for name, _, _ in INTERVALS),
            _out("minutes", "decimal", "Its length in minutes", min_=1),
        ),
    ),
)

DEFINITIONS: tuple[Definition, ...] = (SLA_EVENT, SLA_CLOCK, TURNAROUND)
