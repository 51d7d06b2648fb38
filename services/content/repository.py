"""Content's tables (schema ``content``): the collateral items with their versions,
reviews and history, share links and their usage, and what content learns from
``lead-scored`` (each graded lead's segment and name, the segments that exist).

:class:`CollateralStore` states what content's handlers and routes need of them;
:class:`ContentRepository` is the PostgreSQL one and ``tests/fakes.py`` the in-memory twin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from services.content.domain.lifecycle import FINAL, ItemState, Review, Reviewer
from services.content.storage import FileStore
from shared.pii import ERASED_TEXT
from shared.privacy import Rows, count, rows_of

if TYPE_CHECKING:
    from asyncpg import Connection

Row = Mapping[str, Any]

# Columns of items a handler may change with update().
ITEM_COLUMNS = frozenset({"title", "summary", "segments", "stages", "products", "personas", "status",
                          "current_version", "published_version", "reviewers", "changes_requested_on",
                          "submitted_at", "published_at", "retire_at", "warned_weeks", "successor_id",
                          "effectiveness", "body_text", "updated_at"})
FINAL_STATUSES = sorted(FINAL)


def to_state(row: Row, reviews: Sequence[Row]) -> ItemState:
    return ItemState(status=row["status"], current_version=row["current_version"],
                     published_version=row["published_version"],
                     reviewers=tuple(Reviewer(r["id"], r["role"]) for r in row["reviewers"]),
                     reviews=tuple(Review(r["reviewer"], r["role"], r["version"], r["decision"], r["comment"], r["at"])
                                   for r in reviews),
                     changes_requested_on=row["changes_requested_on"])


class CollateralStore(Protocol):
    """The collateral library, its share links and usage, and the leads' segments."""

    async def create(self, conn: Any, item: Mapping[str, Any]) -> Row:
        """Store a new item (a draft; ``item`` has every column but the timer's); returns the stored row."""

    async def get(self, conn: Any, item_id: str) -> Row | None:
        """One item, or None."""

    async def lock(self, conn: Any, item_id: str) -> Row | None:
        """One item, locked for the caller's transaction (transitions of one item queue here)."""

    async def update(self, conn: Any, item_id: str, changes: Mapping[str, Any]) -> Row:
        """Change the given columns (of :data:`ITEM_COLUMNS`); returns the new row."""

    async def list_items(self, conn: Any, status: str | None, segment: str | None, stage: str | None,
                         query: str | None = None, kind: str | None = None, product: str | None = None,
                         persona: str | None = None) -> Sequence[Row]:
        """Items with that status and tags (an item with no tag of a kind matches every
        value of it), and when ``query`` is given, matching it by full-text search over
        title, summary and file text, best match first; else most recently changed first."""

    async def for_lead(self, conn: Any, segment: str, stage: str | None) -> Sequence[Row]:
        """Live items (a published version, not retired or withdrawn) for the segment and
        stage, most effective first, then most recently published."""

    async def add_version(self, conn: Any, version: Mapping[str, Any]) -> None:
        """Store a version's record (its file is in the storage port already)."""

    async def versions(self, conn: Any, item_id: str) -> Sequence[Row]:
        """Every version of the item, oldest first."""

    async def version(self, conn: Any, item_id: str, version: int) -> Row | None:
        """One version, or None."""

    async def add_review(self, conn: Any, item_id: str, review: Review) -> None:
        """Keep a reviewer's decision on a version."""

    async def reviews(self, conn: Any, item_id: str) -> Sequence[Row]:
        """The item's reviews, oldest first."""

    async def add_history(self, conn: Any, item_id: str, entry: Mapping[str, Any]) -> None:
        """Keep a transition (action, from/to status, version, actor, comment, at)."""

    async def history(self, conn: Any, item_id: str) -> Sequence[Row]:
        """The item's transitions, oldest first."""

    async def remember_segment(self, conn: Any, lead_id: str, segment: str, grade: str, at: datetime,
                               name: str = "", company: str = "") -> None:
        """Keep a lead's segment, grade and name as of ``at``; an older grading never
        overwrites a newer one (topics' partitions may deliver out of order). The
        segment becomes one items may be tagged with."""

    async def remember_segments(self, conn: Any, leads: Sequence[tuple[str, str, str, datetime, str, str]]) -> None:
        """:meth:`remember_segment` for each of these gradings (lead id, segment, grade, at,
        name, company), in two statements: a lead's newest one wins, every segment is known."""

    async def segment_of(self, conn: Any, lead_id: str) -> str | None:
        """The lead's latest segment, or None if content has not seen it graded."""

    async def lead(self, conn: Any, lead_id: str) -> Row | None:
        """The lead as content knows it (``segment``, ``grade``, ``name``, ``company``), or None."""

    async def known_segments(self, conn: Any, segments: Sequence[str]) -> set[str]:
        """Which of these segments content has seen on ``lead-scored``."""

    async def share_for(self, conn: Any, item_id: str, version: int, lead_id: str, rep_id: str) -> Row | None:
        """The link already made for this item version, lead and rep, or None."""

    async def add_share(self, conn: Any, share: Mapping[str, Any]) -> Row:
        """Store a new link; if one for the same item version, lead and rep won the race, that one."""

    async def share_by_token(self, conn: Any, token: str) -> Row | None:
        """A link by its token, with its item's ``status`` and ``successor_id``, or None."""

    async def add_usage(self, conn: Any, usage_id: str, kind: str, item_id: str, version: int | None,
                        share_id: str | None, lead_id: str | None, rep_id: str | None, at: datetime) -> None:
        """Record one use of an item ('shared', 'viewed', ...); a known ``usage_id`` is kept once."""

    async def usage_counts(self, conn: Any, item_id: str) -> dict[str, int]:
        """How many uses of each kind the item has."""

    async def retirements_due(self, conn: Any, now: datetime, limit: int) -> Sequence[Row]:
        """Live items whose retirement time has come, locked; rows another replica holds are skipped."""

    async def warnings_due(self, conn: Any, now: datetime, first_warning_s: float, last_warning_weeks: int,
                           limit: int) -> Sequence[Row]:
        """Live items within ``first_warning_s`` of retiring, not yet warned ``last_warning_weeks``
        before, locked; rows another replica holds are skipped."""

    async def timer_backlog(self, conn: Any, now: datetime) -> tuple[int, datetime | None]:
        """Live items past their retirement time: how many, and the oldest retirement time."""

    async def gauges(self, conn: Any, now: datetime, within_s: float) -> Row:
        """``by_status`` (status -> count), ``reviews_waiting``, ``oldest_review_at``,
        ``retiring_soon`` (live items retiring within ``within_s``)."""


