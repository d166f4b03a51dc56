"""Whole reads as sla hears them, at real times (the reports, metrics and dashboard tests):
the order, its study, the read Task with its deadline, the preliminary and final reports --
each version stamped with the time sla records -- recorded through sla's own timeline
code, one event per transaction as the consumers do.

Times are relative to a moment the test chooses (usually now), so that open orders land in
the time-to-deadline bands the test wants. Without contract terms the clock is the read
Task's: ordered -> final against the Task's deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI

from services.sla.tests.builders import diagnostic_report, order, study, task
from services.sla.timeline import record
from shared.fhir.service import format_instant
from shared.orders import DICOM_MODALITY_SYSTEM


def _stamped(resource: dict[str, Any], moment: datetime) -> dict[str, Any]:
    resource["meta"]["lastUpdated"] = format_instant(moment)
    return resource


@dataclass(frozen=True)
class Read:
    """One order's read: ordered at `ordered`, due `budget` minutes later, reported `took`
    minutes after the order (None: still running)."""

    order_id: str
    ordered: datetime
    budget: float
    took: float | None = None
    facility: str = "Organization/general-hospital"
    priority: str = "stat"
    modality: str = "CT"
    radiologist: str = "Practitioner/dr-grey"

    def resources(self) -> list[dict[str, Any]]:
        """The resource versions sla hears of for this read, in order."""
        minute = timedelta(minutes=1)
        placed = order(self.order_id, priority=self.priority)
        placed["requester"] = {"reference": self.facility}
        placed["code"] = {"coding": [{"system": DICOM_MODALITY_SYSTEM, "code": self.modality}]}
        deadline = self.ordered + self.budget * minute
        assigned = task(self.order_id, minutes=0, status="accepted")
        assigned["priority"] = self.priority
        assigned["restriction"]["period"]["end"] = format_instant(deadline)
        found = [
            _stamped(placed, self.ordered),
            _stamped(study(self.order_id, minutes=0), self.ordered + minute),
            _stamped(assigned, self.ordered + 2 * minute),
        ]
        if self.took is not None:
            report = diagnostic_report(self.order_id, minutes=0)
            report["resultsInterpreter"] = [{"reference": self.radiologist}]
            found.append(_stamped(report, self.ordered + self.took * minute))
        return found


async def recorded(app: FastAPI, *reads: Read) -> None:
    """Record every version of `reads` as sla's consumers do, one transaction each."""
    for read in reads:
        for resource in read.resources():
            async with app.state.database.transaction() as session:
                await record(session, resource)
