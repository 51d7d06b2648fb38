"""Routing's tables (schema ``routing``): the live configuration, the leads' latest
facts, assignments with their decisions and follow-ups, and the routing state (rep load,
rotation credits, learned account owners).

:class:`RoutingStore` states what routing's handlers need of them; :class:`RoutingRepository`
is the PostgreSQL one (``RoutingRepository(schema).method(conn, ...)``: every method takes
the connection of the caller's unit of work, so reads, writes and emitted events commit
together) and ``tests/fakes.py`` the in-memory twin."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from services.routing.domain.followup import ACTIVE_STATUSES, WORKED_STATUSES
from services.routing.domain.lifecycle import ActiveAssignment
from services.routing.domain.router import LeadFacts, RoutingContext
from shared.privacy import Rows, count, erased_profile_sql, rows_of

if TYPE_CHECKING:  # the driver is needed to run queries, not to name their types
    import asyncpg

Row = Mapping[str, Any]
ScoredItem = tuple[str, LeadFacts, dict[str, Any], datetime]  # event id, facts, profile, occurred at

_ASSIGNMENT_COLUMNS = ("assignment_id", "lead_id", "owner_kind", "rep_id", "team", "rule", "reason", "trigger",
                       "attempt", "chain", "previous_assignment_id", "status", "assigned_at", "due_at", "remind_at")

# chain travels as JSON text: asyncpg would read a list inside a jsonb[] as a second dimension.
_ASSIGNMENT_TYPES = ("text", "text", "text", "text", "text", "text", "text", "text", "int", "text", "text", "text",
                     "timestamptz", "timestamptz", "timestamptz")


def _assignment_values(a: ActiveAssignment) -> tuple[Any, ...]:
    return tuple(getattr(a, c) for c in _ASSIGNMENT_COLUMNS)


@dataclass
class PendingWrites:
    """Rows a unit of work will write, collected so that a batch of leads is saved in a
    few round trips. An assignment closed in the same batch it was made in is closed in
    memory (it is not in the table yet)."""

    assignments: dict[str, ActiveAssignment] = field(default_factory=dict)
    closes: list[tuple[str, str, str, datetime]] = field(default_factory=list)  # id, status, reason, at
    decisions: list[tuple[str, str, datetime, str, str, dict[str, Any]]] = field(default_factory=list)

    def close(self, assignment_id: str, status: str, reason: str, at: datetime) -> None:
        pending = self.assignments.get(assignment_id)
        if pending is not None:
            self.assignments[assignment_id] = replace(pending, status=status)
        else:
            self.closes.append((assignment_id, status, reason, at))


def active_from_row(row: Row) -> ActiveAssignment:
    return ActiveAssignment(row["assignment_id"], row["lead_id"], row["owner_kind"], row["rep_id"], row["team"],
                            row["rule"], row["attempt"], tuple(row["chain"]), row["due_at"], row["status"])


class RoutingStore(Protocol):
    """What routing's handlers need of its tables. Every method takes the caller's
    connection (the unit of work's), so its reads and writes commit with the events."""

    async def lock_routing_state(self, conn: Any) -> None:
        """Serialise changes to rep load and rotation credits (consumer, timers, HTTP,
        replicas) until the transaction ends."""

    async def lock_and_config_versions(self, conn: Any) -> dict[str, int]:
        """``lock_routing_state`` and ``config_versions`` together (the consumer's hot path)."""

    async def config_versions(self, conn: Any) -> dict[str, int]:
        """The live version of each configuration kind ("org", "rules") that exists."""

    async def config_documents(self, conn: Any, for_update: bool = False) -> dict[str, tuple[int, dict[str, Any]]]:
        """Kind → (version, document) of the live configuration; ``for_update`` locks it."""

    async def save_config(self, conn: Any, kind: str, version: int, document: dict[str, Any], change: str,
                          changed_by: str) -> None:
        """Make ``document`` the live ``kind`` at ``version``, and keep it in the history."""

    async def save_scored(self, conn: Any, items: Sequence[ScoredItem]) -> None:
        """Remember each lead's latest facts and profile, and every scoring (the what-if's history)."""

    async def lead(self, conn: Any, lead_id: str) -> Row | None:
        """A lead's latest ``facts`` (a :class:`LeadFacts` document) and ``profile``, or None."""

    async def load_context(self, conn: Any, companies: Iterable[str]) -> RoutingContext:
        """Rep load, rotation credits and the learned owners of ``companies``."""

    async def save_context(self, conn: Any, ctx: RoutingContext) -> None:
        """Write what changed in ``ctx`` (and forget that it changed)."""

    async def active_for(self, conn: Any, lead_ids: Sequence[str]) -> dict[str, ActiveAssignment]:
        """Each lead's current assignment (status in ``ACTIVE_STATUSES``), by lead id."""

    async def assignment(self, conn: Any, assignment_id: str, for_update: bool = False) -> Row | None:
        """One assignment row, or None; ``for_update`` locks it."""

    async def flush(self, conn: Any, writes: PendingWrites) -> None:
        """Write collected closes, then new assignments and their decisions (and clear them)."""

    async def due(self, conn: Any, now: datetime, limit: int) -> list[Row]:
        """Open assignments whose clock ran out by ``now`` (earliest first, at most ``limit``),
        each with its lead's ``facts``, locked; rows another worker holds are skipped."""

    async def reminders_due(self, conn: Any, now: datetime, limit: int) -> list[Row]:
        """Open assignments to remind now (not reminded yet, not due yet), with ``facts``, locked."""

    async def timer_backlog(self, conn: Any, now: datetime) -> dict[str, tuple[int, datetime | None]]:
        """Open assignments whose clock (``due``) or reminder (``reminder``) is due by ``now``
        and not handled yet: how many, and the oldest due time."""

    async def next_due(self, conn: Any) -> datetime | None:
        """When the next open assignment's clock or reminder is due (None: none pending)."""

    async def mark_reminded(self, conn: Any, ids: Sequence[str], at: datetime) -> None:
        """Record that these assignments' owners were reminded."""

    async def mark_followed_up(self, conn: Any, assignment_id: str, at: datetime) -> None:
        """The rep acted: the assignment's clock stops, the lead stays theirs."""

    async def add_follow_up(self, conn: Any, follow_up_id: str, assignment_id: str, lead_id: str, rep_id: str,
                            outcome: str, note: str, on_time: bool, at: datetime,
                            idempotency_key: str | None = None) -> None:
        """Record one follow-up (with the client's idempotency key, if it sent one)."""

    async def follow_up_by_key(self, conn: Any, idempotency_key: str) -> Row | None:
        """The follow-up recorded under this idempotency key, or None."""

    async def rep_loads(self, conn: Any) -> dict[str, int]:
        """Open leads per rep."""

    async def rep_assignments(self, conn: Any, rep_id: str) -> list[Row]:
        """A rep's worked assignments (``WORKED_STATUSES``), with ``facts`` and ``profile``, most urgent first."""

    async def lead_assignments(self, conn: Any, lead_id: str) -> list[Row]:
        """Every assignment a lead had, oldest first."""

    async def lead_decisions(self, conn: Any, lead_id: str) -> list[Row]:
        """Every routing decision about a lead, in order."""

    async def lead_follow_ups(self, conn: Any, lead_id: str) -> list[Row]:
        """Every follow-up recorded on a lead, in order."""

    async def queued(self, conn: Any, per_team: int) -> list[Row]:
        """The oldest ``per_team`` queued assignments of each team, with each team's count (``queued``)."""

    async def next_queued(self, conn: Any, team: str, assignment_id: str | None = None) -> Row | None:
        """The most urgent open queued assignment of ``team`` (earliest due, then longest
        waiting), or the one named by ``assignment_id`` if it still waits there, with its
        lead's ``facts``, locked; rows another worker holds are skipped."""

    async def team_open(self, conn: Any, team: str, limit: int) -> list[Row]:
        """The team's open assignments with a running clock (its reps' and its queue's),
        earliest due first, with ``facts`` and ``profile``."""

    async def clocks_ended(self, conn: Any, team: str, since: datetime) -> list[Row]:
        """The team's follow-up clocks that ended at or after ``since``: ``assignment_id``,
        ``rep_id``, ``ended_at`` and ``on_time`` (the first follow-up's verdict; a clock that
        ran out, ``missed``, is not on time)."""

    async def escalations(self, conn: Any, team: str, since: datetime, limit: int) -> list[Row]:
        """The team's assignments missed at or after ``since``, latest first: the missed one
        (``missed_assignment_id``, ``missed_rep_id``, ``due_at``, ``escalated_at``), the
        lead's ``profile`` and the assignment that replaced it (``assignment_id``,
        ``owner_kind``, ``rep_id``, ``team``, ``attempt``, ``reason``; None if unknown)."""

    async def record_deal(self, conn: Any, assignment_id: str, opportunity_id: str, deal_status: str,
                          amount_minor: int | None, currency: str | None, closed_on: date | None,
                          at: datetime) -> None:
        """Keep the CRM deal's status (``opportunity``, ``won``, ``lost``), amount and close
        date on the assignment it converted."""


class RoutingRepository:
    """Every query routing makes; ``schema`` is the service's schema."""

    def __init__(self, schema: str) -> None:
        self.s = schema
        # One advisory lock serialises changes to rotation credits and rep load between the
        # consumer, the SLA timers and HTTP commands (and between replicas).
        self._lock_id = int.from_bytes(hashlib.sha1(f"{schema}.routing-state".encode()).digest()[:7], "big")

    async def lock_routing_state(self, conn: asyncpg.Connection) -> None:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", self._lock_id)

    # ------------------------------------------------------------------ configuration

    async def lock_and_config_versions(self, conn: asyncpg.Connection) -> dict[str, int]:
        """``lock_routing_state`` and ``config_versions`` in one round trip (the consumer's
        hot path)."""
        rows = await conn.fetch(f"SELECT kind, version FROM (SELECT pg_advisory_xact_lock($1)) AS locked, "
                                f"{self.s}.config", self._lock_id)
        if not rows:  # no configuration row to join with: the lock may not have been taken
            await self.lock_routing_state(conn)
        return {r["kind"]: r["version"] for r in rows}

    async def config_versions(self, conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, int]:
        rows = await conn.fetch(f"SELECT kind, version FROM {self.s}.config")
        return {r["kind"]: r["version"] for r in rows}

    async def config_documents(self, conn: asyncpg.Connection | asyncpg.Pool,
                               for_update: bool = False) -> dict[str, tuple[int, dict[str, Any]]]:
        lock = " FOR UPDATE" if for_update else ""
        rows = await conn.fetch(f"SELECT kind, version, document FROM {self.s}.config{lock}")
        return {r["kind"]: (r["version"], r["document"]) for r in rows}

    async def save_config(self, conn: asyncpg.Connection, kind: str, version: int, document: dict[str, Any],
                          change: str, changed_by: str) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.config(kind, version, document, changed_by) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (kind) DO UPDATE SET version = $2, document = $3, changed_by = $4, changed_at = now()",
            kind, version, document, changed_by)
        await conn.execute(
            f"INSERT INTO {self.s}.config_history(kind, version, document, change, changed_by) "
            "VALUES ($1, $2, $3, $4, $5)", kind, version, document, change, changed_by)

    # ------------------------------------------------------------------ leads

    async def save_scored(self, conn: asyncpg.Connection,
                          items: Sequence[ScoredItem]) -> None:
        """Remember the latest facts of each lead and every scoring (for the what-if)."""
        latest: dict[str, ScoredItem] = {}
        for item in items:  # one row per lead: the batch's last scoring wins
            latest[item[1].lead_id] = item
        rows = list(latest.values())
        # One statement (a data-modifying CTE) for both tables: each round trip counts at
        # 500 leads/s, where a batch is a handful of leads.
        await conn.execute(
            f"WITH history AS (INSERT INTO {self.s}.scored_history(event_id, lead_id, occurred_at, facts) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::jsonb[]) ON CONFLICT DO NOTHING) "
            f"INSERT INTO {self.s}.leads(lead_id, facts, profile, last_event_id, scored_at) "
            "SELECT * FROM unnest($5::text[], $6::jsonb[], $7::jsonb[], $8::text[], $9::timestamptz[]) "
            "ON CONFLICT (lead_id) DO UPDATE SET facts = EXCLUDED.facts, profile = EXCLUDED.profile, "
            "last_event_id = EXCLUDED.last_event_id, scored_at = EXCLUDED.scored_at",
            [i[0] for i in items], [i[1].lead_id for i in items], [i[3] for i in items],
            [i[1].as_dict() for i in items],
            [r[1].lead_id for r in rows], [r[1].as_dict() for r in rows], [r[2] for r in rows],
            [r[0] for r in rows], [r[3] for r in rows])

    async def lead(self, conn: asyncpg.Connection | asyncpg.Pool, lead_id: str) -> Row | None:
        return await conn.fetchrow(f"SELECT * FROM {self.s}.leads WHERE lead_id = $1", lead_id)

    # ------------------------------------------------------------------ routing state

    async def load_context(self, conn: asyncpg.Connection, companies: Iterable[str]) -> RoutingContext:
        """Rep load, rotation credits and the owners of ``companies``, in one round trip."""
        ctx = RoutingContext()
        keys = [c for c in set(companies) if c]
        rows = await conn.fetch(
            f"SELECT 'load' AS kind, rep_id AS k, to_jsonb(open_leads) AS v FROM {self.s}.rep_load "
            f"UNION ALL SELECT 'credits', team, credits FROM {self.s}.rotation "
            f"UNION ALL SELECT 'account', company_key, to_jsonb(rep_id) FROM {self.s}.accounts "
            "WHERE company_key = ANY($1::text[])", keys)
        for r in rows:
            if r["kind"] == "load":
                ctx.load[r["k"]] = int(r["v"])
            elif r["kind"] == "credits":
                ctx.credits[r["k"]] = dict(r["v"])
            else:
                ctx.accounts[r["k"]] = str(r["v"])
        return ctx

    async def rep_loads(self, conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, int]:
        return {r["rep_id"]: r["open_leads"] for r in await conn.fetch(
            f"SELECT rep_id, open_leads FROM {self.s}.rep_load")}

    async def save_context(self, conn: asyncpg.Connection, ctx: RoutingContext) -> None:
        if ctx.changed_teams or ctx.changed_reps or ctx.new_accounts:
            teams, reps = sorted(ctx.changed_teams), sorted(ctx.changed_reps)
            # One statement for the three tables (empty arrays insert nothing).
            await conn.execute(
                f"WITH rotation AS (INSERT INTO {self.s}.rotation(team, credits) "
                "SELECT * FROM unnest($1::text[], $2::jsonb[]) "
                "ON CONFLICT (team) DO UPDATE SET credits = EXCLUDED.credits), "
                f"load AS (INSERT INTO {self.s}.rep_load(rep_id, open_leads) "
                "SELECT * FROM unnest($3::text[], $4::int[]) "
                "ON CONFLICT (rep_id) DO UPDATE SET open_leads = EXCLUDED.open_leads) "
                f"INSERT INTO {self.s}.accounts(company_key, rep_id) SELECT * FROM unnest($5::text[], $6::text[]) "
                "ON CONFLICT DO NOTHING",
                teams, [ctx.credits.get(t, {}) for t in teams], reps, [ctx.load.get(r, 0) for r in reps],
                list(ctx.new_accounts), list(ctx.new_accounts.values()))
        ctx.changed_teams.clear()
        ctx.changed_reps.clear()
        ctx.new_accounts.clear()

    # ------------------------------------------------------------------ assignments

    async def active_for(self, conn: asyncpg.Connection, lead_ids: Sequence[str]) -> dict[str, ActiveAssignment]:
        rows = await conn.fetch(
            f"SELECT * FROM {self.s}.assignments WHERE lead_id = ANY($1::text[]) AND status = ANY($2::text[])",
            list(lead_ids), list(ACTIVE_STATUSES))
        return {r["lead_id"]: active_from_row(r) for r in rows}

    async def assignment(self, conn: asyncpg.Connection | asyncpg.Pool, assignment_id: str,
                         for_update: bool = False) -> Row | None:
        lock = " FOR UPDATE" if for_update else ""
        return await conn.fetchrow(f"SELECT * FROM {self.s}.assignments WHERE assignment_id = $1{lock}",
                                   assignment_id)

    async def flush(self, conn: asyncpg.Connection, writes: PendingWrites) -> None:
        """Write collected closes, new assignments and decisions (closes first: a lead's
        old assignment must be closed before its new one becomes active)."""
        if writes.closes:
            await conn.executemany(
                f"UPDATE {self.s}.assignments SET status = $2, close_reason = $3, closed_at = $4 "
                "WHERE assignment_id = $1", writes.closes)
        # New assignments and their decisions: one statement (unnest of column arrays, the
        # two inserts chained in a data-modifying CTE; empty arrays insert nothing).
        if writes.assignments or writes.decisions:
            n = len(_ASSIGNMENT_COLUMNS)
            cols = ", ".join(_ASSIGNMENT_COLUMNS)
            casts = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(_ASSIGNMENT_TYPES))
            rows = [_assignment_values(r) for r in writes.assignments.values()]
            columns = [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in range(n)]
            columns[9] = [orjson.dumps(list(chain)).decode() for chain in columns[9]]
            select = ", ".join(f"c{i}::jsonb" if i == 9 else f"c{i}" for i in range(n))
            names = ", ".join(f"c{i}" for i in range(n))
            decisions = ([list(col) for col in zip(*writes.decisions, strict=True)] if writes.decisions
                         else [[] for _ in range(6)])
            d = ", ".join(f"${n + 1 + i}::{t}[]" for i, t in
                          enumerate(("text", "text", "timestamptz", "text", "text", "jsonb")))
            await conn.execute(
                f"WITH new_assignments AS (INSERT INTO {self.s}.assignments({cols}) "
                f"SELECT {select} FROM unnest({casts}) AS u({names}) ON CONFLICT (assignment_id) DO NOTHING) "
                f"INSERT INTO {self.s}.decisions(lead_id, assignment_id, decided_at, trigger, cause_id, detail) "
                f"SELECT * FROM unnest({d})", *columns, *decisions)
        writes.assignments.clear()
        writes.closes.clear()
        writes.decisions.clear()

    async def due(self, conn: asyncpg.Connection, now: datetime, limit: int) -> list[Row]:
        """Open assignments whose clock ran out, locked; rows another worker holds are skipped."""
        return await conn.fetch(
            f"SELECT a.*, l.facts FROM {self.s}.assignments a JOIN {self.s}.leads l USING (lead_id) "
            "WHERE a.status = 'open' AND a.due_at <= $1 ORDER BY a.due_at LIMIT $2 FOR UPDATE OF a SKIP LOCKED",
            now, limit)

    async def reminders_due(self, conn: asyncpg.Connection, now: datetime, limit: int) -> list[Row]:
        return await conn.fetch(
            f"SELECT a.*, l.facts FROM {self.s}.assignments a JOIN {self.s}.leads l USING (lead_id) "
            "WHERE a.status = 'open' AND a.reminded_at IS NULL AND a.remind_at <= $1 AND a.due_at > $1 "
            "ORDER BY a.remind_at LIMIT $2 FOR UPDATE OF a SKIP LOCKED", now, limit)

    async def timer_backlog(self, conn: asyncpg.Connection, now: datetime
                            ) -> dict[str, tuple[int, datetime | None]]:
        """Open assignments whose clock (``due``) or reminder (``reminder``) is due and not
        handled yet: how many, and the oldest due time."""
        r = await conn.fetchrow(
            f"SELECT count(*) FILTER (WHERE due_at <= $1) AS due, min(due_at) FILTER (WHERE due_at <= $1) AS due_at, "
            "count(*) FILTER (WHERE reminded_at IS NULL AND remind_at <= $1 AND due_at > $1) AS reminders, "
            "min(remind_at) FILTER (WHERE reminded_at IS NULL AND remind_at <= $1 AND due_at > $1) AS remind_at "
            f"FROM {self.s}.assignments WHERE status = 'open' AND due_at IS NOT NULL", now)
        return {"due": (int(r["due"]), r["due_at"]), "reminder": (int(r["reminders"]), r["remind_at"])}

    async def next_due(self, conn: asyncpg.Connection) -> datetime | None:
        due: datetime | None = await conn.fetchval(
            "SELECT least(min(due_at), min(remind_at) FILTER (WHERE reminded_at IS NULL AND remind_at < due_at)) "
            f"FROM {self.s}.assignments WHERE status = 'open'")
        return due

    async def mark_reminded(self, conn: asyncpg.Connection, ids: Sequence[str], at: datetime) -> None:
        await conn.execute(f"UPDATE {self.s}.assignments SET reminded_at = $2 WHERE assignment_id = ANY($1::text[])",
                           list(ids), at)

    async def mark_followed_up(self, conn: asyncpg.Connection, assignment_id: str, at: datetime) -> None:
        await conn.execute(f"UPDATE {self.s}.assignments SET status = 'followed_up', followed_up_at = $2 "
                           "WHERE assignment_id = $1", assignment_id, at)

    async def add_follow_up(self, conn: asyncpg.Connection, follow_up_id: str, assignment_id: str, lead_id: str,
                            rep_id: str, outcome: str, note: str, on_time: bool, at: datetime,
                            idempotency_key: str | None = None) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.follow_ups(follow_up_id, assignment_id, lead_id, rep_id, outcome, note, on_time, "
            "recorded_at, idempotency_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            follow_up_id, assignment_id, lead_id, rep_id, outcome, note, on_time, at, idempotency_key)

    async def follow_up_by_key(self, conn: asyncpg.Connection, idempotency_key: str) -> Row | None:
        return await conn.fetchrow(f"SELECT * FROM {self.s}.follow_ups WHERE idempotency_key = $1", idempotency_key)

    # ------------------------------------------------------------------ reads for HTTP

    async def rep_assignments(self, conn: asyncpg.Connection | asyncpg.Pool, rep_id: str) -> list[Row]:
        return await conn.fetch(
            f"SELECT a.*, l.facts, l.profile FROM {self.s}.assignments a JOIN {self.s}.leads l USING (lead_id) "
            "WHERE a.rep_id = $1 AND a.status = ANY($2::text[]) ORDER BY a.due_at NULLS LAST", rep_id,
            list(WORKED_STATUSES))

    async def lead_assignments(self, conn: asyncpg.Connection | asyncpg.Pool, lead_id: str) -> list[Row]:
        return await conn.fetch(f"SELECT * FROM {self.s}.assignments WHERE lead_id = $1 ORDER BY assigned_at, "
                                "attempt", lead_id)

    async def lead_decisions(self, conn: asyncpg.Connection | asyncpg.Pool, lead_id: str) -> list[Row]:
        return await conn.fetch(f"SELECT * FROM {self.s}.decisions WHERE lead_id = $1 ORDER BY id", lead_id)

    async def lead_follow_ups(self, conn: asyncpg.Connection | asyncpg.Pool, lead_id: str) -> list[Row]:
        return await conn.fetch(f"SELECT * FROM {self.s}.follow_ups WHERE lead_id = $1 ORDER BY recorded_at", lead_id)

    async def queued(self, conn: asyncpg.Connection | asyncpg.Pool, per_team: int) -> list[Row]:
        return await conn.fetch(
            f"SELECT * FROM (SELECT a.team, a.assignment_id, a.lead_id, a.assigned_at, a.due_at, a.attempt, "
            "a.reason, count(*) OVER w AS queued, row_number() OVER (w ORDER BY a.assigned_at) AS n "
            f"FROM {self.s}.assignments a WHERE a.owner_kind = 'queue' AND a.status = ANY($2::text[]) "
            "WINDOW w AS (PARTITION BY a.team)) q WHERE n <= $1 ORDER BY team, assigned_at", per_team,
            list(WORKED_STATUSES))

    async def next_queued(self, conn: asyncpg.Connection, team: str, assignment_id: str | None = None) -> Row | None:
        return await conn.fetchrow(
            f"SELECT a.*, l.facts FROM {self.s}.assignments a JOIN {self.s}.leads l USING (lead_id) "
            "WHERE a.owner_kind = 'queue' AND a.status = 'open' AND a.team = $1 "
            "AND ($2::text IS NULL OR a.assignment_id = $2) "
            "ORDER BY a.due_at NULLS LAST, a.assigned_at LIMIT 1 FOR UPDATE OF a SKIP LOCKED", team, assignment_id)

    async def team_open(self, conn: asyncpg.Connection | asyncpg.Pool, team: str, limit: int) -> list[Row]:
        return await conn.fetch(
            f"SELECT a.*, l.facts, l.profile FROM {self.s}.assignments a JOIN {self.s}.leads l USING (lead_id) "
            "WHERE a.team = $1 AND a.status = 'open' AND a.due_at IS NOT NULL ORDER BY a.due_at LIMIT $2",
            team, limit)

    async def clocks_ended(self, conn: asyncpg.Connection | asyncpg.Pool, team: str, since: datetime) -> list[Row]:
        # A clock ends at its assignment's first follow-up, or when it ran out (missed: no
        # follow-up was recorded, or the timer would not have fired).
        return await conn.fetch(
            f"SELECT a.assignment_id, a.rep_id, f.recorded_at AS ended_at, f.on_time "
            f"FROM (SELECT DISTINCT ON (assignment_id) assignment_id, recorded_at, on_time FROM {self.s}.follow_ups "
            "      WHERE recorded_at >= $2 ORDER BY assignment_id, recorded_at) f "
            f"JOIN {self.s}.assignments a USING (assignment_id) "
            "WHERE a.team = $1 AND a.due_at IS NOT NULL AND NOT EXISTS ("
            f"  SELECT 1 FROM {self.s}.follow_ups e WHERE e.assignment_id = f.assignment_id AND e.recorded_at < $2) "
            "UNION ALL "
            f"SELECT assignment_id, rep_id, closed_at, false FROM {self.s}.assignments "
            "WHERE team = $1 AND status = 'missed' AND closed_at >= $2 ORDER BY ended_at", team, since)

    async def escalations(self, conn: asyncpg.Connection | asyncpg.Pool, team: str, since: datetime,
                          limit: int) -> list[Row]:
        return await conn.fetch(
            "SELECT m.assignment_id AS missed_assignment_id, m.lead_id, m.rep_id AS missed_rep_id, m.due_at, "
            "m.closed_at AS escalated_at, l.profile, n.assignment_id, n.owner_kind, n.rep_id, n.team, n.attempt, "
            f"coalesce(n.reason, m.close_reason) AS reason FROM {self.s}.assignments m "
            f"JOIN {self.s}.leads l ON l.lead_id = m.lead_id "
            f"LEFT JOIN {self.s}.assignments n ON n.previous_assignment_id = m.assignment_id "
            "AND n.trigger = 'escalation' "
            "WHERE m.team = $1 AND m.status = 'missed' AND m.closed_at >= $2 "
            "ORDER BY m.closed_at DESC, m.assignment_id LIMIT $3", team, since, limit)

    async def record_deal(self, conn: asyncpg.Connection, assignment_id: str, opportunity_id: str,
                          deal_status: str, amount_minor: int | None, currency: str | None,
                          closed_on: date | None, at: datetime) -> None:
        await conn.execute(
            f"UPDATE {self.s}.assignments SET opportunity_id = $2, deal_status = $3, "
            "deal_amount_minor = coalesce($4, deal_amount_minor), deal_currency = coalesce($5, deal_currency), "
            "deal_closed_on = coalesce($6, deal_closed_on), deal_updated_at = $7 WHERE assignment_id = $1",
            assignment_id, opportunity_id, deal_status, amount_minor, currency, closed_on, at)

    # ------------------------------------------------------------------ what-if

    async def scored_between(self, conn: asyncpg.Connection, since: datetime, until: datetime) -> list[Row]:
        return await conn.fetch(f"SELECT event_id, lead_id, occurred_at, facts FROM {self.s}.scored_history "
                                "WHERE occurred_at >= $1 AND occurred_at < $2 ORDER BY occurred_at, event_id",
                                since, until)

    async def assignments_between(self, conn: asyncpg.Connection, since: datetime,
                                  until: datetime) -> list[Row]:
        return await conn.fetch(f"SELECT * FROM {self.s}.assignments WHERE assigned_at >= $1 AND assigned_at < $2 "
                                "ORDER BY assigned_at", since, until)


class RoutingSubjects:
    """What routing holds about a person (``shared.privacy.SubjectData``): their latest
    facts and profile, scorings, assignments with their decisions, and follow-ups.
    Erasure blanks the person in the profile and the reps' notes; assignments and their
    deals stay for the SLA and revenue reports (they name the lead by id only)."""

    def __init__(self, schema: str = "routing") -> None:
        self.s = schema

    async def export(self, conn: Any, lead_id: str) -> Rows:
        return await rows_of(conn, self.s, ("leads", "scored_history", "assignments", "decisions", "follow_ups"),
                             lead_id)

    async def erase(self, conn: Any, lead_id: str) -> int:
        profiles = await conn.execute(
            f"UPDATE {self.s}.leads SET profile = {erased_profile_sql('profile')} WHERE lead_id = $1", lead_id)
        notes = await conn.execute(f"UPDATE {self.s}.follow_ups SET note = '' WHERE lead_id = $1 AND note <> ''",
                                   lead_id)
        return count(profiles) + count(notes)

    async def withdraw_consent(self, conn: Any, lead_id: str, at: datetime) -> int:
        """The lead's follow-up clock stops: its worked assignment is closed ("withdrawn",
        the SLA and reminder timers with it) and its rep's capacity freed."""
        closed = await conn.fetch(
            f"UPDATE {self.s}.assignments SET status = 'withdrawn', close_reason = 'consent-withdrawn', "
            "closed_at = $2 WHERE lead_id = $1 AND status = ANY($3::text[]) RETURNING rep_id, owner_kind",
            lead_id, at, list(WORKED_STATUSES))
        reps = [r["rep_id"] for r in closed if r["owner_kind"] == "rep" and r["rep_id"] is not None]
        if reps:
            await conn.execute(f"UPDATE {self.s}.rep_load SET open_leads = greatest(open_leads - 1, 0) "
                               "WHERE rep_id = ANY($1::text[])", reps)
        return len(closed)
