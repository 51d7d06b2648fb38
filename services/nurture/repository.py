"""Nurture's table (schema ``nurture``): the pool.

:class:`PoolStore` states what nurture's handlers and routes need of it;
:class:`PoolRepository` is the PostgreSQL one and ``tests/fakes.py`` the in-memory twin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from services.nurture.domain.attribution import Credit, Touch
from shared.events import CampaignDefined
from shared.pii import ERASED_TEXT
from shared.privacy import Rows, count, rows_of

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


NurtureTimer = Literal["steps", "mail", "no-shows"]
"""Nurture's three timers: enrolments' next steps, queued email, webinars' no-show marking."""


class ProgramStore(Protocol):
    """Marketing's programs: track versions, enrolments (each with its step timer), the
    messages steps queue, unsubscribes, rep tasks and what nurture knows of each lead."""

    # tracks
    async def lock_tracks(self, conn: Any) -> None:
        """Serialise changes to the tracks until the transaction ends."""
    async def latest_tracks(self, conn: Any) -> Sequence[Row]:
        """The newest version of every track: name, version, document, created_at."""
    async def track_version(self, conn: Any, name: str, version: int) -> Row | None: ...
    async def track_versions(self, conn: Any, name: str) -> Sequence[Row]: ...
    async def add_track(self, conn: Any, name: str, document: dict[str, Any], at: datetime, by: str) -> int:
        """Store ``document`` as the track's next version; returns that version."""
    # enrolments
    async def active_enrollment(self, conn: Any, lead_id: str) -> Row | None: ...
    async def enroll(self, conn: Any, enrollment_id: str, lead_id: str, track: str, version: int,
                     campaign: str | None, at: datetime, due_at: datetime) -> bool:
        """A new active enrolment (False if this id exists: a re-run)."""
    async def end_enrollment(self, conn: Any, enrollment_id: str, status: str, reason: str | None,
                             at: datetime) -> None: ...
    async def due_enrollments(self, conn: Any, now: datetime, limit: int) -> Sequence[Row]:
        """Active enrolments whose timer is due, with the lead's contact columns; locked,
        skipping those another worker holds."""
    async def save_progress(self, conn: Any, enrollment_id: str, status: str, step_index: int, pass_: int,
                            due_at: datetime | None, exit_reason: str | None, at: datetime) -> None:
        """Record one firing of the enrolment's timer and where it stands now."""
    async def enrollments_of(self, conn: Any, lead_id: str) -> Sequence[Row]: ...
    async def list_enrollments(self, conn: Any, track: str | None, campaign: str | None, status: str | None,
                          limit: int) -> Sequence[Row]: ...
    async def step_backlog(self, conn: Any, now: datetime) -> tuple[int, datetime | None]: ...
    async def next_due(self, conn: Any, timer: NurtureTimer) -> datetime | None:
        """When the earliest pending timer of that kind is due (None: none pending)."""
    # contacts
    async def upsert_contact(self, conn: Any, lead_id: str, email: str, name: str, company: str, consent: bool,
                             at: datetime) -> None: ...
    async def upsert_contacts(self, conn: Any, contacts: Sequence[tuple[str, str, str, str, bool, datetime]]) -> None:
        """:meth:`upsert_contact` for many leads at once (lead id, email, name, company,
        consent, when), each lead at most once."""
    async def set_owner(self, conn: Any, lead_id: str, rep_id: str | None, team: str | None,
                        at: datetime) -> None: ...
    async def mark_engaged(self, conn: Any, lead_id: str, at: datetime, replied: bool) -> None: ...
    async def contact(self, conn: Any, lead_id: str) -> Row | None: ...
    async def set_grade(self, conn: Any, lead_id: str, grade: str, at: datetime) -> None: ...
    # webinars
    async def save_webinar(self, conn: Any, campaign_id: str, name: str, starts_at: datetime, ends_at: datetime,
                           no_show_due_at: datetime, at: datetime) -> None:
        """Keep an event campaign's schedule; its no-show timer moves with it until it fired."""
    async def webinar(self, conn: Any, campaign_id: str) -> Row | None: ...
    async def due_webinars(self, conn: Any, now: datetime, limit: int) -> Sequence[Row]:
        """Webinars whose no-show timer is due and has not fired; locked, skipping those
        another worker holds."""
    async def no_shows_marked(self, conn: Any, campaign_id: str, no_shows: int, at: datetime) -> None: ...
    async def no_show_backlog(self, conn: Any, now: datetime) -> tuple[int, datetime | None]: ...
    # messages
    async def queue_message(self, conn: Any, message_id: str, lead_id: str, enrollment_id: str | None,
                            track: str | None, version: int | None, step_id: str | None, campaign: str | None,
                            template: dict[str, Any], at: datetime) -> None: ...
    async def queued_messages(self, conn: Any, now: datetime, limit: int) -> Sequence[Row]:
        """Queued messages due to go, with the recipient's contact and whether the address
        unsubscribed; locked, skipping those another worker holds."""
    async def sent_since(self, conn: Any, emails: Sequence[str], since: datetime) -> dict[str, list[datetime]]: ...
    async def mark_sent(self, conn: Any, message_id: str, to: str, subject: str, links: Sequence[str],
                        at: datetime) -> None: ...
    async def set_message_status(self, conn: Any, message_id: str, status: str, reason: str,
                                 not_before: datetime | None) -> None: ...
    async def message(self, conn: Any, message_id: str) -> Row | None: ...
    async def count_engagement(self, conn: Any, message_id: str, kind: str) -> None: ...
    async def messages_of(self, conn: Any, lead_id: str | None, campaign: str | None, limit: int) -> Sequence[Row]: ...
    # unsubscribes
    async def unsubscribe(self, conn: Any, email: str, lead_id: str | None, message_id: str | None,
                          at: datetime) -> bool: ...
    async def is_unsubscribed(self, conn: Any, email: str) -> bool: ...
    # tasks
    async def add_task(self, conn: Any, task: dict[str, Any]) -> bool: ...
    async def task(self, conn: Any, task_id: str) -> Row | None: ...
    async def tasks(self, conn: Any, rep_id: str | None, team: str | None, campaign: str | None,
                    kind: str | None, status: str | None, limit: int) -> Sequence[Row]: ...
    async def update_task(self, conn: Any, task_id: str, interests: str | None, status: str | None,
                          at: datetime) -> Row | None: ...


