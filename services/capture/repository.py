"""Capture's tables (schema ``capture``): leads with their current view, accepted
submissions, activities and every lead's timeline.

:class:`LeadStore` states what capture's handlers and routes need of them;
:class:`LeadRepository` is the PostgreSQL one and ``tests/fakes.py`` the in-memory twin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from services.capture.domain.imports import RawRow
from services.capture.domain.leads import TimelineEntry
from shared.events import CampaignDefined, CrmOutcomeReported, LeadProfile
from shared.privacy import count, jsonable

if TYPE_CHECKING:
    from asyncpg import Connection

Row = Mapping[str, Any]
TimelineRow = tuple[str, str, TimelineEntry, datetime]  # event id, lead id, entry, occurred at


@dataclass(frozen=True)
class Captured:
    """One submission of a batch (a chunk of an import): who it names and how."""

    lead_id: str
    email_norm: str
    profile: LeadProfile
    consent: bool
    source: str
    campaign: str | None
    at: datetime


class LeadStore(Protocol):
    """Leads (one per person, keyed by normalised email) with their current view, the
    accepted submissions and activities (by idempotency key), and the timelines."""

    async def lock_by_email(self, conn: Any, email_norm: str) -> Row | None:
        """The person's lead, locked for this transaction (concurrent captures of one
        person queue here), or None."""

    async def insert_lead(self, conn: Any, lead_id: str, email_norm: str, profile: LeadProfile, consent: bool,
                          source: str, campaign: str | None, at: datetime) -> bool:
        """Insert a new lead; False if the email became known meanwhile (a concurrent capture)."""

    async def record_repeat(self, conn: Any, lead_id: str, profile: LeadProfile, consent: bool, source: str,
                            campaign: str | None, at: datetime) -> None:
        """A known lead captured again: its merged profile, one more capture, the source
        and campaign added to its lists."""

    async def capture_by_key(self, conn: Any, key: str) -> Row | None:
        """The submission accepted under this idempotency key, or None."""

    # A batch of submissions (a chunk of an import) in a few statements: each person at most once.

    async def lock_people(self, conn: Any, emails_norm: Sequence[str]) -> dict[str, Row]:
        """The leads of those of these people who are leads, by normalised email, locked
        for this transaction (in email order, so two batches never deadlock)."""

    async def insert_leads(self, conn: Any, leads: Sequence[Captured]) -> set[str]:
        """Insert new leads; the emails of those inserted (the others became known meanwhile)."""

    async def record_repeats(self, conn: Any, repeats: Sequence[Captured]) -> None:
        """:meth:`record_repeat` for each (``profile`` the merged one)."""

    async def captures_by_keys(self, conn: Any, keys: Sequence[str]) -> dict[str, Row]:
        """The submissions accepted under these idempotency keys, by key."""

    async def insert_captures(self, conn: Any, captures: Sequence[tuple[str, str | None, Captured]]) -> None:
        """Record accepted submissions: (capture id, idempotency key, what was captured)."""

    async def waiting_outcomes_for(self, conn: Any, emails_norm: Sequence[str],
                                   domains: Sequence[str]) -> Sequence[Row]:
        """:meth:`waiting_outcomes` for many people at once."""

    async def insert_capture(self, conn: Any, capture_id: str, key: str | None, lead_id: str, source: str,
                             campaign: str | None, occurred_at: datetime) -> None:
        """Record an accepted submission."""

    async def capture_exists(self, conn: Any, capture_id: str) -> bool:
        """Whether this capture is recorded (accepted here, or adopted from Kafka)."""

    async def activity_by_key(self, conn: Any, key: str) -> Row | None:
        """The activity accepted under this idempotency key, or None."""

    async def insert_activity(self, conn: Any, activity_id: str, key: str | None, lead_id: str, behaviour: str,
                              occurred_at: datetime) -> None:
        """Record an accepted activity."""

    async def get(self, conn: Any, lead_id: str) -> Row | None:
        """The lead with its current view, or None."""

    async def exists(self, conn: Any, lead_id: str) -> bool:
        """Whether there is a lead with this id."""

    async def find_by_email(self, conn: Any, email_norm: str) -> Row | None:
        """The person's lead (unlocked), or None."""

    async def timeline(self, conn: Any, lead_id: str) -> Sequence[Row]:
        """The lead's timeline entries, oldest first."""

    async def add_timeline(self, conn: Any, entries: Sequence[TimelineRow]) -> None:
        """Add timeline entries; one already there (same event id) is kept as it is."""

    async def update_view(self, conn: Any, lead_id: str, changes: dict[str, Any], *,
                          assignment_id: str | None = None, assigned_at: datetime | None = None) -> None:
        """Apply view changes. Follow-up changes (``assignment_id``) apply only to the
        current assignment, and an assignment (``assigned_at``) only if it is not older
        than the current one (events from different topics may arrive out of order)."""

    async def update_views(self, conn: Any, changes: Sequence[tuple[str, dict[str, Any]]], *,
                           assigned_at: Sequence[datetime] | None = None) -> None:
        """:meth:`update_view` for many leads in one statement: each lead at most once,
        every change naming the same columns (events of one type); with ``assigned_at``
        (one per lead) as an assignment is applied."""

    async def captures_known(self, conn: Any, capture_ids: Sequence[str]) -> set[str]:
        """Those of these captures that are recorded."""

    async def known_campaign(self, conn: Any, campaign_id: str) -> bool:
        """Whether marketing defined this campaign (capture heard it on campaign-defined)."""

    async def save_campaign(self, conn: Any, defined: CampaignDefined) -> None:
        """Keep a campaign's definition (a version older than the one kept changes nothing)."""

    async def list_campaigns(self, conn: Any) -> Sequence[Row]:
        """The campaigns leads may name, by id."""

    async def add_outcome(self, conn: Any, outcome_id: str, outcome: CrmOutcomeReported, email_norm: str | None,
                          domain: str | None) -> bool:
        """Keep a reported outcome (with the email and domain it names, normalised);
        False if it was kept already."""

    async def lead_by_domain(self, conn: Any, domain: str) -> Row | None:
        """The most recently captured lead whose email is at ``domain``, or None."""

    async def match_outcome(self, conn: Any, outcome_id: str, lead_id: str, matched_by: str, at: datetime) -> None:
        """The outcome is this lead's."""

    async def waiting_outcomes(self, conn: Any, email_norm: str, domain: str) -> Sequence[Row]:
        """Unmatched outcomes naming this email or this domain, oldest first, locked."""

    async def list_outcomes(self, conn: Any, matched: bool | None, limit: int, offset: int) -> Sequence[Row]:
        """Outcomes (matched, unmatched or all), newest first."""

    async def count_unmatched(self, conn: Any) -> int:
        """How many outcomes match no lead yet."""


