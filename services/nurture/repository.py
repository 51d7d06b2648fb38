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
    async def step_backlog(self, conn: Any, now: datetime) -> tuple[int, datetime | None]: ...
    # contacts
    async def upsert_contact(self, conn: Any, lead_id: str, email: str, name: str, company: str, consent: bool,
                             at: datetime) -> None: ...
    async def set_owner(self, conn: Any, lead_id: str, rep_id: str | None, team: str | None,
                        at: datetime) -> None: ...
    async def mark_engaged(self, conn: Any, lead_id: str, at: datetime, replied: bool) -> None: ...
    async def contact(self, conn: Any, lead_id: str) -> Row | None: ...
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
            f"SELECT e.*, {_CONTACT_COLS}, p.grade AS pool_grade, "
            f"EXISTS (SELECT 1 FROM {self.s}.unsubscribes u WHERE u.email = lower(c.email)) AS unsubscribed "
            f"FROM {self.s}.enrollments e LEFT JOIN {self.s}.contacts c USING (lead_id) "
            f"LEFT JOIN {self.s}.pool p USING (lead_id) "
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
            f"SELECT m.*, {_CONTACT_COLS}, c.lead_id AS known, "
            f"EXISTS (SELECT 1 FROM {self.s}.unsubscribes u WHERE u.email = lower(c.email)) AS unsubscribed "
            f"FROM {self.s}.messages m LEFT JOIN {self.s}.contacts c USING (lead_id) "
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
