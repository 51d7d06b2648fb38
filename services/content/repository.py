"""Content's tables (schema ``content``): the collateral items, and each graded lead's
segment as learned from ``lead-scored``.

:class:`CollateralStore` states what content's handlers and routes need of them;
:class:`ContentRepository` is the PostgreSQL one and ``tests/fakes.py`` the in-memory twin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from services.content.domain.collateral import Item

if TYPE_CHECKING:
    from asyncpg import Connection

Row = Mapping[str, Any]


def to_item(row: Row) -> Item:
    return Item(row["item_id"], row["title"], row["kind"], tuple(row["segments"]), tuple(row["stages"]),
                row["status"], row["updated_at"])


class CollateralStore(Protocol):
    """The collateral library and the leads' segments."""

    async def create(self, conn: Any, item_id: str, title: str, kind: str, url: str, summary: str,
                     segments: Sequence[str], stages: Sequence[str], owner: str) -> Row:
        """Store a new item as a draft; returns the stored row (with its timestamps)."""

    async def get(self, conn: Any, item_id: str) -> Row | None:
        """One item, or None."""

    async def list_items(self, conn: Any, status: str | None, segment: str | None,
                         stage: str | None) -> Sequence[Row]:
        """Items with that status, tagged for that segment and stage (an untagged item
        matches every segment or stage), most recently changed first."""

    async def remember_segment(self, conn: Any, lead_id: str, segment: str, grade: str, at: datetime) -> None:
        """Keep a lead's segment and grade as of ``at``; an older grading never
        overwrites a newer one (topics' partitions may deliver out of order)."""

    async def segment_of(self, conn: Any, lead_id: str) -> str | None:
        """The lead's latest segment, or None if content has not seen it graded."""


class ContentRepository:
    """Collateral in PostgreSQL: ``ContentRepository(schema).method(conn, ...)``."""

    def __init__(self, schema: str = "content") -> None:
        self.s = schema

    async def create(self, conn: Connection, item_id: str, title: str, kind: str, url: str, summary: str,
                     segments: Sequence[str], stages: Sequence[str], owner: str) -> Row:
        row: Row | None = await conn.fetchrow(
            f"INSERT INTO {self.s}.items(item_id, title, kind, url, summary, segments, stages, owner) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
            item_id, title, kind, url, summary, list(segments), list(stages), owner)
        assert row is not None
        return row

    async def get(self, conn: Connection, item_id: str) -> Row | None:
        row: Row | None = await conn.fetchrow(f"SELECT * FROM {self.s}.items WHERE item_id = $1", item_id)
        return row

    async def list_items(self, conn: Connection, status: str | None, segment: str | None,
                         stage: str | None) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT * FROM {self.s}.items WHERE ($1::text IS NULL OR status = $1) "
            "AND ($2::text IS NULL OR $2 = ANY(segments) OR segments = '{}') "
            "AND ($3::text IS NULL OR $3 = ANY(stages) OR stages = '{}') ORDER BY updated_at DESC",
            status, segment, stage)
        return rows

    async def remember_segment(self, conn: Connection, lead_id: str, segment: str, grade: str,
                               at: datetime) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.lead_segments(lead_id, segment, grade, updated_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (lead_id) DO UPDATE SET segment = $2, grade = $3, updated_at = $4 "
            "WHERE lead_segments.updated_at <= $4", lead_id, segment, grade, at)

    async def segment_of(self, conn: Connection, lead_id: str) -> str | None:
        value = await conn.fetchval(f"SELECT segment FROM {self.s}.lead_segments WHERE lead_id = $1", lead_id)
        return str(value) if value is not None else None