class LeadRepository:
    """Capture's tables in PostgreSQL: ``LeadRepository(schema).method(conn, ...)``."""

    def __init__(self, schema: str = "capture") -> None:
        self.s = schema

    async def lock_by_email(self, conn: Connection, email_norm: str) -> Row | None:
        return await conn.fetchrow(f"SELECT * FROM {self.s}.leads WHERE email_norm = $1 FOR UPDATE", email_norm)

    async def insert_lead(self, conn: Connection, lead_id: str, email_norm: str, profile: LeadProfile, consent: bool,
                          source: str, campaign: str | None, at: datetime) -> bool:
        """Insert a new lead; False if the email became known meanwhile (a concurrent capture)."""
        row = await conn.fetchrow(
            f"INSERT INTO {self.s}.leads(lead_id, email_norm, profile, consent, first_source, first_campaign, "
            "sources, campaigns, first_captured_at, last_captured_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, ARRAY[$5], "
            "CASE WHEN $6::text IS NULL THEN '{}'::text[] ELSE ARRAY[$6] END, $7, $7) "
            "ON CONFLICT (email_norm) DO NOTHING RETURNING lead_id",
            lead_id, email_norm, profile.model_dump(mode="json"), consent, source, campaign, at)
        return row is not None

    async def record_repeat(self, conn: Connection, lead_id: str, profile: LeadProfile, consent: bool, source: str,
                            campaign: str | None, at: datetime) -> None:
        await conn.execute(
            f"UPDATE {self.s}.leads SET profile = $2, consent = $3, capture_count = capture_count + 1, "
            "last_captured_at = greatest(last_captured_at, $6), "
            "sources = CASE WHEN $4 = ANY(sources) THEN sources ELSE sources || $4 END, "
            "campaigns = CASE WHEN $5::text IS NULL OR $5 = ANY(campaigns) THEN campaigns ELSE campaigns || $5 END, "
            "updated_at = now() WHERE lead_id = $1",
            lead_id, profile.model_dump(mode="json"), consent, source, campaign, at)

    async def capture_by_key(self, conn: Connection, key: str) -> Row | None:
        return await conn.fetchrow(f"SELECT * FROM {self.s}.captures WHERE idempotency_key = $1", key)

    async def lock_people(self, conn: Connection, emails_norm: Sequence[str]) -> dict[str, Row]:
        found = await conn.fetch(f"SELECT * FROM {self.s}.leads WHERE email_norm = ANY($1::text[]) "
                                 "ORDER BY email_norm FOR UPDATE", list(emails_norm))
        return {r["email_norm"]: r for r in found}

    @staticmethod
    def _columns(batch: Sequence[Captured]) -> list[list[Any]]:
        return [[c.lead_id for c in batch], [c.email_norm for c in batch],
                [orjson.dumps(c.profile.model_dump(mode="json")).decode() for c in batch],
                [c.consent for c in batch], [c.source for c in batch], [c.campaign for c in batch],
                [c.at for c in batch]]

    async def insert_leads(self, conn: Connection, leads: Sequence[Captured]) -> set[str]:
        if not leads:
            return set()
        found = await conn.fetch(
            f"INSERT INTO {self.s}.leads(lead_id, email_norm, profile, consent, first_source, first_campaign, "
            "sources, campaigns, first_captured_at, last_captured_at) "
            "SELECT l, e, p::jsonb, c, src, camp, ARRAY[src], "
            "CASE WHEN camp IS NULL THEN '{}'::text[] ELSE ARRAY[camp] END, at, at "
            "FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::text[], $6::text[], "
            "$7::timestamptz[]) AS u(l, e, p, c, src, camp, at) "
            "ORDER BY e ON CONFLICT (email_norm) DO NOTHING RETURNING email_norm", *self._columns(leads))
        return {r["email_norm"] for r in found}

    async def record_repeats(self, conn: Connection, repeats: Sequence[Captured]) -> None:
        if not repeats:
            return
        lead_ids, _, profiles, consents, sources, campaigns, ats = self._columns(repeats)
        await conn.execute(
            f"UPDATE {self.s}.leads AS l SET profile = u.p::jsonb, consent = u.c, "
            "capture_count = l.capture_count + 1, last_captured_at = greatest(l.last_captured_at, u.at), "
            "sources = CASE WHEN u.src = ANY(l.sources) THEN l.sources ELSE l.sources || u.src END, "
            "campaigns = CASE WHEN u.camp IS NULL OR u.camp = ANY(l.campaigns) THEN l.campaigns "
            "ELSE l.campaigns || u.camp END, updated_at = now() "
            "FROM unnest($1::text[], $2::text[], $3::boolean[], $4::text[], $5::text[], $6::timestamptz[]) "
            "AS u(id, p, c, src, camp, at) WHERE l.lead_id = u.id",
            lead_ids, profiles, consents, sources, campaigns, ats)

    async def captures_by_keys(self, conn: Connection, keys: Sequence[str]) -> dict[str, Row]:
        found = await conn.fetch(f"SELECT * FROM {self.s}.captures WHERE idempotency_key = ANY($1::text[])",
                                 list(keys))
        return {r["idempotency_key"]: r for r in found}

    async def insert_captures(self, conn: Connection, captures: Sequence[tuple[str, str | None, Captured]]) -> None:
        if not captures:
            return
        await conn.execute(
            f"INSERT INTO {self.s}.captures(capture_id, idempotency_key, lead_id, source, campaign, occurred_at) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])",
            [i for i, _, _ in captures], [k for _, k, _ in captures], [c.lead_id for _, _, c in captures],
            [c.source for _, _, c in captures], [c.campaign for _, _, c in captures], [c.at for _, _, c in captures])

    async def waiting_outcomes_for(self, conn: Connection, emails_norm: Sequence[str],
                                   domains: Sequence[str]) -> Sequence[Row]:
        return await conn.fetch(
            f"SELECT * FROM {self.s}.outcomes WHERE lead_id IS NULL "
            "AND (email_norm = ANY($1::text[]) OR account_domain = ANY($2::text[])) "
            "ORDER BY occurred_at, outcome_id FOR UPDATE", list(emails_norm), list(domains))

    async def insert_capture(self, conn: Connection, capture_id: str, key: str | None, lead_id: str, source: str,
                             campaign: str | None, occurred_at: datetime) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.captures(capture_id, idempotency_key, lead_id, source, campaign, occurred_at) "
            "VALUES ($1, $2, $3, $4, $5, $6)", capture_id, key, lead_id, source, campaign, occurred_at)

    async def capture_exists(self, conn: Connection, capture_id: str) -> bool:
        return bool(await conn.fetchval(f"SELECT 1 FROM {self.s}.captures WHERE capture_id = $1", capture_id))

    async def activity_by_key(self, conn: Connection, key: str) -> Row | None:
        return await conn.fetchrow(f"SELECT * FROM {self.s}.activities WHERE idempotency_key = $1", key)

    async def insert_activity(self, conn: Connection, activity_id: str, key: str | None, lead_id: str, behaviour: str,
                              occurred_at: datetime) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.activities(activity_id, idempotency_key, lead_id, behaviour, occurred_at) "
            "VALUES ($1, $2, $3, $4, $5)", activity_id, key, lead_id, behaviour, occurred_at)

    async def get(self, conn: Connection, lead_id: str) -> Row | None:
        return await conn.fetchrow(f"SELECT * FROM {self.s}.leads WHERE lead_id = $1", lead_id)

    async def exists(self, conn: Connection, lead_id: str) -> bool:
        return bool(await conn.fetchval(f"SELECT 1 FROM {self.s}.leads WHERE lead_id = $1", lead_id))

    async def find_by_email(self, conn: Connection, email_norm: str) -> Row | None:
        return await conn.fetchrow(f"SELECT * FROM {self.s}.leads WHERE email_norm = $1", email_norm)

    async def timeline(self, conn: Connection, lead_id: str) -> Sequence[Row]:
        return await conn.fetch(
            f"SELECT event_id, type, occurred_at, summary FROM {self.s}.timeline WHERE lead_id = $1 "
            "ORDER BY occurred_at, event_id", lead_id)

    async def add_timeline(self, conn: Connection, entries: Sequence[TimelineRow]) -> None:
        await conn.executemany(
            f"INSERT INTO {self.s}.timeline(event_id, lead_id, type, occurred_at, summary) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
            [(event_id, lead_id, e.type, at, e.summary) for event_id, lead_id, e, at in entries])

    async def update_view(self, conn: Connection, lead_id: str, changes: dict[str, Any], *,
                          assignment_id: str | None = None, assigned_at: datetime | None = None) -> None:
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
        await conn.execute(f"UPDATE {self.s}.leads SET {sets}, updated_at = now() WHERE {where}", *args)

    # the lead view's columns an event may change, with their types (for unnest)
    VIEW_TYPES = {"score": "double precision", "grade": "text", "segment": "text", "rubric_version": "text",
                  "top_reasons": "jsonb", "owner_kind": "text", "rep_id": "text", "team": "text",
                  "assignment_id": "text", "due_at": "timestamptz", "status": "text"}

    async def update_views(self, conn: Connection, changes: Sequence[tuple[str, dict[str, Any]]], *,
                           assigned_at: Sequence[datetime] | None = None) -> None:
        if not changes:
            return
        cols = list(changes[0][1])
        if not cols:
            return
        arrays: list[list[Any]] = [[lead_id for lead_id, _ in changes]]
        for c in cols:
            values = [change[c] for _, change in changes]
            arrays.append([orjson.dumps(v).decode() for v in values] if self.VIEW_TYPES[c] == "jsonb" else values)
        types = ["text", *("text" if self.VIEW_TYPES[c] == "jsonb" else self.VIEW_TYPES[c] for c in cols)]
        names = ["lead_id", *cols]
        sets = ", ".join(f"{c} = u.{c}" + ("::jsonb" if self.VIEW_TYPES[c] == "jsonb" else "") for c in cols)
        where = "l.lead_id = u.lead_id"
        if assigned_at is not None:
            arrays.append(list(assigned_at))
            types.append("timestamptz")
            names.append("assigned_at")
            sets += ", assigned_at = u.assigned_at"
            where += " AND (l.assigned_at IS NULL OR l.assigned_at <= u.assigned_at)"
        unnest = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(types))
        await conn.execute(f"UPDATE {self.s}.leads AS l SET {sets}, updated_at = now() "
                           f"FROM unnest({unnest}) AS u({', '.join(names)}) WHERE {where}", *arrays)

    async def captures_known(self, conn: Connection, capture_ids: Sequence[str]) -> set[str]:
        found = await conn.fetch(f"SELECT capture_id FROM {self.s}.captures WHERE capture_id = ANY($1::text[])",
                                 list(capture_ids))
        return {r["capture_id"] for r in found}

    async def known_campaign(self, conn: Connection, campaign_id: str) -> bool:
        return bool(await conn.fetchval(f"SELECT 1 FROM {self.s}.campaigns WHERE campaign_id = $1", campaign_id))

    async def save_campaign(self, conn: Connection, d: CampaignDefined) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.campaigns AS c VALUES ($1, $2, $3, $4, $5) ON CONFLICT (campaign_id) DO UPDATE "
            "SET name = $2, type = $3, version = $4, defined_at = $5 WHERE c.version < $4",
            d.campaign_id, d.name, d.type.value, d.version, d.occurred_at)

    async def list_campaigns(self, conn: Connection) -> Sequence[Row]:
        return await conn.fetch(f"SELECT * FROM {self.s}.campaigns ORDER BY campaign_id")

    async def add_outcome(self, conn: Connection, outcome_id: str, o: CrmOutcomeReported, email_norm: str | None,
                          domain: str | None) -> bool:
        row = await conn.fetchval(
            f"INSERT INTO {self.s}.outcomes(outcome_id, source, opportunity_id, kind, stage, amount_minor, currency, "
            "close_date, occurred_at, named_lead_id, email_norm, account_domain) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING RETURNING outcome_id",
            outcome_id, o.source, o.opportunity_id, o.kind.value, o.stage, o.amount_minor, o.currency, o.close_date,
            o.occurred_at, o.lead_id, email_norm, domain)
        return row is not None

    async def lead_by_domain(self, conn: Connection, domain: str) -> Row | None:
        return await conn.fetchrow(
            f"SELECT * FROM {self.s}.leads WHERE split_part(email_norm, '@', 2) = $1 "
            "ORDER BY last_captured_at DESC LIMIT 1", domain)

    async def match_outcome(self, conn: Connection, outcome_id: str, lead_id: str, matched_by: str,
                            at: datetime) -> None:
        await conn.execute(f"UPDATE {self.s}.outcomes SET lead_id = $2, matched_by = $3, matched_at = $4 "
                           "WHERE outcome_id = $1", outcome_id, lead_id, matched_by, at)

    async def waiting_outcomes(self, conn: Connection, email_norm: str, domain: str) -> Sequence[Row]:
        return await conn.fetch(
            f"SELECT * FROM {self.s}.outcomes WHERE lead_id IS NULL AND (email_norm = $1 OR account_domain = $2) "
            "ORDER BY occurred_at, outcome_id FOR UPDATE", email_norm, domain)

    async def list_outcomes(self, conn: Connection, matched: bool | None, limit: int, offset: int) -> Sequence[Row]:
        return await conn.fetch(
            f"SELECT * FROM {self.s}.outcomes WHERE $1::boolean IS NULL OR (lead_id IS NOT NULL) = $1 "
            "ORDER BY received_at DESC, outcome_id LIMIT $2 OFFSET $3", matched, limit, offset)

    async def count_unmatched(self, conn: Connection) -> int:
        return int(await conn.fetchval(f"SELECT count(*) FROM {self.s}.outcomes WHERE lead_id IS NULL"))