_CONTACT_COLS = ("c.email, c.name, c.company, c.consent, c.rep_id, c.team, c.engaged_at, c.replied_at")


class ProgramRepository:
    """Programs in PostgreSQL: ``ProgramRepository(schema).method(conn, ...)``."""

    def __init__(self, schema: str = "nurture") -> None:
        self.s = schema

    async def lock_tracks(self, conn: Connection) -> None:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{self.s}.tracks")

    async def latest_tracks(self, conn: Connection) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT DISTINCT ON (name) name, version, document, created_at, created_by FROM {self.s}.tracks "
            "ORDER BY name, version DESC")
        return rows

    async def track_version(self, conn: Connection, name: str, version: int) -> Row | None:
        row: Row | None = await conn.fetchrow(
            f"SELECT * FROM {self.s}.tracks WHERE name = $1 AND version = $2", name, version)
        return row

    async def track_versions(self, conn: Connection, name: str) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT * FROM {self.s}.tracks WHERE name = $1 ORDER BY version", name)
        return rows

    async def add_track(self, conn: Connection, name: str, document: dict[str, Any], at: datetime, by: str) -> int:
        await self.lock_tracks(conn)
        version: int = await conn.fetchval(
            f"INSERT INTO {self.s}.tracks(name, version, document, created_at, created_by) "
            f"SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4 FROM {self.s}.tracks WHERE name = $1 "
            "RETURNING version", name, document, at, by)
        return version

    async def active_enrollment(self, conn: Connection, lead_id: str) -> Row | None:
        row: Row | None = await conn.fetchrow(
            f"SELECT * FROM {self.s}.enrollments WHERE lead_id = $1 AND status = 'active'", lead_id)
        return row

    async def enroll(self, conn: Connection, enrollment_id: str, lead_id: str, track: str, version: int,
                     campaign: str | None, at: datetime, due_at: datetime) -> bool:
        result = await conn.execute(
            f"INSERT INTO {self.s}.enrollments(enrollment_id, lead_id, track, version, status, due_at, campaign, "
            "entered_at, updated_at) VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $7) "
            "ON CONFLICT (enrollment_id) DO NOTHING", enrollment_id, lead_id, track, version, due_at, campaign, at)
        return bool(result.endswith(" 1"))

    async def end_enrollment(self, conn: Connection, enrollment_id: str, status: str, reason: str | None,
                             at: datetime) -> None:
        await conn.execute(
            f"UPDATE {self.s}.enrollments SET status = $2, exit_reason = $3, due_at = NULL, updated_at = $4 "
            "WHERE enrollment_id = $1 AND status = 'active'", enrollment_id, status, reason, at)

    async def due_enrollments(self, conn: Connection, now: datetime, limit: int) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT e.*, {_CONTACT_COLS}, coalesce(p.grade, c.grade) AS pool_grade, "
            "coalesce(w.name, e.campaign) AS campaign_name, "
            f"EXISTS (SELECT 1 FROM {self.s}.unsubscribes u WHERE u.email = lower(c.email)) AS unsubscribed "
            f"FROM {self.s}.enrollments e LEFT JOIN {self.s}.contacts c USING (lead_id) "
            f"LEFT JOIN {self.s}.pool p USING (lead_id) LEFT JOIN {self.s}.webinars w ON w.campaign_id = e.campaign "
            "WHERE e.status = 'active' AND e.due_at <= $1 ORDER BY e.due_at LIMIT $2 FOR UPDATE OF e SKIP LOCKED",
            now, limit)
        return rows

    async def save_progress(self, conn: Connection, enrollment_id: str, status: str, step_index: int, pass_: int,
                            due_at: datetime | None, exit_reason: str | None, at: datetime) -> None:
        await conn.execute(
            f"UPDATE {self.s}.enrollments SET status = $2, step_index = $3, pass = $4, due_at = $5, "
            "exit_reason = $6, updated_at = $7, fired = fired + 1 WHERE enrollment_id = $1",
            enrollment_id, status, step_index, pass_, due_at, exit_reason, at)

    async def enrollments_of(self, conn: Connection, lead_id: str) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT * FROM {self.s}.enrollments WHERE lead_id = $1 ORDER BY entered_at", lead_id)
        return rows

    async def list_enrollments(self, conn: Connection, track: str | None, campaign: str | None, status: str | None,
                          limit: int) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT * FROM {self.s}.enrollments WHERE ($1::text IS NULL OR track = $1) "
            "AND ($2::text IS NULL OR campaign = $2) AND ($3::text IS NULL OR status = $3) "
            "ORDER BY entered_at, enrollment_id LIMIT $4", track, campaign, status, limit)
        return rows

    async def next_due(self, conn: Connection, timer: NurtureTimer) -> datetime | None:
        table, due, pending = {
            "steps": ("enrollments", "due_at", "status = 'active'"),
            "mail": ("messages", "not_before", "status = 'queued'"),
            "no-shows": ("webinars", "no_show_due_at", "no_shows_marked_at IS NULL")}[timer]
        found: datetime | None = await conn.fetchval(f"SELECT min({due}) FROM {self.s}.{table} WHERE {pending}")
        return found

    async def step_backlog(self, conn: Connection, now: datetime) -> tuple[int, datetime | None]:
        r = await conn.fetchrow(
            f"SELECT count(*) AS n, min(due_at) AS oldest FROM {self.s}.enrollments "
            "WHERE status = 'active' AND due_at <= $1", now)
        return int(r["n"]), r["oldest"]

    async def upsert_contact(self, conn: Connection, lead_id: str, email: str, name: str, company: str,
                             consent: bool, at: datetime) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.contacts(lead_id, email, name, company, consent, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (lead_id) DO UPDATE SET email = $2, name = $3, "
            "company = $4, consent = $5, updated_at = $6", lead_id, email, name, company, consent, at)

    async def upsert_contacts(self, conn: Connection,
                              contacts: Sequence[tuple[str, str, str, str, bool, datetime]]) -> None:
        if contacts:
            await conn.execute(
                f"INSERT INTO {self.s}.contacts(lead_id, email, name, company, consent, updated_at) "
                "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[], "
                "$6::timestamptz[]) ON CONFLICT (lead_id) DO UPDATE SET email = excluded.email, "
                "name = excluded.name, company = excluded.company, consent = excluded.consent, "
                "updated_at = excluded.updated_at", *map(list, zip(*contacts, strict=True)))

    async def set_owner(self, conn: Connection, lead_id: str, rep_id: str | None, team: str | None,
                        at: datetime) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.contacts(lead_id, rep_id, team, updated_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (lead_id) DO UPDATE SET rep_id = $2, team = $3, updated_at = $4", lead_id, rep_id, team, at)

    async def mark_engaged(self, conn: Connection, lead_id: str, at: datetime, replied: bool) -> None:
        column = "replied_at" if replied else "engaged_at"
        await conn.execute(
            f"INSERT INTO {self.s}.contacts(lead_id, {column}, updated_at) VALUES ($1, $2, $2) "
            f"ON CONFLICT (lead_id) DO UPDATE SET {column} = greatest(contacts.{column}, $2), updated_at = $2",
            lead_id, at)

    async def contact(self, conn: Connection, lead_id: str) -> Row | None:
        row: Row | None = await conn.fetchrow(f"SELECT * FROM {self.s}.contacts WHERE lead_id = $1", lead_id)
        return row

    async def set_grade(self, conn: Connection, lead_id: str, grade: str, at: datetime) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.contacts(lead_id, grade, updated_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (lead_id) DO UPDATE SET grade = $2, updated_at = $3", lead_id, grade, at)

    async def save_webinar(self, conn: Connection, campaign_id: str, name: str, starts_at: datetime,
                           ends_at: datetime, no_show_due_at: datetime, at: datetime) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.webinars(campaign_id, name, event_starts_at, event_ends_at, no_show_due_at, "
            "updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (campaign_id) DO UPDATE SET name = $2, "
            "event_starts_at = $3, event_ends_at = $4, updated_at = $6, no_show_due_at = CASE WHEN "
            "webinars.no_shows_marked_at IS NULL THEN $5 ELSE webinars.no_show_due_at END",
            campaign_id, name, starts_at, ends_at, no_show_due_at, at)

    async def webinar(self, conn: Connection, campaign_id: str) -> Row | None:
        row: Row | None = await conn.fetchrow(f"SELECT * FROM {self.s}.webinars WHERE campaign_id = $1", campaign_id)
        return row

    async def due_webinars(self, conn: Connection, now: datetime, limit: int) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT * FROM {self.s}.webinars WHERE no_shows_marked_at IS NULL AND no_show_due_at <= $1 "
            "ORDER BY no_show_due_at LIMIT $2 FOR UPDATE SKIP LOCKED", now, limit)
        return rows

    async def no_shows_marked(self, conn: Connection, campaign_id: str, no_shows: int, at: datetime) -> None:
        await conn.execute(f"UPDATE {self.s}.webinars SET no_shows_marked_at = $2, no_shows = $3 "
                           "WHERE campaign_id = $1", campaign_id, at, no_shows)

    async def no_show_backlog(self, conn: Connection, now: datetime) -> tuple[int, datetime | None]:
        r = await conn.fetchrow(f"SELECT count(*) AS n, min(no_show_due_at) AS oldest FROM {self.s}.webinars "
                                "WHERE no_shows_marked_at IS NULL AND no_show_due_at <= $1", now)
        return int(r["n"]), r["oldest"]

    async def queue_message(self, conn: Connection, message_id: str, lead_id: str, enrollment_id: str | None,
                            track: str | None, version: int | None, step_id: str | None, campaign: str | None,
                            template: dict[str, Any], at: datetime) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.messages(message_id, lead_id, enrollment_id, track, version, step_id, campaign, "
            "template, status, created_at, not_before) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9, $9) "
            "ON CONFLICT (message_id) DO NOTHING",
            message_id, lead_id, enrollment_id, track, version, step_id, campaign, template, at)

    async def queued_messages(self, conn: Connection, now: datetime, limit: int) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT m.*, {_CONTACT_COLS}, c.lead_id AS known, coalesce(w.name, m.campaign) AS campaign_name, "
            f"EXISTS (SELECT 1 FROM {self.s}.unsubscribes u WHERE u.email = lower(c.email)) AS unsubscribed "
            f"FROM {self.s}.messages m LEFT JOIN {self.s}.contacts c USING (lead_id) "
            f"LEFT JOIN {self.s}.webinars w ON w.campaign_id = m.campaign "
            "WHERE m.status = 'queued' AND m.not_before <= $1 ORDER BY m.not_before LIMIT $2 "
            "FOR UPDATE OF m SKIP LOCKED", now, limit)
        return rows

    async def sent_since(self, conn: Connection, emails: Sequence[str], since: datetime) -> dict[str, list[datetime]]:
        rows = await conn.fetch(
            f"SELECT lower(to_email) AS email, sent_at FROM {self.s}.messages "
            "WHERE status = 'sent' AND lower(to_email) = ANY($1::text[]) AND sent_at > $2",
            [e.lower() for e in emails], since)
        out: dict[str, list[datetime]] = {}
        for r in rows:
            out.setdefault(r["email"], []).append(r["sent_at"])
        return out

    async def mark_sent(self, conn: Connection, message_id: str, to: str, subject: str, links: Sequence[str],
                        at: datetime) -> None:
        await conn.execute(
            f"UPDATE {self.s}.messages SET status = 'sent', sent_at = $2, to_email = $3, subject = $4, links = $5, "
            "reason = NULL WHERE message_id = $1", message_id, at, to, subject, list(links))

    async def set_message_status(self, conn: Connection, message_id: str, status: str, reason: str,
                                 not_before: datetime | None) -> None:
        await conn.execute(
            f"UPDATE {self.s}.messages SET status = $2, reason = $3, not_before = coalesce($4, not_before) "
            "WHERE message_id = $1", message_id, status, reason, not_before)

    async def message(self, conn: Connection, message_id: str) -> Row | None:
        row: Row | None = await conn.fetchrow(f"SELECT * FROM {self.s}.messages WHERE message_id = $1", message_id)
        return row

    async def count_engagement(self, conn: Connection, message_id: str, kind: str) -> None:
        column = "opens" if kind == "email_open" else "clicks"
        await conn.execute(f"UPDATE {self.s}.messages SET {column} = {column} + 1 WHERE message_id = $1", message_id)

    async def messages_of(self, conn: Connection, lead_id: str | None, campaign: str | None,
                          limit: int) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT message_id, lead_id, enrollment_id, track, version, step_id, campaign, status, reason, "
            f"created_at, sent_at, to_email, subject, opens, clicks FROM {self.s}.messages "
            "WHERE ($1::text IS NULL OR lead_id = $1) AND ($2::text IS NULL OR campaign = $2) "
            "ORDER BY created_at LIMIT $3", lead_id, campaign, limit)
        return rows

    async def unsubscribe(self, conn: Connection, email: str, lead_id: str | None, message_id: str | None,
                          at: datetime) -> bool:
        result = await conn.execute(
            f"INSERT INTO {self.s}.unsubscribes(email, lead_id, message_id, at) VALUES (lower($1), $2, $3, $4) "
            "ON CONFLICT (email) DO NOTHING", email, lead_id, message_id, at)
        return bool(result.endswith(" 1"))

    async def is_unsubscribed(self, conn: Connection, email: str) -> bool:
        return bool(await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {self.s}.unsubscribes WHERE email = lower($1))",
                                        email))

    async def add_task(self, conn: Connection, task: dict[str, Any]) -> bool:
        result = await conn.execute(
            f"INSERT INTO {self.s}.tasks(task_id, lead_id, kind, title, rep_id, team, due_at, campaign, "
            "enrollment_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
            "ON CONFLICT (task_id) DO NOTHING",
            task["task_id"], task["lead_id"], task["kind"], task["title"], task.get("rep_id"), task.get("team"),
            task["due_at"], task.get("campaign"), task.get("enrollment_id"), task["created_at"])
        return bool(result.endswith(" 1"))

    async def task(self, conn: Connection, task_id: str) -> Row | None:
        row: Row | None = await conn.fetchrow(f"SELECT * FROM {self.s}.tasks WHERE task_id = $1", task_id)
        return row

    async def tasks(self, conn: Connection, rep_id: str | None, team: str | None, campaign: str | None,
                    kind: str | None, status: str | None, limit: int) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT t.*, c.email, c.name, c.company FROM {self.s}.tasks t LEFT JOIN {self.s}.contacts c "
            "USING (lead_id) WHERE ($1::text IS NULL OR t.rep_id = $1) AND ($2::text IS NULL OR t.team = $2) "
            "AND ($3::text IS NULL OR t.campaign = $3) AND ($4::text IS NULL OR t.kind = $4) "
            "AND ($5::text IS NULL OR t.status = $5) ORDER BY t.due_at, t.task_id LIMIT $6",
            rep_id, team, campaign, kind, status, limit)
        return rows

    async def update_task(self, conn: Connection, task_id: str, interests: str | None, status: str | None,
                          at: datetime) -> Row | None:
        row: Row | None = await conn.fetchrow(
            f"UPDATE {self.s}.tasks SET interests = coalesce($2, interests), status = coalesce($3, status), "
            "done_at = CASE WHEN $3 = 'done' THEN coalesce(done_at, $4) ELSE done_at END "
            "WHERE task_id = $1 RETURNING *", task_id, interests, status, at)
        return row


