"""The terms of the contract an order's read runs under: gathered from assignment (which
keeps the contracts) before the event's transaction opens, kept per order (table
order_term) as they stood when the newest read Task version was heard: a late older version
changes nothing, and a contract edited later never re-judges a finished read.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.details import is_newest_task_version, is_read_task, read_contract
from services.sla.tables import order_term
from shared.events.received import ReceivedEvent
from shared.fhir.references import referenced_id
from shared.peers import Peers
from shared.sla_terms import sla_terms


async def task_contract(event: ReceivedEvent, peers: Peers) -> dict[str, Any]:
    """The contract (OrganizationAffiliation) a read Task event names, asked of assignment."""
    task = event.resource or {}
    contract = read_contract(task) if is_read_task(task) else None
    return {"contract": await peers.read("assignment", contract) if contract else None}


async def record_terms(
    session: AsyncSession, task: dict[str, Any], contract: dict[str, Any] | None
) -> None:
    """Keep the terms of `contract` for the read's order when `task` is the newest read
    Task version heard (none: the read runs under no known contract)."""
    order_id = referenced_id(task.get("focus"), "ServiceRequest")
    if not is_read_task(task) or order_id is None:
        return
    if not await is_newest_task_version(session, task):
        return  # an older version, heard late
    await session.execute(delete(order_term).where(order_term.c.order_id == order_id))
    named = read_contract(task) is not None
    terms = sla_terms(contract) if contract is not None and named else {}
    for priority, term in terms.items():
        await session.execute(
            order_term.insert().values(
                order_id=order_id,
                priority=priority,
                target_minutes=term.target.total_seconds() / 60,
                clock=term.clock,
            )
        )