# --------------------------------------------------------------------------- list imports

IMPORT_COUNTS = ("accepted", "rejected", "new_leads", "known_people", "duplicates")


class ImportStore(Protocol):
    """Column mappings per source, uploaded files with their progress, rejected rows,
    and the people each import has seen."""

    async def save_mapping(self, conn: Any, source: str, columns: dict[str, str]) -> None:
        """Keep (or replace) the source's mapping."""

    async def mapping(self, conn: Any, source: str) -> dict[str, str] | None:
        """The source's saved mapping, or None."""

    async def create_import(self, conn: Any, import_id: str, sha256: str, source: str, campaign: str, fmt: str,
                            columns: dict[str, str]) -> bool:
        """Start keeping an uploaded file (its rows follow, :meth:`add_rows`); False if this
        import (same file, source, campaign) exists."""

    async def add_rows(self, conn: Any, import_id: str, first: int, rows: Sequence[RawRow]) -> None:
        """Keep the file's records numbered ``first``, ``first + 1``, ...: what the worker imports."""

    async def set_total(self, conn: Any, import_id: str, total_rows: int) -> None:
        """The file is kept whole: it has ``total_rows`` records."""

    async def rows(self, conn: Any, import_id: str, start: int, limit: int) -> list[RawRow]:
        """At most ``limit`` of the import's records, from number ``start`` on, in order."""

    async def forget_rows(self, conn: Any, import_id: str) -> None:
        """The import is done: its records are no longer needed (its rejections stay)."""

    async def get_import(self, conn: Any, import_id: str) -> Row | None:
        """The import's progress (without its content), or None."""

    async def next_running(self, conn: Any) -> Row | None:
        """The oldest unfinished import nobody else is working on, locked, or None."""

    async def add_rejections(self, conn: Any, import_id: str, rejections: Sequence[tuple[int, int, str, str]]) -> None:
        """Keep rejected rows' problems: (line, n, field, reason)."""

    async def advance(self, conn: Any, import_id: str, position: int, counts: dict[str, int], done: bool) -> None:
        """Move the import's position (records validated) on and add ``counts`` to its
        figures (done: finished)."""

    async def add_accepted(self, conn: Any, import_id: str,
                           rows: Sequence[tuple[int, str, Mapping[str, Any], datetime]]) -> set[int]:
        """Keep accepted records, (line, normalised email, mapped values, when it happened),
        until captured; the lines kept: a record whose person the import kept already (an
        earlier line, here or in an earlier chunk) is not, it is a duplicate within the file."""

    async def accepted(self, conn: Any, import_id: str, after_line: int, limit: int
                       ) -> list[tuple[int, dict[str, Any], datetime]]:
        """At most ``limit`` kept records after line ``after_line``, by line: (line, values, when)."""

    async def advance_capture(self, conn: Any, import_id: str, captured_line: int, counts: dict[str, int],
                              done: bool) -> None:
        """The accepted records through ``captured_line`` are leads: add ``counts`` (done: finished)."""

    async def rejections(self, conn: Any, import_id: str) -> Sequence[Row]:
        """The import's rejected rows' problems, by line."""


