"""Nurture's table (schema ``nurture``): the pool.

:class:`PoolStore` states what nurture's handlers and routes need of it;
:class:`PoolRepository` is the PostgreSQL one and ``tests/fakes.py`` the in-memory twin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from asyncpg import Connection

Row = Mapping[str, Any]


class PoolStore(Protocol):
    """Marketing's nurture pool, one entry per lead that was ever in it."""

    async def enter(self, conn: Any, lead_id: str, track: str, reason: str, grade: str, segment: str | None,
                    campaign: str | None, at: datetime, rep_id: str | None) -> None:
        """Put a lead in the pool (again): status ``nurturing`` on ``track``, noted in its
        history; ``times_entered`` counts only re-entries after it had left."""

    async def set_status(self, conn: Any, lead_id: str, status: str, at: datetime, **fields: Any) -> bool:
        """Move a pooled lead to ``status`` (setting ``fields``, e.g. ``grade``,
        ``last_rep_id``), noted in its history. False if the lead is not pooled."""

    async def update_grade(self, conn: Any, lead_id: str, grade: str, score: float, segment: str) -> None:
        """Keep a pooled lead's latest grading."""

    async def get(self, conn: Any, lead_id: str) -> Row | None:
        """The lead's pool entry, or None if it was never in nurture."""

    async def list_pool(self, conn: Any, status: str | None, track: str | None, limit: int,
                        offset: int) -> Sequence[Row]:
        """Pool entries, most recently changed first."""

    async def counts(self, conn: Any) -> Sequence[Row]:
        """How many leads per (status, track)."""


class PoolRepository:
    """The pool in PostgreSQL: ``PoolRepository(schema).method(conn, ...)``."""

    def __init__(self, schema: str = "nurture") -> None:
        self.s = schema

    async def enter(self, conn: Connection, lead_id: str, track: str, reason: str, grade: str, segment: str | None,
                    campaign: str | None, at: datetime, rep_id: str | None) -> None:
        note = [{"at": at.isoformat(), "status": "nurturing", "track": track, "reason": reason}]
        await conn.execute(
            f"INSERT INTO {self.s}.pool(lead_id, status, track, reason, grade, segment, campaign, entered_at, "
            "updated_at, last_rep_id, history) VALUES ($1, 'nurturing', $2, $3, $4, $5, $6, $7, $7, $8, $9) "
            "ON CONFLICT (lead_id) DO UPDATE SET status = 'nurturing', track = $2, reason = $3, grade = $4, "
            "segment = coalesce($5, pool.segment), entered_at = $7, updated_at = $7, "
            "last_rep_id = coalesce($8, pool.last_rep_id), "
            "times_entered = pool.times_entered + CASE WHEN pool.status = 'nurturing' THEN 0 ELSE 1 END, "
            "history = pool.history || $9",
            lead_id, track, reason, grade, segment, campaign, at, rep_id, note)

    async def set_status(self, conn: Connection, lead_id: str, status: str, at: datetime, **fields: Any) -> bool:
        note = [{"at": at.isoformat(), "status": status, **{k: v for k, v in fields.items() if k != "score"}}]
        args: list[Any] = [lead_id, status, at, note]
        sets = ""
        for key, value in fields.items():
            args.append(value)
            sets += f", {key} = ${len(args)}"
        result = await conn.execute(
            f"UPDATE {self.s}.pool SET status = $2, updated_at = $3, history = history || $4{sets} "
            "WHERE lead_id = $1", *args)
        return bool(result.endswith(" 1"))

    async def update_grade(self, conn: Connection, lead_id: str, grade: str, score: float, segment: str) -> None:
        await conn.execute(f"UPDATE {self.s}.pool SET grade = $2, score = $3, segment = $4 WHERE lead_id = $1",
                           lead_id, grade, score, segment)

    async def get(self, conn: Connection, lead_id: str) -> Row | None:
        row: Row | None = await conn.fetchrow(f"SELECT * FROM {self.s}.pool WHERE lead_id = $1", lead_id)
        return row

    async def list_pool(self, conn: Connection, status: str | None, track: str | None, limit: int,
                        offset: int) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT * FROM {self.s}.pool WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR track = $2) "
            "ORDER BY updated_at DESC LIMIT $3 OFFSET $4", status, track, limit, offset)
        return rows

    async def counts(self, conn: Connection) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT status, track, count(*) AS leads FROM {self.s}.pool GROUP BY 1, 2 ORDER BY 1, 2")
        return rows
