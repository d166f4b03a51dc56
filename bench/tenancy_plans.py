"""Query plans of the statements a request runs: captured from the app's engine, replayed
under EXPLAIN (ANALYZE, BUFFERS), and read for sequential scans and the indexes used.

A statement is replayed as a prepared statement, twice: with `plan_cache_mode` forcing a
custom plan (planned for these values: what the first five executions on a connection get)
and forcing the generic plan (planned for any values: what asyncpg's cached statements may
switch to after five executions, when PostgreSQL judges it no dearer).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.tenancy_measure import OPERATIONS, Caller

# The indexes the access filter is meant to use (shared/migrations/versions/0006).
ACCESS_INDEXES = (
    "ix_resource_access_label_resource_pk",
    "uq_resource_access_resource_pk_label",
    "pk_access_grant",
)
BIG_TABLE_ROWS = 10_000  # a sequential scan of a table this big is worth reporting


class StatementLog:
    """The SQL (and its parameters) the app's engine sends while capturing."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._captured: list[tuple[str, tuple[Any, ...]]] | None = None
        event.listen(engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self._captured is not None:
            self._captured.append((statement, tuple(parameters or ())))

    @contextmanager
    def capture(self) -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
        captured: list[tuple[str, tuple[Any, ...]]] = []
        self._captured = captured
        try:
            yield captured
        finally:
            self._captured = None


@dataclass(slots=True)
class PlanSummary:
    """What one EXPLAIN ANALYZE shows that matters here."""

    execution_ms: float
    planning_ms: float
    shared_hit: int
    shared_read: int
    indexes: list[str] = field(default_factory=list)
    seq_scans: list[dict[str, Any]] = field(default_factory=list)  # big tables only
    text: str = ""


def _literal(value: Any) -> str:
    """`value` as SQL text for EXECUTE (the prepared statement's types apply)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        value = value.isoformat()
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no SQL literal for {type(value).__name__}")


async def table_sizes(connection: asyncpg.Connection) -> dict[str, int]:
    """Estimated rows of every table of the public schema (after ANALYZE)."""
    rows = await connection.fetch(
        "SELECT relname, reltuples::bigint FROM pg_class "
        "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
    )
    return {row[0]: row[1] for row in rows}


async def explain(
    connection: asyncpg.Connection,
    statement: str,
    parameters: tuple[Any, ...],
    *,
    generic: bool,
    sizes: dict[str, int],
) -> PlanSummary:
    """EXPLAIN (ANALYZE, BUFFERS) of one captured statement, as a custom or generic plan."""
    mode = "force_generic_plan" if generic else "force_custom_plan"
    await connection.execute(f"SET plan_cache_mode = {mode}")
    await connection.execute(f"PREPARE bench_plan AS {statement}")
    try:
        arguments = f"({', '.join(_literal(p) for p in parameters)})" if parameters else ""
        execute = f"EXECUTE bench_plan{arguments}"
        await connection.execute(execute)  # warm: the figures below are a repeat's
        raw = await connection.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {execute}")
        text = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {execute}")
    finally:
        await connection.execute("DEALLOCATE bench_plan")
        await connection.execute("RESET plan_cache_mode")
    document = (orjson.loads(raw) if isinstance(raw, str) else raw)[0]
    plan = document["Plan"]
    summary = PlanSummary(
        execution_ms=document["Execution Time"],
        planning_ms=document["Planning Time"],
        shared_hit=plan.get("Shared Hit Blocks", 0),
        shared_read=plan.get("Shared Read Blocks", 0),
        text="\n".join(row[0] for row in text),
    )
    _walk(plan, summary, sizes)
    return summary


def _walk(node: dict[str, Any], summary: PlanSummary, sizes: dict[str, int]) -> None:
    index = node.get("Index Name")
    if index and index not in summary.indexes:
        summary.indexes.append(index)
    relation = node.get("Relation Name")
    if node["Node Type"] == "Seq Scan" and sizes.get(relation or "", 0) >= BIG_TABLE_ROWS:
        loops = node.get("Actual Loops", 1)
        summary.seq_scans.append(
            {
                "table": relation,
                "table_rows": sizes[relation or ""],
                "loops": loops,
                "rows_out": node.get("Actual Rows", 0) * loops,
                "rows_removed": node.get("Rows Removed by Filter", 0) * loops,
                "filter": node.get("Filter", ""),
            }
        )
    for child in node.get("Plans", ()):
        _walk(child, summary, sizes)


def confined(statement: str) -> bool:
    """Whether a statement carries the access filter."""
    return "resource_access" in statement and statement.lstrip().upper().startswith("SELECT")


def shorten(statement: str, width: int = 110) -> str:
    """One line of a statement, for the report."""
    flat = " ".join(statement.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def _fields(summary: PlanSummary) -> dict[str, Any]:
    return {name: getattr(summary, name) for name in PlanSummary.__slots__}


async def capture_plans(
    log: StatementLog, callers: dict[str, Caller], dsn: str
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Each SELECT of one request per operation and caller, explained (custom and generic)."""
    connection = await asyncpg.connect(dsn)
    plans: dict[str, dict[str, list[dict[str, Any]]]] = {}
    try:
        sizes = await table_sizes(connection)
        for operation, (path, query) in OPERATIONS.items():
            for who, caller in callers.items():
                target = path.format(id=caller.orders[0]) if "{id}" in path else path
                with log.capture() as statements:
                    status, _ = await caller.call("GET", target, query)
                if status != 200:
                    raise SystemExit(f"{who} {operation}: {status}")
                explained = []
                for statement, parameters in statements:
                    if not statement.lstrip().upper().startswith("SELECT"):
                        continue
                    plan = {"statement": statement, "confined": confined(statement)}
                    for kind in ("custom", "generic"):
                        summary = await explain(
                            connection,
                            statement,
                            parameters,
                            generic=kind == "generic",
                            sizes=sizes,
                        )
                        plan[kind] = _fields(summary)
                    explained.append(plan)
                plans.setdefault(operation, {})[who] = explained
    finally:
        await connection.close()
    return plans


def plan_report(plans: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    """Per operation and caller: each statement's execution time (custom / generic plan),
    the access indexes it used and any sequential scan of a big table."""
    lines = []
    for operation, by_caller in plans.items():
        lines.append(f"{operation}:")
        for who, statements in by_caller.items():
            for number, found in enumerate(statements, 1):
                custom, generic = found["custom"], found["generic"]
                both = custom["indexes"] + generic["indexes"]
                used = [i for i in ACCESS_INDEXES if i in both]
                scans = [
                    f"{s['table']} ({kind}, {s['rows_removed']:,} rows filtered out, "
                    f"{s['loops']} loop(s))"
                    for kind, plan in (("custom", custom), ("generic", generic))
                    for s in plan["seq_scans"]
                ]
                lines.append(
                    f"  {who:8} #{number} {custom['execution_ms']:8.2f} / "
                    f"{generic['execution_ms']:8.2f} ms, buffers {custom['shared_hit']:>6} hit "
                    f"{custom['shared_read']:>4} read; access indexes: "
                    f"{', '.join(used) or ('-' if found['confined'] else 'n/a')}; "
                    f"seq scans: {'; '.join(scans) or 'none'}"
                )
                lines.append(f"      {shorten(found['statement'])}")
    return lines


def plan_texts(plans: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    """Every plan in full, for the plans file."""
    parts = []
    for operation, by_caller in plans.items():
        for who, statements in by_caller.items():
            for number, found in enumerate(statements, 1):
                for kind in ("custom", "generic"):
                    parts.append(
                        f"=== {operation} / {who} / statement {number} / {kind} plan\n"
                        f"{found['statement']}\n\n{found[kind]['text']}\n"
                    )
    return "\n".join(parts)