class ImportRepository:
    """List imports in PostgreSQL: ``ImportRepository(schema).method(conn, ...)``."""

    def __init__(self, schema: str = "capture") -> None:
        self.s = schema

    async def save_mapping(self, conn: Connection, source: str, columns: dict[str, str]) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.import_mappings(source, columns) VALUES ($1, $2) "
            "ON CONFLICT (source) DO UPDATE SET columns = $2, updated_at = now()", source, columns)

    async def mapping(self, conn: Connection, source: str) -> dict[str, str] | None:
        found = await conn.fetchval(f"SELECT columns FROM {self.s}.import_mappings WHERE source = $1", source)
        return None if found is None else dict(found)

    async def create_import(self, conn: Connection, import_id: str, sha256: str, source: str, campaign: str,
                            fmt: str, columns: dict[str, str]) -> bool:
        row = await conn.fetchval(
            f"INSERT INTO {self.s}.imports(import_id, sha256, source, campaign, format, columns, total_rows) "
            "VALUES ($1, $2, $3, $4, $5, $6, 0) ON CONFLICT DO NOTHING RETURNING import_id",
            import_id, sha256, source, campaign, fmt, columns)
        return row is not None

    async def add_rows(self, conn: Connection, import_id: str, first: int, rows: Sequence[RawRow]) -> None:
        # COPY: the cheapest way into PostgreSQL (binary, one round trip per batch)
        await conn.copy_records_to_table(
            "import_rows", schema_name=self.s,
            columns=("import_id", "n", "line", "fields", "problem_field", "problem_reason"),
            records=[(import_id, first + i, r.line, None if r.values is None else orjson.dumps(r.values).decode(),
                      *(r.problem or (None, None))) for i, r in enumerate(rows)])

    async def set_total(self, conn: Connection, import_id: str, total_rows: int) -> None:
        await conn.execute(f"UPDATE {self.s}.imports SET total_rows = $2 WHERE import_id = $1", import_id, total_rows)

    async def rows(self, conn: Connection, import_id: str, start: int, limit: int) -> list[RawRow]:
        found = await conn.fetch(
            f"SELECT line, fields, problem_field, problem_reason FROM {self.s}.import_rows "
            "WHERE import_id = $1 AND n >= $2 ORDER BY n LIMIT $3", import_id, start, limit)
        return [RawRow(r["line"], None if r["fields"] is None else orjson.loads(r["fields"]),
                       None if r["problem_field"] is None else (r["problem_field"], r["problem_reason"]))
                for r in found]

    async def forget_rows(self, conn: Connection, import_id: str) -> None:
        await conn.execute(f"DELETE FROM {self.s}.import_rows WHERE import_id = $1", import_id)
        await conn.execute(f"DELETE FROM {self.s}.import_accepted WHERE import_id = $1", import_id)

    async def add_accepted(self, conn: Connection, import_id: str,
                           rows: Sequence[tuple[int, str, Mapping[str, Any], datetime]]) -> set[int]:
        if not rows:
            return set()
        lines, emails, values, times = zip(*rows, strict=True)
        # (a person kept by a chunk validated before this table existed is in import_people)
        kept = await conn.fetch(
            f"INSERT INTO {self.s}.import_accepted SELECT $1, r.* FROM unnest($2::int[], $3::text[], $4::text[], "
            f"$5::timestamptz[]) AS r(line, email_norm, fields, occurred_at) WHERE NOT EXISTS (SELECT 1 FROM "
            f"{self.s}.import_people p WHERE p.import_id = $1 AND p.email_norm = r.email_norm) "
            "ON CONFLICT DO NOTHING RETURNING line", import_id, list(lines), list(emails),
            [orjson.dumps(v).decode() for v in values], list(times))
        return {r["line"] for r in kept}

    async def accepted(self, conn: Connection, import_id: str, after_line: int, limit: int
                       ) -> list[tuple[int, dict[str, Any], datetime]]:
        found = await conn.fetch(
            f"SELECT line, fields, occurred_at FROM {self.s}.import_accepted WHERE import_id = $1 AND line > $2 "
            "ORDER BY line LIMIT $3", import_id, after_line, limit)
        return [(r["line"], orjson.loads(r["fields"]), r["occurred_at"]) for r in found]

    async def advance_capture(self, conn: Connection, import_id: str, captured_line: int, counts: dict[str, int],
                              done: bool) -> None:
        await self._move(conn, import_id, "captured_line", captured_line, counts, done)

    _PROGRESS = ("import_id, sha256, source, campaign, format, columns, total_rows, status, position, captured_line, "
                 + ", ".join(IMPORT_COUNTS) + ", created_at, finished_at")

    async def get_import(self, conn: Connection, import_id: str) -> Row | None:
        return await conn.fetchrow(f"SELECT {self._PROGRESS} FROM {self.s}.imports WHERE import_id = $1", import_id)

    async def next_running(self, conn: Connection) -> Row | None:
        return await conn.fetchrow(
            f"SELECT {self._PROGRESS} FROM {self.s}.imports WHERE status = 'running' "
            "ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED")

    async def add_rejections(self, conn: Connection, import_id: str,
                             rejections: Sequence[tuple[int, int, str, str]]) -> None:
        if not rejections:
            return
        lines, ns, fields, reasons = zip(*rejections, strict=True)
        await conn.execute(
            f"INSERT INTO {self.s}.import_rejections SELECT $1, * FROM unnest($2::int[], $3::int[], $4::text[], "
            "$5::text[]) ON CONFLICT DO NOTHING", import_id, list(lines), list(ns), list(fields), list(reasons))

    async def advance(self, conn: Connection, import_id: str, position: int, counts: dict[str, int],
                      done: bool) -> None:
        await self._move(conn, import_id, "position", position, counts, done)

    async def _move(self, conn: Connection, import_id: str, cursor: str, value: int, counts: dict[str, int],
                    done: bool) -> None:
        """Set one of the import's cursors (``position``, ``captured_line``), add ``counts``
        to its figures, and finish it if ``done``."""
        sets = ", ".join(f"{c} = {c} + ${i + 3}" for i, c in enumerate(IMPORT_COUNTS))
        await conn.execute(
            f"UPDATE {self.s}.imports SET {cursor} = $2, {sets}, "
            f"status = CASE WHEN ${len(IMPORT_COUNTS) + 3} THEN 'done' ELSE status END, "
            f"finished_at = CASE WHEN ${len(IMPORT_COUNTS) + 3} THEN now() END WHERE import_id = $1",
            import_id, value, *(counts.get(c, 0) for c in IMPORT_COUNTS), done)

    async def rejections(self, conn: Connection, import_id: str) -> Sequence[Row]:
        return await conn.fetch(f"SELECT line, field, reason FROM {self.s}.import_rejections "
                                "WHERE import_id = $1 ORDER BY line, n", import_id)


