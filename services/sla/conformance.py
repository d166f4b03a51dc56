"""The definitions of sla's resources: the SLA event codes of its DetectedIssues, the
`$turnaround`, `$compliance` and `$open-orders` operations, and the compliance Measure its
MeasureReports report on, with their dimensions and percentile extension (docs/fhir.md)."""

from __future__ import annotations

from services.sla.breaches import SLA_EVENT_SYSTEM
from services.sla.measure_report import (
    COMPLIANCE_MEASURE_URL,
    REPORT_DIMENSION_SYSTEM,
    TURNAROUND_PERCENTILE_URL,
)
from services.sla.measures import PERCENTILES
from services.sla.open_orders import BANDS
from services.sla.reports import COMPLIANCE, MAX_RANGE, OPEN_ORDER_COLUMNS, OPEN_ORDERS
from services.sla.timeline import INTERVALS, MILESTONES
from services.sla.turnaround import OPERATION
from shared.fhir.conformance import (
    CodeSystemDefinition,
    Concept,
    Definition,
    ExtensionDefinition,
    MeasureDefinition,
    OperationDefinition,
    OperationParameter,
    SubExtension,
    Value,
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

REPORT_DIMENSION = CodeSystemDefinition(
    url=REPORT_DIMENSION_SYSTEM,
    title="SLA report dimension",
    description=(
        "What a compliance report is stratified by (MeasureReport stratifier and stratum "
        "component codes; the `by` and `period` parameters of $compliance)."
    ),
    concepts=(
        Concept("facility", "Facility", "The ordering facility (Organization)."),
        Concept("contract", "Contract", "The contract (OrganizationAffiliation) of the read."),
        Concept("modality", "Modality", "The study's DICOM modality."),
        Concept("priority", "Priority", "The order's priority (routine, urgent, asap, stat)."),
        Concept("radiologist", "Radiologist", "The Practitioner who signed the final report."),
        Concept(
            "period",
            "Period",
            "The UTC day, ISO week (from Monday) or month the clock stopped in; the value is "
            "the bucket's first instant.",
        ),
    ),
)

COMPLIANCE_MEASURE = MeasureDefinition(
    url=COMPLIANCE_MEASURE_URL,
    title="SLA turnaround compliance",
    description=(
        "The share of read clocks that stopped on or before their contract deadline, over "
        "the clocks that stopped in the reporting period. Turnaround percentiles (clock "
        "minutes, pauses on hold excluded, nearest rank) ride on each group and stratum as "
        "the turnaround-percentile extension."
    ),
    scoring="proportion",
    populations=(
        Concept(
            "initial-population",
            "Initial Population",
            "Clocks that stopped in the reporting period.",
        ),
        Concept("denominator", "Denominator", "Those of them that had a deadline."),
        Concept("numerator", "Numerator", "Those that stopped on or before their deadline."),
    ),
    stratifier_system=REPORT_DIMENSION_SYSTEM,
    stratifiers=REPORT_DIMENSION.concepts,
)

TURNAROUND_PERCENTILE = ExtensionDefinition(
    url=TURNAROUND_PERCENTILE_URL,
    title="Turnaround percentile",
    description=(
        "A percentile of the clock minutes of a compliance group or stratum (nearest rank: "
        "the smallest turnaround with at least that share of turnarounds at or below it). "
        f"One per percentile reported: {', '.join(f'p{p}' for p in PERCENTILES)}."
    ),
    contexts=("MeasureReport.group", "MeasureReport.group.stratifier.stratum"),
    parts=(
        SubExtension("percentile", "Which percentile (e.g. 90)", Value(("integer",)), min=1),
        SubExtension("minutes", "The turnaround, in minutes", Value(("Quantity",)), min=1),
    ),
    max="*",
)

_LAYOUT = OperationParameter(
    "layout",
    "in",
    "`table` for plain JSON rows instead of the FHIR answer (CSV: _format=csv or Accept: text/csv)",
    type="code",
)

COMPLIANCE_OPERATION = OperationDefinition(
    url=COMPLIANCE.definition,
    title="Turnaround compliance report",
    description=(
        "Compliance (met / clocks with a deadline) and p50/p90/p95 clock minutes of the "
        "clocks that stopped in [start, end), overall and stratified: a summary "
        "MeasureReport of the sla-compliance Measure. A facility sees only its own orders' "
        "clocks. 400 names every malformed parameter."
    ),
    code=COMPLIANCE.name,
    system=True,
    parameters=(
        OperationParameter(
            "start", "in", "Start (date or instant; default: end - 7 days)", type="string"
        ),
        OperationParameter(
            "end", "in", "End, exclusive (date or instant; default: now)", type="string"
        ),
        OperationParameter(
            "by",
            "in",
            "Comma list of report dimensions: "
            + ", ".join(c.code for c in REPORT_DIMENSION.concepts if c.code != "period")
            + f"; start and end at most {MAX_RANGE.days} days apart",
            type="string",
        ),
        OperationParameter(
            "period", "in", "Bucket by stopped time: day, week or month", type="code"
        ),
        _LAYOUT,
        OperationParameter(
            "return", "out", "The summary MeasureReport", type="MeasureReport", min=1
        ),
    ),
)

OPEN_ORDERS_OPERATION = OperationDefinition(
    url=OPEN_ORDERS.definition,
    title="Open orders by time to deadline",
    description=(
        "The orders whose clock still runs, least time to the deadline first: order, "
        "facility, modality, priority, stroke, clock, deadline, minutes left, share of the "
        "budget used, band (" + ", ".join(BANDS) + ") and whether it is on hold. No patient "
        "data. A facility sees only its own orders."
    ),
    code=OPEN_ORDERS.name,
    system=True,
    parameters=(
        _LAYOUT,
        _out("now", "instant", "When the times left were taken", min_=1),
        OperationParameter(
            "open-order",
            "out",
            "One per running clock; parts: "
            + ", ".join(c.replace("_", "-") for c in OPEN_ORDER_COLUMNS),
            max="*",
            parts=(
                _out("order", "Reference", "The order (ServiceRequest)", min_=1),
                _out("facility", "Reference", "The ordering facility"),
                _out("modality", "code", "DICOM modality"),
                _out("priority", "code", "The order's priority", min_=1),
                _out("stroke", "boolean", "A stroke read", min_=1),
                _out("clock", "code", "The interval that counts", min_=1),
                _out("deadline", "instant", "The effective deadline"),
                _out("minutes-left", "decimal", "Minutes to the deadline (negative: past)"),
                _out("budget-share", "decimal", "Elapsed clock time / target"),
                _out("band", "code", "One of: " + ", ".join(BANDS), min_=1),
                _out("on-hold", "boolean", "The clock is paused on hold", min_=1),
            ),
        ),
    ),
)

DEFINITIONS: tuple[Definition, ...] = (
    SLA_EVENT,
    SLA_CLOCK,
    TURNAROUND,
    REPORT_DIMENSION,
    COMPLIANCE_MEASURE,
    TURNAROUND_PERCENTILE,
    COMPLIANCE_OPERATION,
    OPEN_ORDERS_OPERATION,
)