# --------------------------------------------------------------------------- campaigns

MEMBER_COLUMNS = ("joined_at", "invited_at", "registered_at", "attended_at", "no_show_at", "visited_at",
                  "followed_up_at", "opportunity_at", "won_at", "lost_at")


@dataclass(frozen=True)
class MemberChange:
    """One member's step, as the handler decided it: ``status`` the new status (None: it
    stays), ``stamps`` the step columns whose moment to keep if empty, ``clear`` a step
    column to empty."""

    campaign_id: str
    lead_id: str
    at: datetime
    status: str | None
    stamps: tuple[str, ...]
    clear: str | None = None
    new_lead: bool = False
    channel: str | None = None
    on_time: bool | None = None


@dataclass(frozen=True)
class TouchRow:
    touch_id: str
    lead_id: str
    campaign_id: str
    at: datetime
    channel: str


@dataclass(frozen=True)
class DealRow:
    opportunity_id: str
    lead_id: str
    status: str
    stage: str | None
    amount_minor: int | None
    currency: str | None
    opened_at: datetime | None
    closed_at: datetime | None
    at: datetime


class CampaignStore(Protocol):
    """Campaigns, the leads nurture knows, campaign members with their steps, touches,
    deals and attribution credits."""

    async def get_campaign(self, conn: Any, campaign_id: str) -> Row | None:
        """The campaign's current definition, or None."""

    async def list_campaigns(self, conn: Any) -> Sequence[Row]:
        """Every campaign, newest start first."""

    async def save_campaign(self, conn: Any, defined: CampaignDefined) -> None:
        """Store a (re)definition."""

    async def remember_leads(self, conn: Any, leads: Sequence[tuple[str, str, bool, datetime]]) -> None:
        """Leads heard of (id, normalised email, consent, when): new ones added, known ones' consent updated."""

    async def lead_ids_by_email(self, conn: Any, emails: Sequence[str]) -> dict[str, str]:
        """Normalised email -> lead id, for the emails of known leads."""

    async def known_leads(self, conn: Any, lead_ids: Sequence[str]) -> set[str]:
        """Which of these lead ids nurture has heard of."""

    async def set_grades(self, conn: Any, grades: Sequence[tuple[str, str]]) -> None:
        """Each lead's latest grade, on the lead and its memberships."""

    async def members_of_lead(self, conn: Any, lead_id: str) -> Sequence[Row]:
        """The lead's memberships (``campaign_id``, ``status``, ``campaign_type``), locked."""

    async def member(self, conn: Any, campaign_id: str, lead_id: str) -> Row | None:
        """One membership, locked for this transaction, or None."""

    async def apply(self, conn: Any, change: MemberChange) -> None:
        """Insert the membership or move it (see :class:`MemberChange`)."""

    async def list_members(self, conn: Any, campaign_id: str, status: str | None, limit: int,
                           offset: int) -> Sequence[Row]:
        """A campaign's members, by lead id."""

    async def lead_ids_at(self, conn: Any, campaign_id: str, status: str) -> list[str]:
        """The leads whose furthest step in the campaign is ``status``."""

    async def add_touches(self, conn: Any, touches: Sequence[TouchRow]) -> list[TouchRow]:
        """Record touches; returns those not already recorded."""

    async def touches_of(self, conn: Any, lead_ids: Sequence[str]) -> dict[str, list[Touch]]:
        """Every touch of these leads."""

    async def save_deal(self, conn: Any, deal: DealRow) -> None:
        """The opportunity as it stands now (fields not given keep their value)."""

    async def won_deals(self, conn: Any, lead_ids: Sequence[str] | None = None) -> Sequence[Row]:
        """Won deals (of these leads, or all)."""

    async def replace_credits(self, conn: Any, opportunity_ids: Sequence[str], credits: Sequence[Credit],
                              closing: Mapping[str, tuple[str, datetime]]) -> None:
        """The credits of these deals are now ``credits`` (``closing``: each deal's currency and close)."""

    async def report(self, conn: Any, campaign_id: str, currency: str) -> Row:
        """The campaign's figures, aggregated in the database: members, new leads, grades,
        each step's count, follow-ups within SLA; its members' opportunities, won deals
        and revenue in ``currency``; credits per model in ``currency``."""

    async def period(self, conn: Any, since: datetime, until: datetime) -> Sequence[Row]:
        """Credited revenue of deals closed in [since, until) by model, campaign type,
        channel and currency."""

    async def period_costs(self, conn: Any, since: datetime, until: datetime) -> Sequence[Row]:
        """The cost of the campaigns running in [since, until) by campaign type and currency."""

    async def status_counts(self, conn: Any) -> Sequence[Row]:
        """Members per (campaign, status)."""

    async def closed_revenue(self, conn: Any) -> Sequence[Row]:
        """Won revenue of each campaign's members per currency."""


