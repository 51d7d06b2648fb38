"""Capture's tables (schema ``capture``): leads with their current view, accepted
submissions, activities and every lead's timeline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.capture.domain.leads import TimelineEntry
from shared.events import LeadProfile


class LeadRepository:
    def __init__(self, conn: asyncpg.Connection, schema: str = "capture") -> None:
        self.conn = conn
        self.s = schema

    async def lock_by_email(self, email_norm: str) -> asyncpg.Record | None:
        return await self.conn.fetchrow(f"SELECT * FROM {self.s}.leads WHERE email_norm = $1 FOR UPDATE", email_norm)

    async def insert_lead(self, lead_id: str, email_norm: str, profile: LeadProfile, consent: bool,
                          source: str, campaign: str | None, at: datetime) -> bool:
        """Insert a new lead; False if the email became known meanwhile (a concurrent capture)."""
        row = await self.conn.fetchrow(
            f"INSERT INTO {self.s}.leads(lead_id, email_norm, profile, consent, first_source, first_campaign, "
            "sources, campaigns, first_captured_at, last_captured_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, ARRAY[$5], "
            "CASE WHEN $6::text IS NULL THEN '{}'::text[] ELSE ARRAY[$6] END, $7, $7) "
            "ON CONFLICT (email_norm) DO NOTHING RETURNING lead_id",
            lead_id, email_norm, profile.model_dump(mode="json"), consent, source, campaign, at)
        return row is not None

    async def record_repeat(self, lead_id: str, profile: LeadProfile, consent: bool, source: str,
                            campaign: str | None, at: datetime) -> None:
        await self.conn.execute(
            f"UPDATE {self.s}.leads SET profile = $2, consent = $3, capture_count = capture_count + 1, "
            "last_captured_at = greatest(last_captured_at, $6), "
            "sources = CASE WHEN $4 = ANY(sources) THEN sources ELSE sources || $4 END, "
            "campaigns = CASE WHEN $5::text IS NULL OR $5 = ANY(campaigns) THEN campaigns ELSE campaigns || $5 END, "
            "updated_at = now() WHERE lead_id = $1",
            lead_id, profile.model_dump(mode="json"), consent, source, campaign, at)

    async def capture_by_key(self, key: str) -> asyncpg.Record | None:
        return await self.conn.fetchrow(f"SELECT * FROM {self.s}.captures WHERE idempotency_key = $1", key)

    async def insert_capture(self, capture_id: str, key: str | None, lead_id: str, source: str,
                             campaign: str | None, occurred_at: datetime) -> None:
        await self.conn.execute(
            f"INSERT INTO {self.s}.captures(capture_id, idempotency_key, lead_id, source, campaign, occurred_at) "
            "VALUES ($1, $2, $3, $4, $5, $6)", capture_id, key, lead_id, source, campaign, occurred_at)

    async def activity_by_key(self, key: str) -> asyncpg.Record | None:
        return await self.conn.fetchrow(f"SELECT * FROM {self.s}.activities WHERE idempotency_key = $1", key)

    async def insert_activity(self, activity_id: str, key: str | None, lead_id: str, behaviour: str,
                              occurred_at: datetime) -> None:
        await self.conn.execute(
            f"INSERT INTO {self.s}.activities(activity_id, idempotency_key, lead_id, behaviour, occurred_at) "
            "VALUES ($1, $2, $3, $4, $5)", activity_id, key, lead_id, behaviour, occurred_at)

    async def get(self, lead_id: str) -> asyncpg.Record | None:
        return await self.conn.fetchrow(f"SELECT * FROM {self.s}.leads WHERE lead_id = $1", lead_id)

    async def exists(self, lead_id: str) -> bool:
        return bool(await self.conn.fetchval(f"SELECT 1 FROM {self.s}.leads WHERE lead_id = $1", lead_id))

    async def find_by_email(self, email_norm: str) -> asyncpg.Record | None:
        return await self.conn.fetchrow(f"SELECT * FROM {self.s}.leads WHERE email_norm = $1", email_norm)

    async def timeline(self, lead_id: str) -> list[asyncpg.Record]:
        return await self.conn.fetch(
            f"SELECT event_id, type, occurred_at, summary FROM {self.s}.timeline WHERE lead_id = $1 "
            "ORDER BY occurred_at, event_id", lead_id)

    async def add_timeline(self, entries: Sequence[tuple[str, str, TimelineEntry, datetime]]) -> None:
        await self.conn.executemany(
            f"INSERT INTO {self.s}.timeline(event_id, lead_id, type, occurred_at, summary) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
            [(event_id, lead_id, e.type, at, e.summary) for event_id, lead_id, e, at in entries])

    async def update_view(self, lead_id: str, changes: dict[str, Any], *, assignment_id: str | None = None,
                          assigned_at: datetime | None = None) -> None:
        """Apply view changes. Follow-up changes apply only to the current assignment,
        and an assignment only if it is not older than the current one (events from
        different topics may arrive out of order)."""
        if not changes:
            return
        cols = list(changes)
        sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(cols))
        args: list[Any] = [lead_id, *changes.values()]
        where = "lead_id = $1"
        if assigned_at is not None:
            args.append(assigned_at)
            sets += f", assigned_at = ${len(args)}"
            where += f" AND (assigned_at IS NULL OR assigned_at <= ${len(args)})"
        elif assignment_id is not None:
            args.append(assignment_id)
            where += f" AND assignment_id = ${len(args)}"
        await self.conn.execute(f"UPDATE {self.s}.leads SET {sets}, updated_at = now() WHERE {where}", *args)

    async def campaign_grades(self) -> list[asyncpg.Record]:
        return await self.conn.fetch(
            f"SELECT coalesce(first_campaign, '(none)') AS campaign, coalesce(grade, '-') AS grade, count(*) AS leads "
            f"FROM {self.s}.leads GROUP BY 1, 2 ORDER BY 1, 2")
