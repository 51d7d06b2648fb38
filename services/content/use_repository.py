"""Content's tables for collateral in use (schema ``content``, migration ``003_use.sql``):
deals folded from ``deal-outcome-recorded``, reps' ratings, measured effectiveness per
item and segment, and the one-message check's value propositions and answers. Usage
rows (shared, viewed, used in a meeting) live in the library's ``usage`` table (written by
:meth:`CollateralStore.add_usage`; read here).

:class:`UseStore` states what the handlers need; :class:`UseRepository` is the
PostgreSQL one and ``tests/fakes.py`` has the in-memory twin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from services.content.domain.effectiveness import Deal, Share
from services.content.domain.lifecycle import FINAL
from services.content.domain.upkeep import Rating

if TYPE_CHECKING:
    from asyncpg import Connection

Row = Mapping[str, Any]

_DEAL_FIELDS = ("opportunity_id", "lead_id", "stage", "stage_at", "opened_on", "outcome", "closed_on", "closed_at",
                "amount_minor", "currency")


def _deal(row: Row) -> Deal:
    return Deal(**{f: row[f] for f in _DEAL_FIELDS}, segment=row.get("segment"))


class UseStore(Protocol):
    """Deals, ratings, effectiveness and the one-message check's texts."""

    async def deal(self, conn: Any, opportunity_id: str) -> Deal | None:
        """One deal as folded so far, or None."""

    async def save_deal(self, conn: Any, deal: Deal, at: datetime) -> None:
        """Store the deal (insert or replace)."""

    async def deals(self, conn: Any) -> Sequence[Deal]:
        """Every deal, each with its lead's latest segment (None if never graded)."""

    async def shares(self, conn: Any) -> Sequence[Share]:
        """Every share of an item with a lead ('shared' usage rows naming a lead)."""

    async def last_used(self, conn: Any) -> dict[str, datetime]:
        """Each used item's latest use of any kind."""

    async def live_items(self, conn: Any, segment: str | None = None) -> Sequence[Row]:
        """Items reps get (a published version, neither retired nor withdrawn), for that
        segment if given (tagged for it, or untagged), by id."""

    async def add_rating(self, conn: Any, rating_id: str, item_id: str, rep_id: str, rating: int, comment: str,
                         at: datetime) -> None:
        """Store a rep's rating of an item."""

    async def ratings(self, conn: Any) -> Sequence[Rating]:
        """Every rating, oldest first."""

    async def replace_effectiveness(self, conn: Any, scores: Sequence[tuple[str, str, float, int, int]],
                                    overall: Mapping[str, float], at: datetime) -> None:
        """Replace the measured effectiveness with ``(item_id, segment, score, shared_deals,
        comparable_deals)`` rows, and set each item's overall score (the library's
        ``effectiveness`` column; 0 for an item not in ``overall``)."""

    async def effectiveness_scores(self, conn: Any, segment: str) -> dict[str, float]:
        """Each measured item's score for the segment."""

    async def segment_known(self, conn: Any, segment: str) -> bool:
        """Whether content has seen a lead graded into ``segment``."""

    async def publish_message(self, conn: Any, segment: str, text: str, author: str, at: datetime) -> Row:
        """Store the segment's value proposition as its next version; returns it."""

    async def messages(self, conn: Any, segment: str) -> Sequence[Row]:
        """The segment's value propositions, newest version first."""

    async def latest_messages(self, conn: Any) -> Sequence[Row]:
        """Each segment's latest value proposition, by segment."""

    async def add_answer(self, conn: Any, answer_id: str, segment: str, rep_id: str, team: str, text: str,
                         message_version: int | None, at: datetime) -> Row:
        """Store a rep's answer for a segment; returns it."""

    async def latest_answers(self, conn: Any, segment: str) -> Sequence[Row]:
        """Each rep's latest answer for the segment, by rep."""


