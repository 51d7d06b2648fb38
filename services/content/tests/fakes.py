"""In-memory twin of :class:`services.content.repository.ContentRepository` for the
handlers' unit tests: same answers, no database (``conn`` is ignored)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from services.content.repository import Row


class InMemoryCollateral:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.items: dict[str, dict[str, Any]] = {}
        self.segments: dict[str, tuple[str, str, datetime]] = {}  # lead id -> (segment, grade, as of)

    async def create(self, conn: Any, item_id: str, title: str, kind: str, url: str, summary: str,
                     segments: Sequence[str], stages: Sequence[str], owner: str) -> Row:
        now = self.clock()
        row = {"item_id": item_id, "title": title, "kind": kind, "url": url, "summary": summary,
               "segments": list(segments), "stages": list(stages), "status": "draft", "owner": owner,
               "created_at": now, "updated_at": now}
        self.items[item_id] = row
        return dict(row)

    async def get(self, conn: Any, item_id: str) -> Row | None:
        return self.items.get(item_id)

    async def list_items(self, conn: Any, status: str | None, segment: str | None,
                         stage: str | None) -> Sequence[Row]:
        rows = [r for r in self.items.values()
                if (status is None or r["status"] == status)
                and (segment is None or segment in r["segments"] or not r["segments"])
                and (stage is None or stage in r["stages"] or not r["stages"])]
        return sorted(rows, key=lambda r: r["updated_at"], reverse=True)

    async def remember_segment(self, conn: Any, lead_id: str, segment: str, grade: str, at: datetime) -> None:
        known = self.segments.get(lead_id)
        if known is None or known[2] <= at:
            self.segments[lead_id] = (segment, grade, at)

    async def segment_of(self, conn: Any, lead_id: str) -> str | None:
        known = self.segments.get(lead_id)
        return known[0] if known else None
