"""An order's clock as the breach predictor sees it (the shape of services.sla.facts.
OrderFacts, made by hand so a test controls every fact), and a fake assignment answering
`$reroute` at the peer level."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.sla.tests.builders import T0
from shared.peers import PeerUnavailable


@dataclass(frozen=True)
class Facts:
    """A read's clock started at T0 with `target` minutes (plus `paused`)."""

    order_id: str = "order-1"
    modality: str | None = "CT"
    priority: str = "stat"
    stroke: bool = False
    clock: str = "ordered-to-final"
    stopped_at: datetime | None = None
    target: float = 60.0
    paused: float = 0.0
    on_hold: bool = False
    milestones: Mapping[str, datetime] = field(default_factory=dict)
    task: str | None = "Task/read-1"

    @property
    def deadline(self) -> datetime:
        return T0 + timedelta(minutes=self.target + self.paused)

    def budget_share(self, now: datetime) -> float:
        return ((now - T0).total_seconds() / 60 - self.paused) / self.target


class FakeAssignment:
    """Answers `POST Task/{id}/$reroute` with `rerouted` (or fails while `down`)."""

    def __init__(self, *, rerouted: bool = True, down: bool = False, delay: float = 0.0) -> None:
        self.rerouted = rerouted
        self.down = down
        self.delay = delay
        self.asked: list[tuple[str, dict[str, Any]]] = []

    async def post(self, service: str, path: str, resource: dict[str, Any]) -> dict[str, Any]:
        assert service == "assignment"
        self.asked.append((path, resource))
        await asyncio.sleep(self.delay)
        if self.down:
            raise PeerUnavailable(f"{path}: HTTP 503")
        return {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "rerouted", "valueBoolean": self.rerouted},
                {"name": "reason", "valueString": "test"},
            ],
        }