_REPORT = """
WITH m AS (
    SELECT count(*) AS members, count(*) FILTER (WHERE new_lead) AS new_leads,
           count(*) FILTER (WHERE grade = 'A') AS grade_a, count(*) FILTER (WHERE grade = 'B') AS grade_b,
           count(*) FILTER (WHERE grade = 'C') AS grade_c, count(*) FILTER (WHERE grade = 'D') AS grade_d,
           count(joined_at) AS joined, count(invited_at) AS invited, count(registered_at) AS registered,
           count(attended_at) AS attended, count(no_show_at) AS no_show, count(visited_at) AS visited,
           count(followed_up_at) AS followed_up, count(*) FILTER (WHERE followed_up_on_time) AS followed_up_on_time,
           count(opportunity_at) AS opportunity, count(won_at) AS won, count(lost_at) AS lost
    FROM {s}.members WHERE campaign_id = $1),
d AS (
    SELECT count(*) AS opportunities, count(*) FILTER (WHERE d.status = 'won') AS won_deals,
           count(*) FILTER (WHERE d.status = 'lost') AS lost_deals,
           coalesce(sum(d.amount_minor) FILTER (WHERE d.status = 'won' AND d.currency = $2), 0) AS closed_revenue_minor,
           count(*) FILTER (WHERE d.status = 'won' AND d.currency IS DISTINCT FROM $2) AS won_in_other_currencies
    FROM {s}.deals d WHERE d.lead_id IN (SELECT lead_id FROM {s}.members WHERE campaign_id = $1)),
c AS (
    SELECT coalesce(jsonb_object_agg(model, credit_minor), '{{}}'::jsonb) AS credited
    FROM {s}.credit_totals WHERE campaign_id = $1 AND currency = $2)
SELECT * FROM m, d, c
"""


