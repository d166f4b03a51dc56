"""`GET /metrics`: sla's business numbers in the Prometheus text format.

Every number is read from the database at scrape time, never counted in the process, so
that each replica answers the same values whatever events it happened to handle (in
PromQL take `max without (instance, pod)` rather than `sum`). No patient, order or
facility appears in a label: labels are priority, modality, band, outcome and code --
small, fixed sets -- so the series count stays bounded (per-facility numbers are
`$compliance`'s, behind authentication). Like /healthz it needs no token: it is served on
the service's own port, which the ingress does not expose (deploy/k8s/base/ingress.yaml).

- `sla_open_orders{priority,band}` (gauge): running clocks by time-to-deadline band
  (open_orders.BANDS); `sla_open_orders_on_hold{priority}` those paused on hold.
- `sla_turnaround_minutes{priority,modality}` (gauge histogram): clock minutes of the
  clocks that stopped in the last METRICS_WINDOW -- a sliding window, so its buckets go
  down as well as up: read them without rate(), e.g.
  `histogram_quantile(0.9, max without (instance, pod) (sla_turnaround_minutes_bucket))`.
- `sla_clocks_closed{priority,outcome}` (gauge): the same window's clocks, met, breached or
  without a deadline (`none`).
- `sla_detected_issues_total{code}` (counter): the DetectedIssues sla has raised, by
  SLA event code (breached, breach-predicted, unassigned, ...): one per order and code,
  never deleted, so the count only grows.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.breaches import SLA_EVENT_SYSTEM
from services.sla.facts import order_facts
from services.sla.measures import TURNAROUND_BUCKETS, ClosedClock
from services.sla.open_orders import RunningClock, band, open_orders
from shared.fhir.service import now_utc
from shared.fhir.storage.tables import resources, search_token

METRICS_WINDOW = timedelta(hours=24)


def _label(value: str | None) -> str:
    return value or "unknown"


def open_order_families(clocks: Iterable[RunningClock], now: datetime) -> list[Metric]:
    """The open-orders gauges of the running `clocks`."""
    by_band: Counter[tuple[str, str]] = Counter()
    held: Counter[str] = Counter()
    for order in open_orders(clocks, now):
        by_band[(order.priority, band(order.minutes_left))] += 1
        held[order.priority] += order.on_hold
    gauge = GaugeMetricFamily(
        "sla_open_orders",
        "Orders whose clock runs, by priority and time-to-deadline band",
        labels=["priority", "band"],
    )
    for (priority, name), count in sorted(by_band.items()):
        gauge.add_metric([priority, name], count)
    on_hold = GaugeMetricFamily(
        "sla_open_orders_on_hold", "Running clocks paused on hold", labels=["priority"]
    )
    for priority, count in sorted(held.items()):
        on_hold.add_metric([priority], count)
    return [gauge, on_hold]


def _buckets(minutes: Sequence[float]) -> list[tuple[str, float]]:
    bounds = [*(str(b) for b in TURNAROUND_BUCKETS), "+Inf"]
    limits = [*TURNAROUND_BUCKETS, float("inf")]
    return [
        (name, sum(1 for m in minutes if m <= limit))
        for name, limit in zip(bounds, limits, strict=True)
    ]


def closed_clock_families(clocks: Iterable[ClosedClock]) -> list[Metric]:
    """The turnaround histogram and outcome counts of clocks closed in the window."""
    minutes: defaultdict[tuple[str, str], list[float]] = defaultdict(list)
    outcomes: Counter[tuple[str, str]] = Counter()
    for clock in clocks:
        if clock.stopped_at is None:
            continue
        outcome = {True: "met", False: "breached", None: "none"}[clock.met]
        outcomes[(clock.priority, outcome)] += 1
        elapsed = clock.elapsed_minutes(clock.stopped_at)
        if elapsed is not None:
            minutes[(clock.priority, _label(clock.modality))].append(elapsed)
    histogram = GaugeHistogramMetricFamily(
        "sla_turnaround_minutes",
        f"Clock minutes of the clocks stopped in the last {METRICS_WINDOW} (sliding window)",
        labels=["priority", "modality"],
    )
    for labels, values in sorted(minutes.items()):
        histogram.add_metric(list(labels), _buckets(values), gsum_value=sum(values))
    closed = GaugeMetricFamily(
        "sla_clocks_closed",
        f"Clocks stopped in the last {METRICS_WINDOW}, by outcome (met, breached, none)",
        labels=["priority", "outcome"],
    )
    for (priority, outcome), count in sorted(outcomes.items()):
        closed.add_metric([priority, outcome], count)
    return [histogram, closed]


async def detected_issue_counts(session: AsyncSession) -> dict[str, int]:
    """How many (not deleted) DetectedIssues sla holds per SLA event code."""
    rows = await session.execute(
        select(search_token.c.code, func.count())
        .select_from(
            search_token.join(
                resources,
                and_(resources.c.pk == search_token.c.resource_pk, ~resources.c.deleted),
            )
        )
        .where(
            search_token.c.resource_type == "DetectedIssue",
            search_token.c.param == "code",
            search_token.c.system == SLA_EVENT_SYSTEM,
        )
        .group_by(search_token.c.code)
    )
    return {code: count for code, count in rows.tuples()}


def detected_issue_family(counts: dict[str, int]) -> Metric:
    counter = CounterMetricFamily(
        "sla_detected_issues", "DetectedIssues raised by sla, by SLA event code", labels=["code"]
    )
    for code, count in sorted(counts.items()):
        counter.add_metric([code], count)
    return counter


class _Scraped:
    """A collector of metric families already read (one scrape's snapshot)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


async def scrape(session: AsyncSession, now: datetime) -> bytes:
    """Every metric of sla, read now, in the Prometheus text format."""
    running = await order_facts(session, open_only=True)
    closed = await order_facts(session, stopped_from=now - METRICS_WINDOW, stopped_to=now)
    families = [
        *open_order_families(running, now),
        *closed_clock_families(closed),
        detected_issue_family(await detected_issue_counts(session)),
    ]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scraped(families))
    return generate_latest(registry)


def metrics_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """Prometheus scrape endpoint (internal port, no token, no PHI)."""
        async with request.app.state.database.transaction() as session:
            body = await scrape(session, now_utc())
        return Response(content=body, media_type=CONTENT_TYPE_LATEST)

    return router
