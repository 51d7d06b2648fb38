"""Nurture's table (schema ``nurture``): the pool."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg


class PoolRepository:
    def __init__(self, conn: asyncpg.Connection, schema: str = "nurture") -> None:
        self.conn = conn
        self.s = schema

    async def enter(self, lead_id: str, track: str, reason: str, grade: str, segment: str | None,
                    campaign: str | None, at: datetime, rep_id: str | None) -> None:
        note = [{"at": at.isoformat(), "status": "nurturing", "track": track, "reason": reason}]
        await self.conn.execute(
            f"INSERT INTO {self.s}.pool(lead_id, status, track, reason, grade, segment, campaign, entered_at, "
            "updated_at, last_rep_id, history) VALUES ($1, 'nurturing', $2, $3, $4, $5, $6, $7, $7, $8, $9) "
            "ON CONFLICT (lead_id) DO UPDATE SET status = 'nurturing', track = $2, reason = $3, grade = $4, "
            "segment = coalesce($5, pool.segment), entered_at = $7, updated_at = $7, "
            "last_rep_id = coalesce($8, pool.last_rep_id), "
            "times_entered = pool.times_entered + CASE WHEN pool.status = 'nurturing' THEN 0 ELSE 1 END, "
            "history = pool.history || $9",
            lead_id, track, reason, grade, segment, campaign, at, rep_id, note)

    async def set_status(self, lead_id: str, status: str, at: datetime, **fields: Any) -> bool:
        """Move a pooled lead to ``status``, noting it in its history. False if not pooled."""
        note = [{"at": at.isoformat(), "status": status, **{k: v for k, v in fields.items() if k != "score"}}]
        args: list[Any] = [lead_id, status, at, note]
        sets = ""
        for key, value in fields.items():
            args.append(value)
            sets += f", {key} = ${len(args)}"
        result = await self.conn.execute(
            f"UPDATE {self.s}.pool SET status = $2, updated_at = $3, history = history || $4{sets} "
            "WHERE lead_id = $1", *args)
        return bool(result.endswith(" 1"))

    async def update_grade(self, lead_id: str, grade: str, score: float, segment: str) -> None:
        await self.conn.execute(f"UPDATE {self.s}.pool SET grade = $2, score = $3, segment = $4 WHERE lead_id = $1",
                                lead_id, grade, score, segment)

    async def get(self, lead_id: str) -> asyncpg.Record | None:
        return await self.conn.fetchrow(f"SELECT * FROM {self.s}.pool WHERE lead_id = $1", lead_id)

    async def list_pool(self, status: str | None, track: str | None, limit: int, offset: int) -> list[asyncpg.Record]:
        return await self.conn.fetch(
            f"SELECT * FROM {self.s}.pool WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR track = $2) "
            "ORDER BY updated_at DESC LIMIT $3 OFFSET $4", status, track, limit, offset)

    async def counts(self) -> list[asyncpg.Record]:
        return await self.conn.fetch(f"SELECT status, track, count(*) AS leads FROM {self.s}.pool GROUP BY 1, 2 "
                                     "ORDER BY 1, 2")