# --------------------------------------------------------------------------- privacy (GDPR)


class ErasureStore(Protocol):
    """Erasure requests and each service's confirmation of its part."""

    async def add_erasure(self, conn: Any, erasure_id: str, lead_id: str, reason: str, requested_by: str,
                          at: datetime) -> None: ...

    async def erasure(self, conn: Any, erasure_id: str, for_update: bool = False) -> Row | None: ...

    async def confirm(self, conn: Any, erasure_id: str, service: str, erased_at: datetime, rows: int) -> None:
        """Record a service's confirmation (a second one of the same service is ignored)."""

    async def confirmations(self, conn: Any, erasure_id: str) -> Sequence[Row]: ...

    async def complete(self, conn: Any, erasure_id: str, at: datetime) -> None: ...

    async def expired_leads(self, conn: Any, captured_before: datetime, limit: int) -> Sequence[str]:
        """Leads last captured before the moment, never converted (no CRM outcome matched to
        them) and not being erased: locked, skipping those another replica holds."""


class ErasureRepository:
    """Capture's erasure bookkeeping in PostgreSQL."""

    def __init__(self, schema: str = "capture") -> None:
        self.s = schema

    async def add_erasure(self, conn: Connection, erasure_id: str, lead_id: str, reason: str, requested_by: str,
                          at: datetime) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.erasures(erasure_id, lead_id, reason, requested_by, requested_at, "
            "key_destroyed_at) VALUES ($1, $2, $3, $4, $5, $5)", erasure_id, lead_id, reason, requested_by, at)

    async def erasure(self, conn: Connection, erasure_id: str, for_update: bool = False) -> Row | None:
        lock = " FOR UPDATE" if for_update else ""
        return await conn.fetchrow(f"SELECT * FROM {self.s}.erasures WHERE erasure_id = $1{lock}", erasure_id)

    async def confirm(self, conn: Connection, erasure_id: str, service: str, erased_at: datetime, rows: int) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.erasure_confirmations(erasure_id, service, erased_at, rows) "
            "SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM "
            f"{self.s}.erasures WHERE erasure_id = $1) ON CONFLICT DO NOTHING", erasure_id, service, erased_at, rows)

    async def confirmations(self, conn: Connection, erasure_id: str) -> Sequence[Row]:
        return await conn.fetch(f"SELECT service, erased_at, rows FROM {self.s}.erasure_confirmations "
                                "WHERE erasure_id = $1 ORDER BY erased_at, service", erasure_id)

    async def complete(self, conn: Connection, erasure_id: str, at: datetime) -> None:
        await conn.execute(f"UPDATE {self.s}.erasures SET completed_at = $2 WHERE erasure_id = $1", erasure_id, at)

    async def expired_leads(self, conn: Connection, captured_before: datetime, limit: int) -> Sequence[str]:
        rows = await conn.fetch(
            f"SELECT l.lead_id FROM {self.s}.leads l WHERE l.last_captured_at < $1 "
            f"AND NOT EXISTS (SELECT 1 FROM {self.s}.outcomes o WHERE o.lead_id = l.lead_id) "
            f"AND NOT EXISTS (SELECT 1 FROM {self.s}.erasures e WHERE e.lead_id = l.lead_id "
            "AND e.completed_at IS NULL) "
            "ORDER BY l.last_captured_at LIMIT $2 FOR UPDATE OF l SKIP LOCKED", captured_before, limit)
        return [r["lead_id"] for r in rows]


