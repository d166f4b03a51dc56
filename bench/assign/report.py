"""The figures of a simulated day, per policy and priority, and their tables."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from bench.assign.sim import OrderState, Outcome

CLASSES = ("stroke", "stat", "asap", "urgent", "routine", "all")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) with linear interpolation; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def class_of(order: OrderState) -> str:
    exam = order.arrival.exam
    return "stroke" if exam.stroke else exam.priority


def _minutes(order: OrderState) -> float | None:
    if order.done_at is None:
        return None
    return (order.done_at - order.arrival.exam.ordered_at).total_seconds() / 60


def _wait(order: OrderState) -> float | None:
    """Minutes from the order to the start of its read by one of the group's radiologists."""
    if order.started_at is None or order.vendor is not None:
        return None
    return (order.started_at - order.arrival.exam.ordered_at).total_seconds() / 60


def priority_figures(orders: Iterable[OrderState], end: datetime) -> dict[str, Any]:
    """SLA compliance, turnaround and waits of one class of orders."""
    orders = list(orders)
    turnaround = [m for m in (_minutes(o) for o in orders) if m is not None]
    in_house = [m for m in (_minutes(o) for o in orders if o.vendor is None) if m is not None]
    on_time = sum(1 for o in orders if o.done_at is not None and o.done_at <= o.deadline)
    waits = [(o.waited.total_seconds() / 60) for o in orders]
    late = [
        (o.done_at - o.deadline).total_seconds() / 60
        for o in orders
        if o.done_at is not None and o.done_at > o.deadline
    ]
    return {
        "orders": len(orders),
        "sla_pct": 100.0 * on_time / len(orders) if orders else float("nan"),
        "late": len(orders) - on_time,
        "p50_min": percentile(turnaround, 0.5),
        "p95_min": percentile(turnaround, 0.95),
        "max_min": max(turnaround, default=float("nan")),
        "max_in_house_min": max(in_house, default=float("nan")),
        "max_wait_min": max((w for w in map(_wait, orders) if w is not None), default=float("nan")),
        "max_late_min": max(late, default=0.0),
        "unfinished": sum(1 for o in orders if o.done_at is None),
        "never_assigned": sum(1 for o in orders if not o.ever_assigned and o.vendor is None),
        "waited_unassigned": sum(1 for w in waits if w > 0),
        "max_unassigned_min": max(waits, default=0.0),
        "overflow": sum(1 for o in orders if o.vendor is not None),
    }


def rvu_balance(outcome: Outcome) -> float:
    """Coefficient of variation of RVUs read per present on-shift hour, across radiologists."""
    rates = [
        state.rvu_read / outcome.present_hours[state.reader.id]
        for state in outcome.readers
        if outcome.present_hours.get(state.reader.id, 0.0) >= 1.0
    ]
    if len(rates) < 2 or statistics.fmean(rates) == 0:
        return float("nan")
    return statistics.pstdev(rates) / statistics.fmean(rates)


def figures(outcome: Outcome, end: datetime) -> dict[str, Any]:
    """Everything reported for one policy's day."""
    by_class: dict[str, list[OrderState]] = {c: [] for c in CLASSES}
    for order in outcome.orders:
        by_class[class_of(order)].append(order)
        by_class["all"].append(order)
    latencies_ms = [s * 1000 for s in outcome.latencies]
    return {
        "policy": outcome.policy,
        "classes": {c: priority_figures(orders, end) for c, orders in by_class.items()},
        "rvu_cv": rvu_balance(outcome),
        "decisions": len(latencies_ms),
        "decision_p50_ms": percentile(latencies_ms, 0.5),
        "decision_p99_ms": percentile(latencies_ms, 0.99),
        "decision_max_ms": max(latencies_ms, default=float("nan")),
        "decision_cpu_p99_ms": percentile([s * 1000 for s in outcome.cpu], 0.99),
        "counts": dict(sorted(outcome.counts.items())),
    }


def _cell(value: float, digits: int = 0) -> str:
    if value != value:  # nan
        return "-"
    return f"{value:,.{digits}f}"


def class_table(results: list[dict[str, Any]]) -> list[str]:
    """Per priority and policy: compliance, turnaround, waits, overflow (markdown)."""
    lines = [
        "| priority | policy | orders | SLA % | late | p50 min | p95 min | max min "
        "| max own min | max wait min | max late min | waited unassigned | max unassigned min "
        "| never assigned | overflow |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cls in CLASSES:
        for result in results:
            f = result["classes"][cls]
            if not f["orders"]:
                continue
            lines.append(
                f"| {cls} | {result['policy']} | {f['orders']:,} | {_cell(f['sla_pct'], 1)} "
                f"| {f['late']} | {_cell(f['p50_min'])} | {_cell(f['p95_min'])} "
                f"| {_cell(f['max_min'])} | {_cell(f['max_in_house_min'])} "
                f"| {_cell(f['max_wait_min'])} | {_cell(f['max_late_min'])} | {f['waited_unassigned']} "
                f"| {_cell(f['max_unassigned_min'])} | {f['never_assigned']} | {f['overflow']} |"
            )
    return lines


def policy_table(results: list[dict[str, Any]]) -> list[str]:
    """Per policy: balance, decision latency and what happened (markdown)."""
    events = (
        "decline",
        "timeout",
        "no-show",
        "re-routed at shift end",
        "re-routed from a no-show",
        "re-routed: no longer eligible",
        "moved to a reader free sooner",
    )
    lines = [
        "| policy | RVU/h CV | decisions | decide p50 ms | decide p99 ms | decide max ms "
        "| p99 CPU ms | declines | timeouts | no-shows "
        "| re-routed (shift end / no-show / no longer eligible) | moved to a reader free sooner |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        c = r["counts"]
        lines.append(
            f"| {r['policy']} | {_cell(r['rvu_cv'], 3)} | {r['decisions']:,} "
            f"| {_cell(r['decision_p50_ms'], 2)} | {_cell(r['decision_p99_ms'], 2)} "
            f"| {_cell(r['decision_max_ms'], 2)} | {_cell(r['decision_cpu_p99_ms'], 2)} "
            f"| {c.get(events[0], 0)} | {c.get(events[1], 0)} "
            f"| {c.get(events[2], 0)} | {c.get(events[3], 0)} / {c.get(events[4], 0)} "
            f"/ {c.get(events[5], 0)} | {c.get(events[6], 0)} |"
        )
    return lines