class UseRepository:
    """Collateral in use in PostgreSQL: ``UseRepository(schema).method(conn, ...)``."""

    def __init__(self, schema: str = "content") -> None:
        self.s = schema

    async def deal(self, conn: Connection, opportunity_id: str) -> Deal | None:
        row = await conn.fetchrow(f"SELECT * FROM {self.s}.deals WHERE opportunity_id = $1", opportunity_id)
        return _deal(row) if row is not None else None

    async def save_deal(self, conn: Connection, deal: Deal, at: datetime) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.deals({', '.join(_DEAL_FIELDS)}, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (opportunity_id) DO UPDATE SET "
            "lead_id = $2, stage = $3, stage_at = $4, opened_on = $5, outcome = $6, closed_on = $7, closed_at = $8, "
            "amount_minor = $9, currency = $10, updated_at = $11",
            *(getattr(deal, f) for f in _DEAL_FIELDS), at)

    async def deals(self, conn: Connection) -> Sequence[Deal]:
        rows = await conn.fetch(f"SELECT d.*, s.segment FROM {self.s}.deals d "
                                f"LEFT JOIN {self.s}.lead_segments s USING (lead_id) ORDER BY d.opportunity_id")
        return [_deal(r) for r in rows]

    async def shares(self, conn: Connection) -> Sequence[Share]:
        rows = await conn.fetch(f"SELECT item_id, lead_id, at FROM {self.s}.usage "
                                "WHERE kind = 'shared' AND lead_id IS NOT NULL")
        return [Share(r["item_id"], r["lead_id"], r["at"]) for r in rows]

    async def last_used(self, conn: Connection) -> dict[str, datetime]:
        rows = await conn.fetch(f"SELECT item_id, max(at) AS at FROM {self.s}.usage GROUP BY item_id")
        return {r["item_id"]: r["at"] for r in rows}

    async def live_items(self, conn: Connection, segment: str | None = None) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT * FROM {self.s}.items WHERE published_version IS NOT NULL AND NOT status = ANY($2::text[]) "
            "AND ($1::text IS NULL OR $1 = ANY(segments) OR segments = '{}') ORDER BY item_id",
            segment, sorted(FINAL))
        return rows

    async def add_rating(self, conn: Connection, rating_id: str, item_id: str, rep_id: str, rating: int,
                         comment: str, at: datetime) -> None:
        await conn.execute(f"INSERT INTO {self.s}.ratings(rating_id, item_id, rep_id, rating, comment, at) "
                           "VALUES ($1, $2, $3, $4, $5, $6)", rating_id, item_id, rep_id, rating, comment, at)

    async def ratings(self, conn: Connection) -> Sequence[Rating]:
        rows = await conn.fetch(f"SELECT * FROM {self.s}.ratings ORDER BY at, rating_id")
        return [Rating(r["item_id"], r["rep_id"], r["rating"], r["comment"], r["at"]) for r in rows]

    async def replace_effectiveness(self, conn: Connection, scores: Sequence[tuple[str, str, float, int, int]],
                                    overall: Mapping[str, float], at: datetime) -> None:
        # two replicas' jobs take turns: the second replaces the first's figures
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{self.s}.item_effectiveness")
        await conn.execute(f"UPDATE {self.s}.items SET effectiveness = 0 WHERE effectiveness <> 0")
        await conn.executemany(f"UPDATE {self.s}.items SET effectiveness = $2 WHERE item_id = $1",
                               list(overall.items()))
        await conn.execute(f"DELETE FROM {self.s}.item_effectiveness")
        await conn.executemany(
            f"INSERT INTO {self.s}.item_effectiveness(item_id, segment, score, shared_deals, comparable_deals, "
            "computed_at) VALUES ($1, $2, $3, $4, $5, $6)", [(*s, at) for s in scores])

    async def effectiveness_scores(self, conn: Connection, segment: str) -> dict[str, float]:
        rows = await conn.fetch(f"SELECT item_id, score FROM {self.s}.item_effectiveness WHERE segment = $1", segment)
        return {r["item_id"]: r["score"] for r in rows}

    async def segment_known(self, conn: Connection, segment: str) -> bool:
        return bool(await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {self.s}.lead_segments WHERE segment = $1)", segment))

    async def publish_message(self, conn: Connection, segment: str, text: str, author: str, at: datetime) -> Row:
        # one writer per segment at a time: the next version is taken under the segment's lock
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{self.s}.value_propositions:{segment}")
        row: Row | None = await conn.fetchrow(
            f"INSERT INTO {self.s}.value_propositions(segment, version, text, author, published_at) "
            f"SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4 FROM {self.s}.value_propositions "
            "WHERE segment = $1 RETURNING *", segment, text, author, at)
        assert row is not None
        return row

    async def messages(self, conn: Connection, segment: str) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT * FROM {self.s}.value_propositions WHERE segment = $1 ORDER BY version DESC", segment)
        return rows

    async def latest_messages(self, conn: Connection) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT DISTINCT ON (segment) * FROM {self.s}.value_propositions ORDER BY segment, version DESC")
        return rows

    async def add_answer(self, conn: Connection, answer_id: str, segment: str, rep_id: str, team: str, text: str,
                         message_version: int | None, at: datetime) -> Row:
        row: Row | None = await conn.fetchrow(
            f"INSERT INTO {self.s}.value_proposition_answers(answer_id, segment, rep_id, team, text, "
            "message_version, at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
            answer_id, segment, rep_id, team, text, message_version, at)
        assert row is not None
        return row

    async def latest_answers(self, conn: Connection, segment: str) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT DISTINCT ON (rep_id) * FROM {self.s}.value_proposition_answers WHERE segment = $1 "
            "ORDER BY rep_id, at DESC, answer_id DESC", segment)
        return rows