class CampaignRepository:
    """Campaign tables in PostgreSQL: ``CampaignRepository(schema).method(conn, ...)``."""

    def __init__(self, schema: str = "nurture") -> None:
        self.s = schema

    async def get_campaign(self, conn: Connection, campaign_id: str) -> Row | None:
        row: Row | None = await conn.fetchrow(f"SELECT * FROM {self.s}.campaigns WHERE campaign_id = $1", campaign_id)
        return row

    async def list_campaigns(self, conn: Connection) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(f"SELECT * FROM {self.s}.campaigns ORDER BY starts_at DESC, campaign_id")
        return rows

    async def save_campaign(self, conn: Connection, d: CampaignDefined) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.campaigns VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) "
            "ON CONFLICT (campaign_id) DO UPDATE SET version = $2, name = $3, type = $4, owner = $5, starts_at = $6, "
            "ends_at = $7, cost_minor = $8, currency = $9, goal = $10, event_starts_at = $11, event_ends_at = $12, "
            "time_zone = $13, registration_url = $14, defined_at = $15",
            d.campaign_id, d.version, d.name, d.type.value, d.owner, d.starts_at, d.ends_at, d.cost_minor, d.currency,
            d.goal, d.event_starts_at, d.event_ends_at, d.time_zone, d.registration_url, d.occurred_at)

    async def remember_leads(self, conn: Connection, leads: Sequence[tuple[str, str, bool, datetime]]) -> None:
        if leads:
            await conn.execute(
                f"INSERT INTO {self.s}.leads(lead_id, email_norm, consent, first_seen) "
                "SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::timestamptz[]) "
                "ON CONFLICT (lead_id) DO UPDATE SET consent = excluded.consent, email_norm = excluded.email_norm",
                *map(list, zip(*leads, strict=True)))

    async def lead_ids_by_email(self, conn: Connection, emails: Sequence[str]) -> dict[str, str]:
        rows = await conn.fetch(f"SELECT email_norm, lead_id FROM {self.s}.leads WHERE email_norm = ANY($1::text[])",
                                list(emails))
        return {r["email_norm"]: r["lead_id"] for r in rows}

    async def known_leads(self, conn: Connection, lead_ids: Sequence[str]) -> set[str]:
        rows = await conn.fetch(f"SELECT lead_id FROM {self.s}.leads WHERE lead_id = ANY($1::text[])", list(lead_ids))
        return {r["lead_id"] for r in rows}

    async def set_grades(self, conn: Connection, grades: Sequence[tuple[str, str]]) -> None:
        if not grades:
            return
        latest = dict(grades)  # the last grade of a lead in the batch wins
        ids, values = list(latest), list(latest.values())
        await conn.execute(f"UPDATE {self.s}.leads l SET grade = g.grade FROM unnest($1::text[], $2::text[]) "
                           "AS g(lead_id, grade) WHERE l.lead_id = g.lead_id", ids, values)
        await conn.execute(f"UPDATE {self.s}.members m SET grade = g.grade FROM unnest($1::text[], $2::text[]) "
                           "AS g(lead_id, grade) WHERE m.lead_id = g.lead_id AND m.grade IS DISTINCT FROM g.grade",
                           ids, values)

    async def members_of_lead(self, conn: Connection, lead_id: str) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT m.campaign_id, m.status, c.type AS campaign_type FROM {self.s}.members m "
            f"JOIN {self.s}.campaigns c USING (campaign_id) WHERE m.lead_id = $1 ORDER BY m.campaign_id "
            "FOR UPDATE OF m", lead_id)
        return rows

    async def member(self, conn: Connection, campaign_id: str, lead_id: str) -> Row | None:
        row: Row | None = await conn.fetchrow(
            f"SELECT * FROM {self.s}.members WHERE campaign_id = $1 AND lead_id = $2 FOR UPDATE", campaign_id, lead_id)
        return row

    async def apply(self, conn: Connection, ch: MemberChange) -> None:
        stamps = [c for c in ch.stamps if c != "joined_at"]
        cols = ", ".join(stamps)
        values = ", ".join("$3" for _ in stamps)
        sets = "".join(f", {c} = coalesce(m.{c}, $3)" for c in stamps)
        if ch.clear:
            sets += f", {ch.clear} = NULL"
        await conn.execute(
            f"INSERT INTO {self.s}.members AS m (campaign_id, lead_id, status, new_lead, channel, grade, joined_at, "
            f"followed_up_on_time, updated_at{', ' + cols if cols else ''}) "
            f"SELECT $1, $2, coalesce($4, 'joined'), $5, $6, (SELECT grade FROM {self.s}.leads WHERE lead_id = $2), "
            f"$3, $7, $3{', ' + values if values else ''} "
            "ON CONFLICT (campaign_id, lead_id) DO UPDATE SET status = coalesce($4, m.status), updated_at = $3, "
            "new_lead = m.new_lead OR $5, channel = coalesce(m.channel, $6), "
            f"followed_up_on_time = coalesce(m.followed_up_on_time, $7){sets}",
            ch.campaign_id, ch.lead_id, ch.at, ch.status, ch.new_lead, ch.channel, ch.on_time)

    async def list_members(self, conn: Connection, campaign_id: str, status: str | None, limit: int,
                           offset: int) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT * FROM {self.s}.members WHERE campaign_id = $1 AND ($2::text IS NULL OR status = $2) "
            "ORDER BY lead_id LIMIT $3 OFFSET $4", campaign_id, status, limit, offset)
        return rows

    async def lead_ids_at(self, conn: Connection, campaign_id: str, status: str) -> list[str]:
        rows = await conn.fetch(f"SELECT lead_id FROM {self.s}.members WHERE campaign_id = $1 AND status = $2 "
                                "ORDER BY lead_id", campaign_id, status)
        return [r["lead_id"] for r in rows]

    async def add_touches(self, conn: Connection, touches: Sequence[TouchRow]) -> list[TouchRow]:
        if not touches:
            return []
        rows = await conn.fetch(
            f"INSERT INTO {self.s}.touches SELECT * FROM unnest($1::text[], $2::text[], $3::text[], "
            "$4::timestamptz[], $5::text[]) ON CONFLICT DO NOTHING RETURNING touch_id",
            [t.touch_id for t in touches], [t.lead_id for t in touches], [t.campaign_id for t in touches],
            [t.at for t in touches], [t.channel for t in touches])
        new = {r["touch_id"] for r in rows}
        return [t for t in touches if t.touch_id in new]

    async def touches_of(self, conn: Connection, lead_ids: Sequence[str]) -> dict[str, list[Touch]]:
        rows = await conn.fetch(f"SELECT lead_id, campaign_id, at, channel FROM {self.s}.touches "
                                "WHERE lead_id = ANY($1::text[])", list(lead_ids))
        out: dict[str, list[Touch]] = {}
        for r in rows:
            out.setdefault(r["lead_id"], []).append(Touch(r["campaign_id"], r["at"], r["channel"]))
        return out

    async def save_deal(self, conn: Connection, d: DealRow) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.deals AS d VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
            "ON CONFLICT (opportunity_id) DO UPDATE SET lead_id = $2, "
            "status = CASE WHEN d.status = 'won' THEN d.status ELSE $3 END, stage = coalesce($4, d.stage), "
            "amount_minor = coalesce($5, d.amount_minor), currency = coalesce($6, d.currency), "
            "opened_at = coalesce(d.opened_at, $7), closed_at = coalesce($8, d.closed_at), updated_at = $9",
            d.opportunity_id, d.lead_id, d.status, d.stage, d.amount_minor, d.currency, d.opened_at, d.closed_at, d.at)

    async def won_deals(self, conn: Connection, lead_ids: Sequence[str] | None = None) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT * FROM {self.s}.deals WHERE status = 'won' AND ($1::text[] IS NULL OR lead_id = ANY($1::text[]))",
            None if lead_ids is None else list(lead_ids))
        return rows

    async def replace_credits(self, conn: Connection, opportunity_ids: Sequence[str], credits: Sequence[Credit],
                              closing: Mapping[str, tuple[str, datetime]]) -> None:
        gone = await conn.fetch(
            f"WITH gone AS (DELETE FROM {self.s}.credits WHERE opportunity_id = ANY($1::text[]) "
            "RETURNING campaign_id, model, currency, credit_minor) "
            "SELECT campaign_id, model, currency, sum(credit_minor)::bigint AS minor FROM gone GROUP BY 1, 2, 3",
            list(opportunity_ids))
        delta: dict[tuple[str, str, str], int] = {}
        for r in gone:
            key = (r["campaign_id"], r["model"], r["currency"])
            delta[key] = delta.get(key, 0) - int(r["minor"])
        records = []
        for c in credits:
            currency, closed = closing[c.opportunity_id]
            records.append((c.opportunity_id, c.model, c.campaign_id, c.channel, c.credit_minor, currency, closed))
            key = (c.campaign_id, c.model, currency)
            delta[key] = delta.get(key, 0) + c.credit_minor
        if records:
            await conn.copy_records_to_table("credits", schema_name=self.s, records=records)
        changed = sorted((k, v) for k, v in delta.items() if v)  # one order for every writer: no deadlock
        if changed:
            await conn.execute(
                f"INSERT INTO {self.s}.credit_totals AS t SELECT * FROM unnest($1::text[], $2::text[], $3::text[], "
                "$4::bigint[]) ON CONFLICT (campaign_id, model, currency) "
                "DO UPDATE SET credit_minor = t.credit_minor + excluded.credit_minor",
                [k[0] for k, _ in changed], [k[1] for k, _ in changed], [k[2] for k, _ in changed],
                [v for _, v in changed])

    async def report(self, conn: Connection, campaign_id: str, currency: str) -> Row:
        row: Row = await conn.fetchrow(_REPORT.format(s=self.s), campaign_id, currency)
        return row

    async def period(self, conn: Connection, since: datetime, until: datetime) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            "SELECT cr.model, c.type AS campaign_type, cr.channel, cr.currency, "
            "sum(cr.credit_minor) AS credited_minor, "
            "count(DISTINCT cr.opportunity_id) AS deals, count(DISTINCT cr.campaign_id) AS campaigns "
            f"FROM {self.s}.credits cr JOIN {self.s}.campaigns c USING (campaign_id) "
            "WHERE cr.closed_at >= $1 AND cr.closed_at < $2 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4", since, until)
        return rows

    async def period_costs(self, conn: Connection, since: datetime, until: datetime) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT type AS campaign_type, currency, sum(cost_minor) AS cost_minor, count(*) AS campaigns "
            f"FROM {self.s}.campaigns WHERE starts_at < $2 AND (ends_at IS NULL OR ends_at >= $1) "
            "GROUP BY 1, 2 ORDER BY 1, 2", since, until)
        return rows

    async def status_counts(self, conn: Connection) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT campaign_id, status, count(*) AS members FROM {self.s}.members GROUP BY 1, 2")
        return rows

    async def closed_revenue(self, conn: Connection) -> Sequence[Row]:
        rows: Sequence[Row] = await conn.fetch(
            f"SELECT m.campaign_id, d.currency, sum(d.amount_minor) AS revenue_minor FROM {self.s}.members m "
            f"JOIN {self.s}.deals d ON d.lead_id = m.lead_id WHERE d.status = 'won' GROUP BY 1, 2")
        return rows


