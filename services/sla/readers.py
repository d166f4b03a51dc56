"""Who read an order: the radiologist (a Practitioner) behind the read.

Once the final report is signed, its signer: the report's `resultsInterpreter` Practitioner,
or the practitioner behind the PractitionerRole it names. Before that, the practitioner
behind the read Task's owning role (from the newest Task version), so open reads have a
reader too. The roster lives in assignment; roles are asked for in the consumption's
`gather`, before the event's transaction opens.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.details import interpreter, is_newest_task_version, is_read_task, relative_of
from services.sla.tables import order_clock, order_milestone
from shared.events.received import ReceivedEvent
from shared.fhir.references import referenced_id
from shared.peers import Peers


async def _practitioner_of(peers: Peers, role: str | None) -> str | None:
    found = await peers.read("assignment", role) if role else None
    return relative_of((found or {}).get("practitioner"), "Practitioner")


async def report_signer(event: ReceivedEvent, peers: Peers) -> dict[str, Any]:
    """The Practitioner behind the PractitionerRole that signed a final report, when the
    report names only the role."""
    report = event.resource or {}
    if report.get("status") != "final" or interpreter(report, "Practitioner"):
        return {}
    role = interpreter(report, "PractitionerRole")
    return {"signer": await _practitioner_of(peers, role)}


async def owner_practitioner(event: ReceivedEvent, peers: Peers) -> dict[str, Any]:
    """The Practitioner behind the read Task's owning PractitionerRole (none for a vendor)."""
    task = event.resource or {}
    if not is_read_task(task):
        return {}
    role = relative_of(task.get("owner"), "PractitionerRole")
    return {"owner_practitioner": await _practitioner_of(peers, role)}


async def record_signer(session: AsyncSession, orders: set[str], practitioner: str) -> None:
    """The final report's signer is the order's radiologist (over the owner's)."""
    for order_id in orders:
        await session.execute(
            update(order_clock)
            .where(order_clock.c.order_id == order_id)
            .values(radiologist=practitioner)
        )


async def record_owner(
    session: AsyncSession, task: dict[str, Any], practitioner: str | None
) -> None:
    """Until a final report is signed, the owner's practitioner is the order's radiologist
    (from the newest read Task version)."""
    order_id = referenced_id(task.get("focus"), "ServiceRequest")
    if order_id is None or not await is_newest_task_version(session, task):
        return
    final = exists().where(
        and_(order_milestone.c.order_id == order_id, order_milestone.c.milestone == "final")
    )
    await session.execute(
        update(order_clock)
        .where(order_clock.c.order_id == order_id, ~final)
        .values(radiologist=practitioner)
    )