_LIVE = "published_version IS NOT NULL AND status <> ALL($%d::text[])"


class ContentRepository:
    """Collateral in PostgreSQL: ``ContentRepository(schema).method(conn, ...)``."""

    def __init__(self, schema: str = "content") -> None:
        self.s = schema

    async def create(self, conn: Connection, item: Mapping[str, Any]) -> Row:
        cols = list(item)
        values = ", ".join(f"${i + 1}" for i in range(len(cols)))
        row: Row | None = await conn.fetchrow(
            f"INSERT INTO {self.s}.items({', '.join(cols)}) VALUES ({values}) RETURNING *", *item.values())
        assert row is not None
        return row

    async def get(self, conn: Connection, item_id: str) -> Row | None:
        row: Row | None = await conn.fetchrow(f"SELECT * FROM {self.s}.items WHERE item_id = $1", item_id)
        return row

    async def lock(self, conn: Connection, item_id: str) -> Row | None:
        row: Row | None = await conn.fetchrow(f"SELECT * FROM {self.s}.items WHERE item_id = $1 FOR UPDATE", item_id)
        return row

    async def update(self, conn: Connection, item_id: str, changes: Mapping[str, Any]) -> Row:
        unknown = set(changes) - ITEM_COLUMNS
        if unknown:
            raise ValueError(f"not an updatable column: {sorted(unknown)}")
        sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(changes))
        row: Row | None = await conn.fetchrow(f"UPDATE {self.s}.items SET {sets} WHERE item_id = $1 RETURNING *",
                                              item_id, *changes.values())
        assert row is not None
        return row

    async def list_items(self, conn: Connection, status: str | None, segment: str | None, stage: str | None,
                         query: str | None = None, kind: str | None = None, product: str | None = None,
                         persona: str | None = None) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT *, CASE WHEN $4::text IS NULL THEN 0 ELSE ts_rank(search, websearch_to_tsquery('english', $4)) "
            f"END AS rank FROM {self.s}.items WHERE ($1::text IS NULL OR status = $1) "
            "AND ($2::text IS NULL OR $2 = ANY(segments) OR segments = '{}') "
            "AND ($3::text IS NULL OR $3 = ANY(stages) OR stages = '{}') "
            "AND ($4::text IS NULL OR search @@ websearch_to_tsquery('english', $4)) "
            "AND ($5::text IS NULL OR kind = $5) "
            "AND ($6::text IS NULL OR $6 = ANY(products) OR products = '{}') "
            "AND ($7::text IS NULL OR $7 = ANY(personas) OR personas = '{}') "
            "ORDER BY rank DESC, updated_at DESC", status, segment, stage, query, kind, product, persona)
        return rows

    async def for_lead(self, conn: Connection, segment: str, stage: str | None) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT * FROM {self.s}.items WHERE {_LIVE % 3} "
            "AND ($1 = ANY(segments) OR segments = '{}') AND ($2::text IS NULL OR $2 = ANY(stages) OR stages = '{}') "
            "ORDER BY effectiveness DESC, published_at DESC", segment, stage, FINAL_STATUSES)
        return rows

    async def add_version(self, conn: Connection, version: Mapping[str, Any]) -> None:
        cols = list(version)
        await conn.execute(f"INSERT INTO {self.s}.versions({', '.join(cols)}) "
                           f"VALUES ({', '.join(f'${i + 1}' for i in range(len(cols)))})", *version.values())

    async def versions(self, conn: Connection, item_id: str) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT * FROM {self.s}.versions WHERE item_id = $1 ORDER BY version", item_id)
        return rows

    async def version(self, conn: Connection, item_id: str, version: int) -> Row | None:
        row: Row | None = await conn.fetchrow(
            f"SELECT * FROM {self.s}.versions WHERE item_id = $1 AND version = $2", item_id, version)
        return row

    async def add_review(self, conn: Connection, item_id: str, review: Review) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.reviews(item_id, version, reviewer, role, decision, comment, at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)", item_id, review.version, review.reviewer, review.role,
            review.decision, review.comment, review.at)

    async def reviews(self, conn: Connection, item_id: str) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT * FROM {self.s}.reviews WHERE item_id = $1 ORDER BY review_id", item_id)
        return rows

    async def add_history(self, conn: Connection, item_id: str, entry: Mapping[str, Any]) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.history(item_id, action, from_status, to_status, version, actor_id, actor_role, "
            "comment, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", item_id, entry["action"],
            entry["from_status"], entry["to_status"], entry["version"], entry["actor_id"], entry["actor_role"],
            entry["comment"], entry["at"])

    async def history(self, conn: Connection, item_id: str) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT action, from_status, to_status, version, actor_id, actor_role, comment, at "
            f"FROM {self.s}.history WHERE item_id = $1 ORDER BY seq", item_id)
        return rows

    async def remember_segment(self, conn: Connection, lead_id: str, segment: str, grade: str, at: datetime,
                               name: str = "", company: str = "") -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.lead_segments(lead_id, segment, grade, updated_at, name, company) "
            "VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT (lead_id) DO UPDATE SET segment = $2, grade = $3, updated_at = $4, name = $5, company = $6 "
            "WHERE lead_segments.updated_at <= $4", lead_id, segment, grade, at, name, company)
        await conn.execute(f"INSERT INTO {self.s}.known_segments(segment, first_seen) VALUES ($1, $2) "
                           "ON CONFLICT DO NOTHING", segment, at)

    async def remember_segments(self, conn: Connection,
                                leads: Sequence[tuple[str, str, str, datetime, str, str]]) -> None:
        if not leads:
            return
        newest: dict[str, tuple[str, str, str, datetime, str, str]] = {}
        for lead in leads:  # (one row per lead: ON CONFLICT may touch a row once; later wins a tie, as in turn)
            if lead[0] not in newest or newest[lead[0]][3] <= lead[3]:
                newest[lead[0]] = lead
        await conn.execute(
            f"INSERT INTO {self.s}.lead_segments(lead_id, segment, grade, updated_at, name, company) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[]) "
            "ON CONFLICT (lead_id) DO UPDATE SET segment = excluded.segment, grade = excluded.grade, "
            "updated_at = excluded.updated_at, name = excluded.name, company = excluded.company "
            "WHERE lead_segments.updated_at <= excluded.updated_at", *map(list, zip(*newest.values(), strict=True)))
        first: dict[str, datetime] = {}
        for _, segment, _, at, _, _ in leads:
            first.setdefault(segment, at)
        await conn.execute(f"INSERT INTO {self.s}.known_segments(segment, first_seen) "
                           "SELECT * FROM unnest($1::text[], $2::timestamptz[]) ON CONFLICT DO NOTHING",
                           list(first), list(first.values()))

    async def segment_of(self, conn: Connection, lead_id: str) -> str | None:
        value = await conn.fetchval(f"SELECT segment FROM {self.s}.lead_segments WHERE lead_id = $1", lead_id)
        return str(value) if value is not None else None

    async def lead(self, conn: Connection, lead_id: str) -> Row | None:
        row: Row | None = await conn.fetchrow(
            f"SELECT lead_id, segment, grade, name, company FROM {self.s}.lead_segments WHERE lead_id = $1", lead_id)
        return row

    async def known_segments(self, conn: Connection, segments: Sequence[str]) -> set[str]:
        rows = await conn.fetch(f"SELECT segment FROM {self.s}.known_segments WHERE segment = ANY($1::text[])",
                                list(segments))
        return {r["segment"] for r in rows}

    async def share_for(self, conn: Connection, item_id: str, version: int, lead_id: str, rep_id: str) -> Row | None:
        row: Row | None = await conn.fetchrow(
            f"SELECT * FROM {self.s}.shares WHERE item_id = $1 AND version = $2 AND lead_id = $3 AND rep_id = $4",
            item_id, version, lead_id, rep_id)
        return row

    async def add_share(self, conn: Connection, share: Mapping[str, Any]) -> Row:
        cols = list(share)
        await conn.execute(f"INSERT INTO {self.s}.shares({', '.join(cols)}) "
                           f"VALUES ({', '.join(f'${i + 1}' for i in range(len(cols)))}) ON CONFLICT DO NOTHING",
                           *share.values())
        row = await self.share_for(conn, share["item_id"], share["version"], share["lead_id"], share["rep_id"])
        assert row is not None
        return row

    async def share_by_token(self, conn: Connection, token: str) -> Row | None:
        row: Row | None = await conn.fetchrow(
            f"SELECT s.*, i.status, i.successor_id, i.title FROM {self.s}.shares s "
            f"JOIN {self.s}.items i USING (item_id) WHERE s.token = $1", token)
        return row

    async def add_usage(self, conn: Connection, usage_id: str, kind: str, item_id: str, version: int | None,
                        share_id: str | None, lead_id: str | None, rep_id: str | None, at: datetime) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.usage(usage_id, kind, item_id, version, share_id, lead_id, rep_id, at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            usage_id, kind, item_id, version, share_id, lead_id, rep_id, at)

    async def usage_counts(self, conn: Connection, item_id: str) -> dict[str, int]:
        rows = await conn.fetch(f"SELECT kind, count(*) AS n FROM {self.s}.usage WHERE item_id = $1 GROUP BY kind",
                                item_id)
        return {r["kind"]: int(r["n"]) for r in rows}

    async def retirements_due(self, conn: Connection, now: datetime, limit: int) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT * FROM {self.s}.items WHERE {_LIVE % 3} AND retire_at <= $1 "
            "ORDER BY retire_at LIMIT $2 FOR UPDATE SKIP LOCKED", now, limit, FINAL_STATUSES)
        return rows

    async def warnings_due(self, conn: Connection, now: datetime, first_warning_s: float, last_warning_weeks: int,
                           limit: int) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT * FROM {self.s}.items WHERE {_LIVE % 5} AND retire_at > $1 "
            "AND retire_at - make_interval(secs => $2) <= $1::timestamptz "
            "AND (warned_weeks IS NULL OR warned_weeks > $3) "
            "ORDER BY retire_at LIMIT $4 FOR UPDATE SKIP LOCKED", now, first_warning_s, last_warning_weeks, limit,
            FINAL_STATUSES)
        return rows

    async def timer_backlog(self, conn: Connection, now: datetime) -> tuple[int, datetime | None]:
        r = await conn.fetchrow(f"SELECT count(*) AS n, min(retire_at) AS oldest FROM {self.s}.items "
                                f"WHERE {_LIVE % 2} AND retire_at <= $1", now, FINAL_STATUSES)
        return int(r["n"]), r["oldest"]

    async def gauges(self, conn: Connection, now: datetime, within_s: float) -> Row:
        by_status = {r["status"]: int(r["n"]) for r in await conn.fetch(
            f"SELECT status, count(*) AS n FROM {self.s}.items GROUP BY status")}
        r = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE status = 'in_review') AS waiting, "
            "min(submitted_at) FILTER (WHERE status = 'in_review') AS oldest, "
            f"count(*) FILTER (WHERE {_LIVE % 3} AND retire_at <= $1::timestamptz + make_interval(secs => $2)) AS soon "
            f"FROM {self.s}.items", now, within_s, FINAL_STATUSES)
        return {"by_status": by_status, "reviews_waiting": int(r["waiting"]), "oldest_review_at": r["oldest"],
                "retiring_soon": int(r["soon"])}