class NurtureSubjects:
    """What nurture holds about a person (``shared.privacy.SubjectData``): the contact
    (address, name, consent), its pool entry and enrolments, the messages sent or queued
    for it, rep tasks about it, its campaign memberships, touches and deals. Erasure
    blanks the person (address, name, subjects, templates, task titles and interests) and
    drops their unsubscribe; memberships, touches, deals and message counts stay, so the
    campaign reports and the revenue credited are unchanged."""

    def __init__(self, schema: str = "nurture") -> None:
        self.s = schema

    async def export(self, conn: Connection, lead_id: str) -> Rows:
        return await rows_of(conn, self.s, ("contacts", "leads", "pool", "enrollments", "messages", "tasks",
                                            "members", "touches", "deals", "unsubscribes"), lead_id)

    async def erase(self, conn: Connection, lead_id: str) -> int:
        email = await conn.fetchval(f"SELECT email FROM {self.s}.contacts WHERE lead_id = $1", lead_id)
        statements = [
            (f"DELETE FROM {self.s}.unsubscribes WHERE lead_id = $1 OR email = lower($2::text)", (lead_id, email)),
            (f"UPDATE {self.s}.contacts SET email = NULL, name = NULL, company = NULL, consent = false "
             "WHERE lead_id = $1", (lead_id,)),
            (f"UPDATE {self.s}.leads SET email_norm = 'erased:' || lead_id, consent = false WHERE lead_id = $1",
             (lead_id,)),
            (f"UPDATE {self.s}.messages SET to_email = NULL, subject = $2, template = '{{}}'::jsonb, "
             "links = '[]'::jsonb WHERE lead_id = $1", (lead_id, ERASED_TEXT)),
            (f"UPDATE {self.s}.tasks SET title = $2, interests = '' WHERE lead_id = $1", (lead_id, ERASED_TEXT)),
        ]
        return sum([count(await conn.execute(sql, *args)) for sql, args in statements])

    async def withdraw_consent(self, conn: Connection, lead_id: str, at: datetime) -> int:
        """Nothing more is sent or asked for the person: no consent, the track left,
        queued email suppressed, open tasks (track calls, pre-event calls) cancelled."""
        await conn.execute(f"UPDATE {self.s}.contacts SET consent = false, updated_at = $2 WHERE lead_id = $1",
                           lead_id, at)
        await conn.execute(f"UPDATE {self.s}.leads SET consent = false WHERE lead_id = $1", lead_id)
        statements = [
            f"UPDATE {self.s}.enrollments SET status = 'exited', exit_reason = 'consent-withdrawn', due_at = NULL, "
            "updated_at = $2 WHERE lead_id = $1 AND status = 'active'",
            f"UPDATE {self.s}.messages SET status = 'suppressed', reason = 'consent withdrawn' "
            "WHERE lead_id = $1 AND status = 'queued' AND $2::timestamptz IS NOT NULL",
            f"UPDATE {self.s}.tasks SET status = 'cancelled', done_at = $2 WHERE lead_id = $1 AND status = 'open'",
        ]
        return sum([count(await conn.execute(sql, lead_id, at)) for sql in statements])
