"""Capture's tables (schema ``capture``): leads with their current view, accepted
submissions, activities and every lead's timeline.

:class:`LeadStore` states what capture's handlers and routes need of them;
:class:`LeadRepository` is the PostgreSQL one and ``tests/fakes.py`` the in-memory twin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from services.capture.domain.leads import TimelineEntry
from shared.events import CampaignDefined, CrmOutcomeReported, LeadProfile
from shared.privacy import count, jsonable

if TYPE_CHECKING:
    from asyncpg import Connection

Row = Mapping[str, Any]
TimelineRow = tuple[str, str, TimelineEntry, datetime]  # event id, lead id, entry, occurred at


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
                            columns: dict[str, str], content: bytes, total_rows: int) -> bool:
        """Keep an uploaded file; False if this import (same file, source, campaign) exists."""

    async def get_import(self, conn: Any, import_id: str) -> Row | None:
        """The import's progress (without its content), or None."""

    async def next_running(self, conn: Any) -> Row | None:
        """The oldest unfinished import nobody else is working on, locked, or None."""

    async def content(self, conn: Any, import_id: str) -> bytes:
        """The uploaded file."""

    async def first_seen(self, conn: Any, import_id: str, email_norm: str) -> bool:
        """Record that the import met this person; False if it had already."""

    async def add_rejections(self, conn: Any, import_id: str, rejections: Sequence[tuple[int, int, str, str]]) -> None:
        """Keep rejected rows' problems: (line, n, field, reason)."""

    async def advance(self, conn: Any, import_id: str, position: int, counts: dict[str, int], done: bool) -> None:
        """Move the import's position on and add ``counts`` to its figures (done: finished)."""

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
                            fmt: str, columns: dict[str, str], content: bytes, total_rows: int) -> bool:
        row = await conn.fetchval(
            f"INSERT INTO {self.s}.imports(import_id, sha256, source, campaign, format, columns, content, total_rows) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING import_id",
            import_id, sha256, source, campaign, fmt, columns, content, total_rows)
        return row is not None

    _PROGRESS = ("import_id, sha256, source, campaign, format, columns, total_rows, status, position, "
                 + ", ".join(IMPORT_COUNTS) + ", created_at, finished_at")

    async def get_import(self, conn: Connection, import_id: str) -> Row | None:
        return await conn.fetchrow(f"SELECT {self._PROGRESS} FROM {self.s}.imports WHERE import_id = $1", import_id)

    async def next_running(self, conn: Connection) -> Row | None:
        return await conn.fetchrow(
            f"SELECT {self._PROGRESS} FROM {self.s}.imports WHERE status = 'running' "
            "ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED")

    async def content(self, conn: Connection, import_id: str) -> bytes:
        return bytes(await conn.fetchval(f"SELECT content FROM {self.s}.imports WHERE import_id = $1", import_id))

    async def first_seen(self, conn: Connection, import_id: str, email_norm: str) -> bool:
        return bool(await conn.fetchval(
            f"INSERT INTO {self.s}.import_people VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true",
            import_id, email_norm))

    async def add_rejections(self, conn: Connection, import_id: str,
                             rejections: Sequence[tuple[int, int, str, str]]) -> None:
        await conn.executemany(
            f"INSERT INTO {self.s}.import_rejections VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            [(import_id, *r) for r in rejections])

    async def advance(self, conn: Connection, import_id: str, position: int, counts: dict[str, int],
                      done: bool) -> None:
        sets = ", ".join(f"{c} = {c} + ${i + 3}" for i, c in enumerate(IMPORT_COUNTS))
        await conn.execute(
            f"UPDATE {self.s}.imports SET position = $2, {sets}, "
            f"status = CASE WHEN ${len(IMPORT_COUNTS) + 3} THEN 'done' ELSE status END, "
            f"finished_at = CASE WHEN ${len(IMPORT_COUNTS) + 3} THEN now() END WHERE import_id = $1",
            import_id, position, *(counts.get(c, 0) for c in IMPORT_COUNTS), done)

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
