"""`GET [base]/$compliance` and `GET [base]/$open-orders`: sla's reports over its facts.

System operations of this platform (OperationDefinitions COMPLIANCE_URL and
OPEN_ORDERS_URL, services/sla/conformance.py). `$compliance` answers a summary
MeasureReport (measures.py computes, measure_report.py shapes); `$open-orders` a Parameters
resource of the running clocks, least time left first. Both answer the same numbers as a
plain table for spreadsheets and the dashboard: `layout=table` (JSON rows) or CSV
(`_format=csv` or `Accept: text/csv`).

Tenancy: admin, system and auditor see every facility; any other caller sees only the
clocks of orders from its own organizations (a facility's EHR) or that it read itself (a
radiologist) -- numbers about others are left out, not refused. Each answer is audited
(what was asked, and for `$open-orders` every order shown).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeVar

import orjson
from fastapi import APIRouter, Request, Response

from services.sla.facts import OrderFacts, order_facts
from services.sla.measure_report import csv_table, csv_text, measure_report, table
from services.sla.measures import DIMENSIONS, PERIODS, compliance
from services.sla.open_orders import OpenOrder, open_orders
from shared.audit.trail import Access, note
from shared.auth import CurrentPrincipal, Principal
from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.http import respond, response_media_type
from shared.fhir.outcomes import bad_request
from shared.fhir.registry import Operation
from shared.fhir.service import format_instant, now_utc

COMPLIANCE = Operation(
    name="compliance",
    definition=f"{CANONICAL_BASE}/OperationDefinition/compliance",
    documentation=(
        "Turnaround compliance and p50/p90/p95 over closed clocks: "
        "?start=&end=&by=facility,priority&period=day (MeasureReport; layout=table, CSV)"
    ),
)
OPEN_ORDERS = Operation(
    name="open-orders",
    definition=f"{CANONICAL_BASE}/OperationDefinition/open-orders",
    documentation="Orders whose clock runs, least time to deadline first (Parameters; CSV)",
)
DEFAULT_RANGE = timedelta(days=7)
MAX_RANGE = timedelta(days=400)  # one report reads every clock of its range
OPEN_ORDERS_LIMIT = 1000  # the most urgent shown; a table longer than this helps nobody
Layout = Literal["fhir", "table", "csv"]
_Fact = TypeVar("_Fact", bound=OrderFacts)


def layout(request: Request) -> Layout:
    """How to answer: FHIR (default), plain JSON rows (`layout=table`) or CSV."""
    fmt = (request.query_params.get("_format") or "").split(";")[0].strip().lower()
    accept = request.headers.get("accept", "").lower()
    if fmt in ("csv", "text/csv") or (not fmt and "text/csv" in accept):
        return "csv"
    response_media_type(request)  # a 406 for anything else that is not JSON
    return "table" if request.query_params.get("layout") == "table" else "fhir"


def _instant(text: str | None, name: str, problems: list[str]) -> datetime | None:
    """A date (its midnight, UTC) or an instant (UTC when no offset is given)."""
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        problems.append(name)
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def report_request(request: Request) -> tuple[datetime, datetime, tuple[str, ...], str | None]:
    """start, end, by and period of a `$compliance` request; 400 naming every bad one."""
    params, problems = request.query_params, list[str]()
    start = _instant(params.get("start"), "start", problems)
    end = _instant(params.get("end"), "end", problems) or now_utc()
    try:
        start = start or end - DEFAULT_RANGE
    except OverflowError:  # an end in year 1
        problems.append("end")
        start = end
    by = _names(params.get("by"))
    if any(name not in DIMENSIONS for name in by) or len(set(by)) != len(by):
        problems.append("by")
    period = params.get("period") or None
    if period is not None and period not in PERIODS:
        problems.append("period")
    if not problems and not timedelta(0) < end - start <= MAX_RANGE:
        problems += ["start", "end"]
    if problems:
        raise bad_request(
            "Malformed report parameters: start/end are dates or instants with start before "
            f"end, at most {MAX_RANGE.days} days apart; by is a comma list of "
            f"{', '.join(DIMENSIONS)} (each once); period is one of {', '.join(PERIODS)}",
            problems,
        )
    return start, end, by, period


def visible(principal: Principal, facts: Iterable[_Fact]) -> list[_Fact]:
    """The facts the caller may see: all for an unconfined role; else those of its own
    facilities, or read by the caller itself."""
    keys = principal.access_keys
    if keys is None:
        return list(facts)
    return [f for f in facts if f.facility in keys or f.radiologist in keys]


def _csv_response(text: str, name: str) -> Response:
    return Response(
        content=text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def open_order_row(order: OpenOrder) -> dict[str, Any]:
    """One running clock as a table row (no patient data: order, facility, numbers)."""
    return {
        "order": f"ServiceRequest/{order.order_id}",
        "facility": order.facility,
        "modality": order.modality,
        "priority": order.priority,
        "stroke": order.stroke,
        "clock": order.clock,
        "deadline": format_instant(order.deadline) if order.deadline else None,
        "minutes_left": None if order.minutes_left is None else round(order.minutes_left, 1),
        "budget_share": None if order.budget_share is None else round(order.budget_share, 3),
        "band": order.band,
        "on_hold": order.on_hold,
    }


OPEN_ORDER_COLUMNS = (
    "order",
    "facility",
    "modality",
    "priority",
    "stroke",
    "clock",
    "deadline",
    "minutes_left",
    "budget_share",
    "band",
    "on_hold",
)


def _part(name: str, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    kinds = {
        "order": "valueReference",
        "facility": "valueReference",
        "deadline": "valueInstant",
        "minutes-left": "valueDecimal",
        "budget-share": "valueDecimal",
        "stroke": "valueBoolean",
        "on-hold": "valueBoolean",
    }
    kind = kinds.get(name, "valueCode")
    return {"name": name, kind: {"reference": value} if kind == "valueReference" else value}


def open_orders_parameters(orders: Sequence[OpenOrder], now: datetime) -> dict[str, Any]:
    """`$open-orders`' FHIR answer: the time it was taken and one `order` per clock."""
    parameters: list[dict[str, Any]] = [{"name": "now", "valueInstant": format_instant(now)}]
    for order in orders:
        row = open_order_row(order)
        parts = [_part(key.replace("_", "-"), value) for key, value in row.items()]
        parameters.append({"name": "open-order", "part": [p for p in parts if p]})
    return {"resourceType": "Parameters", "parameter": parameters}


