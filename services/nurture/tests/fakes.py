"""In-memory twin of :class:`services.nurture.repository.PoolRepository` for the
handlers' unit tests: same answers, no database (``conn`` is ignored)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.nurture.repository import Row


class InMemoryPool:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    async def enter(self, conn: Any, lead_id: str, track: str, reason: str, grade: str, segment: str | None,
                    campaign: str | None, at: datetime, rep_id: str | None) -> None:
        note = {"at": at.isoformat(), "status": "nurturing", "track": track, "reason": reason}
        row = self.rows.get(lead_id)
        if row is None:
            self.rows[lead_id] = {"lead_id": lead_id, "status": "nurturing", "track": track, "reason": reason,
                                  "grade": grade, "score": None, "segment": segment, "campaign": campaign,
                                  "entered_at": at, "updated_at": at, "times_entered": 1, "last_rep_id": rep_id,
                                  "history": [note]}
            return
        row["times_entered"] += 0 if row["status"] == "nurturing" else 1
        row.update(status="nurturing", track=track, reason=reason, grade=grade, entered_at=at, updated_at=at,
                   segment=segment if segment is not None else row["segment"],
                   last_rep_id=rep_id if rep_id is not None else row["last_rep_id"])
        row["history"].append(note)

    async def set_status(self, conn: Any, lead_id: str, status: str, at: datetime, **fields: Any) -> bool:
        row = self.rows.get(lead_id)
        if row is None:
            return False
        row["history"].append({"at": at.isoformat(), "status": status,
                               **{k: v for k, v in fields.items() if k != "score"}})
        row.update(status=status, updated_at=at, **fields)
        return True

    async def update_grade(self, conn: Any, lead_id: str, grade: str, score: float, segment: str) -> None:
        if lead_id in self.rows:
            self.rows[lead_id].update(grade=grade, score=score, segment=segment)

    async def get(self, conn: Any, lead_id: str) -> Row | None:
        return self.rows.get(lead_id)

    async def list_pool(self, conn: Any, status: str | None, track: str | None, limit: int,
                        offset: int) -> Sequence[Row]:
        rows = [r for r in self.rows.values()
                if (status is None or r["status"] == status) and (track is None or r["track"] == track)]
        rows.sort(key=lambda r: r["updated_at"], reverse=True)
        return rows[offset:offset + limit]

    async def counts(self, conn: Any) -> Sequence[Row]:
        counted = Counter((r["status"], r["track"]) for r in self.rows.values())
        return [{"status": s, "track": t, "leads": n} for (s, t), n in sorted(counted.items())]