class CaptureSubjects:
    """What capture holds about a person (``shared.privacy.SubjectData``): the lead, its
    captures, activities and timeline, CRM outcomes naming it or its email, the list
    imports that carried it, and its erasures."""

    def __init__(self, schema: str = "capture") -> None:
        self.s = schema

    async def _email(self, conn: Connection, lead_id: str) -> str | None:
        email: str | None = await conn.fetchval(f"SELECT email_norm FROM {self.s}.leads WHERE lead_id = $1", lead_id)
        return email

    async def export(self, conn: Connection, lead_id: str) -> dict[str, list[dict[str, Any]]]:
        email = await self._email(conn, lead_id)
        by_lead = {t: await conn.fetch(f"SELECT * FROM {self.s}.{t} WHERE lead_id = $1 ORDER BY 1", lead_id)
                   for t in ("leads", "captures", "activities", "timeline", "erasures")}
        outcomes = await conn.fetch(f"SELECT * FROM {self.s}.outcomes WHERE lead_id = $1 OR email_norm = $2",
                                    lead_id, email)
        imports = await conn.fetch(
            f"SELECT i.import_id, i.source, i.campaign, i.created_at FROM {self.s}.import_people p "
            f"JOIN {self.s}.imports i USING (import_id) WHERE p.email_norm = $1", email)
        return {**{t: jsonable(rows) for t, rows in by_lead.items()}, "outcomes": jsonable(outcomes),
                "imports": jsonable(imports)}

    async def erase(self, conn: Connection, lead_id: str) -> int:
        """The lead, its captures, activities and timeline are deleted (capture counts
        nothing from them that outlives the person); outcomes keep their amounts for the
        revenue reports, without the email; an import that carried the person keeps its
        counts, without its file once it is done (the file holds their row)."""
        email = await self._email(conn, lead_id)
        touched = 0
        if email is not None:
            touched += count(await conn.execute(
                f"UPDATE {self.s}.imports SET content = ''::bytea WHERE status = 'done' AND import_id IN "
                f"(SELECT import_id FROM {self.s}.import_people WHERE email_norm = $1)", email))
            touched += count(await conn.execute(f"DELETE FROM {self.s}.import_people WHERE email_norm = $1", email))
        touched += count(await conn.execute(
            f"UPDATE {self.s}.outcomes SET email_norm = NULL WHERE lead_id = $1 OR email_norm = $2", lead_id, email))
        for table in ("timeline", "activities", "captures", "leads"):
            touched += count(await conn.execute(f"DELETE FROM {self.s}.{table} WHERE lead_id = $1", lead_id))
        return touched

    async def withdraw_consent(self, conn: Connection, lead_id: str, at: datetime) -> int:
        return count(await conn.execute(
            f"UPDATE {self.s}.leads SET consent = false, updated_at = $2 WHERE lead_id = $1 AND consent", lead_id, at))
