"""A compliance tally as FHIR: a summary MeasureReport of the platform's `sla-compliance`
Measure, and the same numbers as table rows (plain JSON, CSV) for spreadsheets.

https://hl7.org/fhir/R4/measurereport.html. One group; its populations are
initial-population (clocks stopped in the period), denominator (those with a deadline) and
numerator (those that met it); measureScore is the proportion met. A report asked `by`
some dimensions (and a period bucket) has one stratifier whose stratum components are
those dimensions -- one stratum per combination seen. Breaches are denominator - numerator
(a column of their own in the table rows). Turnaround
percentiles (clock minutes, nearest rank) ride on the group and on each stratum as the
`turnaround-percentile` extension: R4 has no element for them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from services.sla.measures import PERCENTILES, TURNAROUND_BUCKETS, Compliance, Stratum, Tally
from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.service import format_instant, now_utc

COMPLIANCE_MEASURE_URL = f"{CANONICAL_BASE}/Measure/sla-compliance"
REPORT_DIMENSION_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/sla-report-dimension"
TURNAROUND_PERCENTILE_URL = f"{CANONICAL_BASE}/StructureDefinition/turnaround-percentile"
_POPULATION = "http://terminology.hl7.org/CodeSystem/measure-population"
_UCUM = "http://unitsofmeasure.org"
# The columns of the table flavour, in order.
COLUMNS = (
    "closed",
    "met",
    "breached",
    "compliance",
    *(f"p{p}" for p in PERCENTILES),
)


def _population(code: str, count: int) -> dict[str, Any]:
    return {"code": {"coding": [{"system": _POPULATION, "code": code}]}, "count": count}


def _populations(tally: Tally) -> list[dict[str, Any]]:
    return [
        _population("initial-population", tally.closed),
        _population("denominator", tally.judged),
        _population("numerator", tally.met),
    ]


def _percentile_extensions(tally: Tally) -> list[dict[str, Any]]:
    found = []
    for p, minutes in tally.percentiles().items():
        if minutes is None:
            continue
        quantity = {"value": round(minutes, 2), "unit": "min", "system": _UCUM, "code": "min"}
        found.append(
            {
                "url": TURNAROUND_PERCENTILE_URL,
                "extension": [
                    {"url": "percentile", "valueInteger": p},
                    {"url": "minutes", "valueQuantity": quantity},
                ],
            }
        )
    return found


def _score(tally: Tally) -> dict[str, Any]:
    return {} if tally.compliance is None else {"measureScore": {"value": tally.compliance}}


def _dimension(name: str) -> dict[str, Any]:
    return {"coding": [{"system": REPORT_DIMENSION_SYSTEM, "code": name}]}


def _stratum(stratum: Stratum) -> dict[str, Any]:
    components = [
        {"code": _dimension(name), "value": {"text": value if value is not None else "unknown"}}
        for name, value in stratum.values
    ]
    extensions = _percentile_extensions(stratum.tally)
    return {
        **({"extension": extensions} if extensions else {}),
        "component": components,
        "population": _populations(stratum.tally),
        **_score(stratum.tally),
    }


def measure_report(found: Compliance) -> dict[str, Any]:
    """The summary MeasureReport of `found`."""
    group: dict[str, Any] = {}
    extensions = _percentile_extensions(found.overall)
    if extensions:
        group["extension"] = extensions
    group["population"] = _populations(found.overall)
    group |= _score(found.overall)
    if found.components:
        group["stratifier"] = [
            {
                "code": [_dimension(name) for name in found.components],
                "stratum": [_stratum(s) for s in found.strata],
            }
        ]
    return {
        "resourceType": "MeasureReport",
        "status": "complete",
        "type": "summary",
        "measure": COMPLIANCE_MEASURE_URL,
        "date": format_instant(now_utc()),
        "period": {"start": format_instant(found.start), "end": format_instant(found.end)},
        "improvementNotation": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/measure-improvement-notation",
                    "code": "increase",
                }
            ]
        },
        "group": [group],
    }


def _row(values: dict[str, str | None], tally: Tally) -> dict[str, Any]:
    percentiles = tally.percentiles()
    return {
        **values,
        "closed": tally.closed,
        "met": tally.met,
        "breached": tally.breached,
        "compliance": None if tally.compliance is None else round(tally.compliance, 4),
        **{f"p{p}": None if m is None else round(m, 2) for p, m in percentiles.items()},
    }


def _with_histogram(row: dict[str, Any], tally: Tally) -> dict[str, Any]:
    return row | {"histogram": tally.histogram()}


def table(found: Compliance) -> dict[str, Any]:
    """The plain-JSON flavour: the range, the overall row and one row per stratum, each
    with its turnaround histogram (counts per `buckets` upper bound, then those over)."""
    return {
        "start": format_instant(found.start),
        "end": format_instant(found.end),
        "by": list(found.components),
        "buckets": list(TURNAROUND_BUCKETS),
        "overall": _with_histogram(_row({}, found.overall), found.overall),
        "rows": [_with_histogram(_row(dict(s.values), s.tally), s.tally) for s in found.strata],
    }


def csv_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """`rows` as CSV: a header line of `columns`, then one line per row (None: empty)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})
    return out.getvalue()


def csv_text(found: Compliance) -> str:
    """The CSV flavour: one line per stratum (or the overall line when not grouped)."""
    rows = [_row(dict(s.values), s.tally) for s in found.strata] or [_row({}, found.overall)]
    return csv_table(rows, [*found.components, *COLUMNS])
