"""Running clocks by time to deadline (the dashboard's first table) and the Prometheus
families made of the same facts: bands, order, labels without PHI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from services.sla.metrics import closed_clock_families, detected_issue_family, open_order_families
from services.sla.open_orders import band, open_orders

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Running:
    """A running clock as the open-orders view reads it (OrderFacts' shape)."""

    order_id: str
    minutes_left: float | None
    priority: str = "stat"
    facility: str | None = "Organization/f1"
    modality: str | None = "CT"
    stroke: bool = False
    clock: str = "ordered-to-final"
    on_hold: bool = False

    @property
    def deadline(self) -> datetime | None:
        if self.minutes_left is None:
            return None
        return NOW + timedelta(minutes=self.minutes_left)

    def budget_share(self, now: datetime) -> float | None:
        return None if self.minutes_left is None else 1 - self.minutes_left / 60


@dataclass(frozen=True)
class Closed:
    minutes: float
    met: bool | None
    priority: str = "stat"
    modality: str | None = "CT"
    facility: str | None = "Organization/f1"
    contract: str | None = None
    radiologist: str | None = None
    stopped_at: datetime | None = NOW

    def elapsed_minutes(self, now: datetime) -> float:
        return self.minutes


@pytest.mark.parametrize(
    ("minutes_left", "expected"),
    [
        (-0.5, "breached"),
        (0, "under-15m"),
        (14.9, "under-15m"),
        (15, "15m-1h"),
        (59, "15m-1h"),
        (60, "1h-4h"),
        (240, "over-4h"),
        (None, "no-deadline"),
    ],
)
def test_time_left_falls_in_one_band(minutes_left: float | None, expected: str) -> None:
    assert band(minutes_left) == expected


def test_open_orders_come_least_time_left_first_and_without_deadline_last() -> None:
    clocks = [Running("late", -5), Running("free", None), Running("soon", 10), Running("far", 300)]

    found = open_orders(clocks, NOW)

    assert [(o.order_id, o.band) for o in found] == [
        ("late", "breached"),
        ("soon", "under-15m"),
        ("far", "over-4h"),
        ("free", "no-deadline"),
    ]
    assert found[1].minutes_left == pytest.approx(10)


def _samples(families: list) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry(auto_describe=False)

    class Fixed:
        def collect(self) -> list:
            return families

    registry.register(Fixed())
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_open_order_gauges_count_by_priority_and_band_with_no_order_in_a_label() -> None:
    clocks = [
        Running("a", -5),
        Running("b", 10, on_hold=True),
        Running("c", 12),
        Running("d", 100, priority="routine"),
    ]

    samples = _samples(open_order_families(clocks, NOW))

    assert samples[("sla_open_orders", (("band", "breached"), ("priority", "stat")))] == 1
    assert samples[("sla_open_orders", (("band", "under-15m"), ("priority", "stat")))] == 2
    assert samples[("sla_open_orders", (("band", "1h-4h"), ("priority", "routine")))] == 1
    assert samples[("sla_open_orders_on_hold", (("priority", "stat"),))] == 1
    labels = {value for _, pairs in samples for _, value in pairs}
    assert not labels & {"a", "b", "c", "d", "Organization/f1"}


def test_the_turnaround_histogram_is_cumulative_per_priority_and_modality() -> None:
    clocks = [
        Closed(10, True),
        Closed(50, True),
        Closed(70, False),
        Closed(20, None, modality=None),
    ]

    samples = _samples(closed_clock_families(clocks))

    ct = (("modality", "CT"), ("priority", "stat"))
    bucket = "sla_turnaround_minutes_bucket"
    assert samples[(bucket, (("le", "15.0"), *ct))] == 1
    assert samples[(bucket, (("le", "60.0"), *ct))] == 2
    assert samples[(bucket, (("le", "+Inf"), *ct))] == 3
    assert samples[("sla_turnaround_minutes_gsum", ct)] == 130
    unknown = (("le", "+Inf"), ("modality", "unknown"), ("priority", "stat"))
    assert samples[(bucket, unknown)] == 1
    closed = {
        outcome: samples[("sla_clocks_closed", (("outcome", outcome), ("priority", "stat")))]
        for outcome in ("met", "breached", "none")
    }
    assert closed == {"met": 2, "breached": 1, "none": 1}


def test_detected_issues_are_a_counter_by_code() -> None:
    samples = _samples([detected_issue_family({"breached": 3, "unassigned": 1})])

    assert samples[("sla_detected_issues_total", (("code", "breached"),))] == 3
    assert samples[("sla_detected_issues_total", (("code", "unassigned"),))] == 1
