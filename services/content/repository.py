"""Content's tables (schema ``content``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.content.domain.collateral import Item


def to_item(row: asyncpg.Record) -> Item:
    return Item(row["item_id"], row["title"], row["kind"], tuple(row["segments"]), tuple(row["stages"]),
                row["status"], row["updated_at"])


class ContentRepository:
    def __init__(self, conn: asyncpg.Connection, schema: str = "content") -> None:
        self.conn = conn
        self.s = schema

    async def create(self, item_id: str, title: str, kind: str, url: str, summary: str,
                     segments: Sequence[str], stages: Sequence[str], owner: str) -> asyncpg.Record:
        row = await self.conn.fetchrow(
            f"INSERT INTO {self.s}.items(item_id, title, kind, url, summary, segments, stages, owner) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
            item_id, title, kind, url, summary, list(segments), list(stages), owner)
        assert row is not None
        return row

    async def get(self, item_id: str) -> asyncpg.Record | None:
        return await self.conn.fetchrow(f"SELECT * FROM {self.s}.items WHERE item_id = $1", item_id)

    async def list_items(self, status: str | None, segment: str | None, stage: str | None) -> list[asyncpg.Record]:
        return await self.conn.fetch(
            f"SELECT * FROM {self.s}.items WHERE ($1::text IS NULL OR status = $1) "
            "AND ($2::text IS NULL OR $2 = ANY(segments) OR segments = '{}') "
            "AND ($3::text IS NULL OR $3 = ANY(stages) OR stages = '{}') ORDER BY updated_at DESC",
            status, segment, stage)

    async def remember_segment(self, lead_id: str, segment: str, grade: str, at: datetime) -> None:
        await self.conn.execute(
            f"INSERT INTO {self.s}.lead_segments(lead_id, segment, grade, updated_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (lead_id) DO UPDATE SET segment = $2, grade = $3, updated_at = $4 "
            "WHERE lead_segments.updated_at <= $4", lead_id, segment, grade, at)

    async def segment_of(self, lead_id: str) -> str | None:
        value = await self.conn.fetchval(f"SELECT segment FROM {self.s}.lead_segments WHERE lead_id = $1", lead_id)
        return str(value) if value is not None else None