def _shown_orders(orders: Sequence[OpenOrder]) -> Access:
    return Access(
        "operation",
        "ServiceRequest",
        objects=[f"ServiceRequest/{o.order_id}" for o in orders],
    )


def reports_router() -> APIRouter:
    router = APIRouter(tags=["sla"])

    @router.get("/$compliance", summary="Turnaround compliance and percentiles, grouped")
    async def compliance_report(request: Request, principal: CurrentPrincipal) -> Response:
        principal.require("MeasureReport", "r")
        answer = layout(request)
        start, end, by, period = report_request(request)
        async with request.app.state.database.transaction() as session:
            facts = await order_facts(session, stopped_from=start, stopped_to=end)
        found = compliance(visible(principal, facts), start=start, end=end, by=by, period=period)
        asked = f"${COMPLIANCE.name}?{request.url.query}"  # recorded as the query (BALP)
        note(request, Access("operation", "MeasureReport", query=asked))
        if answer == "csv":
            return _csv_response(csv_text(found), "compliance")
        if answer == "table":
            return Response(content=orjson.dumps(table(found)), media_type="application/json")
        return respond(request, measure_report(found))

    @router.get("/$open-orders", summary="Running clocks, least time to deadline first")
    async def open_orders_report(request: Request, principal: CurrentPrincipal) -> Response:
        principal.require("ServiceRequest", "r")
        answer = layout(request)
        now = now_utc()
        async with request.app.state.database.transaction() as session:
            facts = await order_facts(session, open_only=True)
        orders = open_orders(visible(principal, facts), now)[:OPEN_ORDERS_LIMIT]
        note(request, _shown_orders(orders))
        rows = [open_order_row(o) for o in orders]
        if answer == "csv":
            return _csv_response(csv_table(rows, OPEN_ORDER_COLUMNS), "open-orders")
        if answer == "table":
            body = {"now": format_instant(now), "rows": rows}
            return Response(content=orjson.dumps(body), media_type="application/json")
        return respond(request, open_orders_parameters(orders, now))

    return router
