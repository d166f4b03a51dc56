"""Compliance reports' arithmetic: which clocks count, nearest-rank percentiles, strata by
dimension and period, and the MeasureReport / table / CSV shapes of the same numbers."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fhir.resources.R4B import get_fhir_model_class

from services.sla.measure_report import (
    COMPLIANCE_MEASURE_URL,
    TURNAROUND_PERCENTILE_URL,
    csv_text,
    measure_report,
    table,
)
from services.sla.measures import compliance, percentile

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)  # a Wednesday


@dataclass(frozen=True)
class Clock:
    """A closed clock as the reports read it (OrderFacts' shape)."""

    minutes: float
    met: bool | None = True
    stopped: float = 0.0  # hours after T0
    facility: str | None = "Organization/f1"
    contract: str | None = None
    modality: str | None = "CT"
    priority: str = "stat"
    radiologist: str | None = "Practitioner/r1"

    @property
    def stopped_at(self) -> datetime:
        return T0 + timedelta(hours=self.stopped)

    def elapsed_minutes(self, now: datetime) -> float:
        return float(self.minutes)


START, END = T0 - timedelta(days=1), T0 + timedelta(days=40)


@pytest.mark.parametrize(
    ("p", "expected"), [(50, 5.0), (90, 9.0), (95, 10.0), (10, 1.0), (100, 10.0)]
)
def test_percentiles_are_nearest_rank(p: int, expected: float) -> None:
    assert percentile([float(v) for v in range(1, 11)], p) == expected


def test_a_percentile_of_nothing_is_unknown_and_of_one_value_that_value() -> None:
    assert percentile([], 90) is None
    assert percentile([42.0], 50) == percentile([42.0], 95) == 42.0


def test_only_clocks_stopped_in_the_range_count_and_only_those_with_a_deadline_are_judged() -> None:
    clocks = [
        Clock(20, met=True),
        Clock(90, met=False),
        Clock(30, met=None),  # no deadline: counted as closed, not judged
        Clock(10, met=True, stopped=-48),  # before the range
        Clock(10, met=True, stopped=24 * 40),  # at the range's end: excluded
    ]

    found = compliance(clocks, start=START, end=END)

    assert (found.overall.closed, found.overall.met, found.overall.breached) == (3, 1, 1)
    assert found.overall.compliance == 0.5
    assert found.overall.percentiles() == {50: 30.0, 90: 90.0, 95: 90.0}
    assert found.strata == ()


def test_strata_by_facility_and_priority_hold_their_own_numbers() -> None:
    clocks = [
        Clock(10, facility="Organization/a", priority="stat"),
        Clock(70, met=False, facility="Organization/a", priority="stat"),
        Clock(200, facility="Organization/a", priority="routine"),
        Clock(15, facility="Organization/b", priority="stat"),
        Clock(25, facility=None, priority="stat"),
    ]

    found = compliance(clocks, start=START, end=END, by=("facility", "priority"))

    rows = {s.values: (s.tally.closed, s.tally.met, s.tally.breached) for s in found.strata}
    assert rows == {
        (("facility", "Organization/a"), ("priority", "routine")): (1, 1, 0),
        (("facility", "Organization/a"), ("priority", "stat")): (2, 1, 1),
        (("facility", "Organization/b"), ("priority", "stat")): (1, 1, 0),
        (("facility", None), ("priority", "stat")): (1, 1, 0),
    }
    assert found.strata[-1].values[0] == ("facility", None)  # unknowns sort last
    assert found.overall.closed == 5


@pytest.mark.parametrize(
    ("period", "buckets"),
    [
        ("day", {"2024-05-01T00:00:00+00:00": 2, "2024-05-02T00:00:00+00:00": 1,
                 "2024-05-07T00:00:00+00:00": 1}),
        ("week", {"2024-04-29T00:00:00+00:00": 3, "2024-05-06T00:00:00+00:00": 1}),
        ("month", {"2024-05-01T00:00:00+00:00": 4}),
    ],
)  # fmt: skip
def test_period_buckets_are_utc_days_iso_weeks_and_months(
    period: str, buckets: dict[str, int]
) -> None:
    clocks = [
        Clock(10, stopped=0),
        Clock(10, stopped=13),
        Clock(10, stopped=14),
        Clock(10, stopped=24 * 6),
    ]

    found = compliance(clocks, start=START, end=END, period=period)

    assert {dict(s.values)["period"]: s.tally.closed for s in found.strata} == buckets


def test_an_unknown_dimension_or_period_is_refused() -> None:
    with pytest.raises(ValueError):
        compliance([], start=START, end=END, by=("patient",))
    with pytest.raises(ValueError):
        compliance([], start=START, end=END, period="hour")


def test_the_histogram_counts_each_turnaround_once_in_its_bucket() -> None:
    found = compliance([Clock(m) for m in (5, 15, 16, 59, 3000)], start=START, end=END)

    assert found.overall.histogram() == [2, 1, 1, 0, 0, 0, 0, 0, 1]


def _percentiles(extensions: list[dict]) -> dict[int, float]:
    return {
        e["extension"][0]["valueInteger"]: e["extension"][1]["valueQuantity"]["value"]
        for e in extensions
        if e["url"] == TURNAROUND_PERCENTILE_URL
    }


def test_the_measure_report_is_a_valid_summary_with_populations_score_and_strata() -> None:
    clocks = [Clock(10), Clock(70, met=False), Clock(20, priority="routine"), Clock(40, met=None)]

    report = measure_report(compliance(clocks, start=START, end=END, by=("priority",)))

    get_fhir_model_class("MeasureReport").model_validate(report)
    assert (report["type"], report["status"], report["measure"]) == (
        "summary",
        "complete",
        COMPLIANCE_MEASURE_URL,
    )
    group = report["group"][0]
    counts = {p["code"]["coding"][0]["code"]: p["count"] for p in group["population"]}
    assert counts == {"initial-population": 4, "denominator": 3, "numerator": 2}
    assert group["measureScore"]["value"] == pytest.approx(2 / 3)
    assert _percentiles(group["extension"]) == {50: 20.0, 90: 70.0, 95: 70.0}
    strata = group["stratifier"][0]["stratum"]
    assert [s["component"][0]["value"]["text"] for s in strata] == ["routine", "stat"]
    stat = strata[1]
    assert stat["measureScore"]["value"] == 0.5
    assert _percentiles(stat["extension"]) == {50: 40.0, 90: 70.0, 95: 70.0}


def test_a_report_with_nothing_judged_has_no_score() -> None:
    report = measure_report(compliance([Clock(10, met=None)], start=START, end=END))

    get_fhir_model_class("MeasureReport").model_validate(report)
    assert "measureScore" not in report["group"][0]


def test_table_and_csv_carry_the_same_numbers_per_stratum() -> None:
    found = compliance(
        [Clock(10, facility="Organization/a"), Clock(70, met=False, facility="Organization/b")],
        start=START,
        end=END,
        by=("facility",),
    )

    rows = table(found)["rows"]
    lines = list(csv.DictReader(io.StringIO(csv_text(found))))

    assert [(r["facility"], r["met"], r["breached"], r["compliance"]) for r in rows] == [
        ("Organization/a", 1, 0, 1.0),
        ("Organization/b", 0, 1, 0.0),
    ]
    assert [(r["facility"], r["met"], r["breached"], r["p90"]) for r in lines] == [
        ("Organization/a", "1", "0", "10.0"),
        ("Organization/b", "0", "1", "70.0"),
    ]
    assert rows[1]["histogram"][3] == 1  # 70 minutes: the (60, 120] bucket
