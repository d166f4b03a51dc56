"""What sla keeps of each order beside its milestones (table order_clock), and the read
Task's status versions (table task_status), from the resource versions it hears of.

Each fact has a rule for a second report of it, so that redelivered, replayed or late events
settle on the same row:
- FIRST: the first value heard stays (the ordering facility, the read Task, the radiologist
  of the first final report);
- LATEST: a later non-empty value replaces it (the order's priority and stroke flag, the
  study's modality over the order's);
- TASK: the value of the newest read Task version by lastUpdated (owner, deadline,
  contract); an older version heard late changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.tables import order_clock, task_status
from shared.fhir.references import referenced_id
from shared.orders import (
    DICOM_MODALITY_SYSTEM,
    READ_CONTRACT_EXTENSION,
    codes_of,
    is_stroke,
    ordering_facility,
)

FIRST, LATEST, TASK = "first", "latest", "task"
TASK_CODE_SYSTEM = "http://hl7.org/fhir/CodeSystem/task-code"
Facts = dict[str, tuple[Any, str]]  # column -> (value, rule)


def insert_for(session: AsyncSession) -> Any:
    """The dialect's INSERT (with ON CONFLICT) for the session's database."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def is_read_task(resource: dict[str, Any]) -> bool:
    """A Task is the read of an order when its code is `fulfill` (task-code); other Tasks
    (e.g. critical-result follow-ups) mark nothing on the timeline."""
    return resource.get("resourceType") == "Task" and "fulfill" in codes_of(
        resource.get("code"), TASK_CODE_SYSTEM
    )


def last_updated(resource: dict[str, Any]) -> datetime | None:
    text = (resource.get("meta") or {}).get("lastUpdated")
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _relative(reference: dict[str, Any] | None, kind: str) -> str | None:
    found = referenced_id(reference, kind)
    return f"{kind}/{found}" if found else None


def _modality_of_study(study: dict[str, Any]) -> str | None:
    codings = [
        *(study.get("modality") or []),
        *(s.get("modality") for s in study.get("series") or []),
    ]
    return next(
        (
            c["code"]
            for c in codings
            if isinstance(c, dict)
            and c.get("code")
            and c.get("system", DICOM_MODALITY_SYSTEM) == DICOM_MODALITY_SYSTEM
        ),
        None,
    )


def read_contract(task: dict[str, Any]) -> str | None:
    """The "OrganizationAffiliation/<id>" a read Task says it runs under."""
    for extension in task.get("extension") or []:
        if extension.get("url") == READ_CONTRACT_EXTENSION:
            return _relative(extension.get("valueReference"), "OrganizationAffiliation")
    return None


def _order_facts(order: dict[str, Any]) -> Facts:
    modality = next(iter(codes_of(order.get("code"), DICOM_MODALITY_SYSTEM)), None)
    return {
        "priority": (order.get("priority") or "routine", LATEST),
        "stroke": (is_stroke(order), LATEST),
        "facility": (_relative(ordering_facility(order), "Organization"), FIRST),
        "modality": (modality, FIRST),
    }


def _task_facts(task: dict[str, Any]) -> Facts:
    owner = (task.get("owner") or {}).get("reference")
    end = ((task.get("restriction") or {}).get("period") or {}).get("end")
    return {
        "task": (f"Task/{task['id']}", FIRST),
        "facility": (_relative(task.get("requester"), "Organization"), FIRST),
        "priority": (task.get("priority"), FIRST),
        "owner": (owner, TASK),
        "deadline": (_instant(end), TASK),
        "contract": (read_contract(task), TASK),
        "task_updated_at": (last_updated(task), TASK),
    }


def _report_facts(report: dict[str, Any]) -> Facts:
    if report.get("status") != "final":
        return {}
    signer = next(
        (
            _relative(e, "Practitioner")
            for e in report.get("resultsInterpreter") or []
            if _relative(e, "Practitioner")
        ),
        None,
    )
    return {"radiologist": (signer, FIRST)}


def facts_by_order(resource: dict[str, Any]) -> dict[str, Facts]:
    """Order id -> the facts this resource version gives of it."""
    kind = resource.get("resourceType")
    if kind == "ServiceRequest":
        return {resource["id"]: _order_facts(resource)}
    if kind == "ImagingStudy":
        facts: Facts = {"modality": (_modality_of_study(resource), LATEST)}
        return {o: facts for o in orders_of(resource.get("basedOn"))}
    if is_read_task(resource):
        order = referenced_id(resource.get("focus"), "ServiceRequest")
        return {order: _task_facts(resource)} if order else {}
    if kind == "DiagnosticReport":
        report = _report_facts(resource)
        return {o: report for o in orders_of(resource.get("basedOn"))}
    return {}


def orders_of(elements: Any) -> list[str]:
    """The ids of the ServiceRequests among `elements` (references)."""
    found = (referenced_id(e, "ServiceRequest") for e in elements or [])
    return [order for order in found if order]


def _merged(column: str, rule: str, excluded: Any) -> Any:
    current, new = order_clock.c[column], excluded[column]
    if rule == FIRST:
        return func.coalesce(current, new)
    if rule == LATEST:
        return func.coalesce(new, current)
    newer = or_(
        order_clock.c.task_updated_at.is_(None),
        excluded.task_updated_at >= order_clock.c.task_updated_at,
    )
    return case((newer, new), else_=current)


async def record_details(
    session: AsyncSession, resource: dict[str, Any], moment: datetime, orders: set[str]
) -> None:
    """Keep what `resource` says of its orders (and a row for every order in `orders`, the
    ones it marked milestones of); a read Task's version goes to task_status as well."""
    by_order = facts_by_order(resource)
    insert = insert_for(session)
    for order_id in orders | set(by_order):
        facts = by_order.get(order_id, {})
        statement = insert(order_clock).values(
            order_id=order_id, updated_at=moment, **{c: v for c, (v, _) in facts.items()}
        )
        merged = {c: _merged(c, rule, statement.excluded) for c, (_, rule) in facts.items()}
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[order_clock.c.order_id], set_={**merged, "updated_at": moment}
            )
        )
    if is_read_task(resource) and by_order:
        await _record_task_version(session, resource, next(iter(by_order)), moment)


async def _record_task_version(
    session: AsyncSession, task: dict[str, Any], order_id: str, moment: datetime
) -> None:
    version = (task.get("meta") or {}).get("versionId", "1")
    statement = insert_for(session)(task_status).values(
        order_id=order_id,
        source=f"Task/{task['id']}/_history/{version}",
        status=str(task.get("status")),
        at=last_updated(task) or moment,
    )
    await session.execute(statement.on_conflict_do_nothing())