class ContentSubjects:
    """What content holds about a person (``shared.privacy.SubjectData``): their segment
    with the name and company personalised copies are filled with, the links shared with
    them, their views and deals. Erasure blanks the name and deletes the personalised
    copies (the file holds their name); links, usage and deals stay (they name the lead
    by id), so collateral effectiveness is unchanged."""

    def __init__(self, schema: str, files: FileStore) -> None:
        self.s, self.files = schema, files

    async def export(self, conn: Any, lead_id: str) -> Rows:
        return await rows_of(conn, self.s, ("lead_segments", "shares", "usage", "deals"), lead_id)

    async def erase(self, conn: Any, lead_id: str) -> int:
        copies = await conn.fetch(f"UPDATE {self.s}.shares s SET copy_key = NULL, copy_sha256 = NULL "
                                  f"FROM {self.s}.shares old WHERE s.share_id = old.share_id AND s.lead_id = $1 "
                                  "AND old.copy_key IS NOT NULL RETURNING old.copy_key", lead_id)
        for row in copies:
            await self.files.delete(row["copy_key"])
        names = await conn.execute(f"UPDATE {self.s}.lead_segments SET name = $2 WHERE lead_id = $1",
                                   lead_id, ERASED_TEXT)
        return len(copies) + count(names)

    async def withdraw_consent(self, conn: Any, lead_id: str, at: datetime) -> int:
        return 0  # content sends nothing by itself: reps share links, nurture sends the email
