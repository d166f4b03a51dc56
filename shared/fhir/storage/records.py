"""What the repository hands back: a stored resource version, a history entry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class StoredResource:
    """One version of a resource as stored; `content` is the JSON served to clients."""

    pk: int
    resource_type: str
    id: str
    version_id: int
    last_updated: datetime
    deleted: bool
    content: str | None

    @property
    def etag(self) -> str:
        return f'W/"{self.version_id}"'

    @property
    def versioned_path(self) -> str:
        return f"{self.resource_type}/{self.id}/_history/{self.version_id}"

    def resource(self) -> dict[str, Any]:
        if self.content is None:
            return {}
        loaded: dict[str, Any] = orjson.loads(self.content)
        return loaded

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> StoredResource:
        """From a row whose first columns are those of `STORED_COLUMNS`, in that order."""
        return cls(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    seq: int
    stored: StoredResource
    method: str
