"""Scoring's tables (schema ``scoring``): leads with their facts, evidence and latest
grade, and the rubric versions with their approvals and activations.

:class:`GradedLeadStore` and :class:`RubricStore` state what scoring's handlers need of
them; :class:`GradedLeadRepository` and :class:`RubricRepository` are the PostgreSQL ones
(``XRepository(schema).method(conn, ...)``) and ``tests/fakes.py`` has the in-memory twins.
Every method takes a connection (inside the caller's transaction) and works on whole
batches: a consumed batch of 500 events costs a handful of round trips, not 500.

Two event streams (captures and engagements) can touch the same lead at the same time
in different transactions, possibly on different replicas. ``lock_leads`` takes
transaction-scoped advisory locks on the batch's leads, always in the same order, so
the second transaction waits and then reads what the first committed (READ COMMITTED
takes a fresh snapshot per statement): no engagement is ever missed by a concurrent
capture, and no grade is lost to a concurrent update.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from services.scoring.domain.lead import LeadState
from services.scoring.domain.lifecycle import Approval, RubricVersion
from services.scoring.domain.scoring import CapturedFacts, Evidence, ScoreResult
from shared.events import GRADES, LeadSource
from shared.privacy import Rows, count, erased_profile_sql, rows_of

if TYPE_CHECKING:  # the driver is needed to run queries, not to name their types
    import asyncpg

# First key of the two-int advisory lock: scoring's lead locks do not collide with
# other services' advisory locks in the same database.
_LEAD_LOCK_CLASS = 0x5C0E
_RUBRIC_LOCK_CLASS = 0x5C0F


def _lock_key(lead_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(lead_id.encode(), digest_size=4).digest(), "big", signed=True)


def _ts(epoch: float) -> datetime:  # (evidence rows)
    return datetime.fromtimestamp(epoch, UTC)


# What a grade distribution can be broken down by (columns of ``leads``).
GRADE_GROUPINGS = ("campaign", "source", "segment", "rubric_version")

Row = Mapping[str, Any]
LatestGrade = tuple[LeadState, ScoreResult, str]  # a lead's state, its latest grade, the event that caused it


class VersionExists(Exception):
    """A rubric version with that name was already created."""


@dataclass(frozen=True)
class StoredRubric:
    meta: RubricVersion
    document: str
    description: str


class GradedLeadStore(Protocol):
    """What scoring's handlers need of its leads: each with the facts of its captures, its
    engagement evidence and its latest grade."""

    async def lock(self, conn: Any, lead_ids: Iterable[str]) -> None:
        """Lock these leads until the transaction ends (a concurrent capture and engagement
        of one lead are graded one after the other, never from the same stale state)."""

    async def load(self, conn: Any, lead_ids: Sequence[str]) -> dict[str, LeadState]:
        """The stored state of these leads (captured or only engaged), with all their evidence."""

    async def add_evidence(self, conn: Any, rows: Sequence[tuple[str, Evidence, str | None]]) -> None:
        """Store engagements (lead id, evidence, campaign); one already stored is kept as it was."""

    async def save(self, conn: Any, graded: Sequence[LatestGrade], *, facts_changed: bool = True) -> None:
        """Store each lead's latest grade (and, with ``facts_changed``, its facts and profile)."""

    async def grade_counts(self, conn: Any, by: str | None = None, *, campaign: str | None = None,
                           source: str | None = None, segment: str | None = None) -> dict[str | None, dict[str, int]]:
        """``{key: {grade: leads}}`` per value of the ``by`` column (the one key None without it)."""

    async def score_view(self, conn: Any, lead_id: str) -> Row | None:
        """A lead's latest grade with its ledger and overrides (JSON text), or None."""

    async def has_evidence(self, conn: Any, lead_id: str) -> bool:
        """Whether engagement was stored for this lead (captured or not)."""


class RubricStore(Protocol):
    """What scoring's handlers need of its rubric versions, approvals and activations."""

    async def lock(self, conn: Any) -> None:
        """Serialise workflow changes (approve, activate, bootstrap) until the transaction ends."""

    async def active_version(self, conn: Any) -> str | None:
        """The version grading live traffic, or None."""

    async def get(self, conn: Any, version: str) -> StoredRubric | None:
        """One version with its document, or None."""

    async def active(self, conn: Any) -> StoredRubric | None:
        """The active version with its document, or None."""

    async def history(self, conn: Any) -> list[StoredRubric]:
        """Every version, oldest first."""

    async def activations(self, conn: Any) -> list[Row]:
        """Every activation (version, previous_version, activated_by, activated_at), in order."""

    async def insert(self, conn: Any, meta: RubricVersion, document: str, description: str) -> None:
        """Store a new version; raises :class:`VersionExists` if its name is taken."""

    async def save_state(self, conn: Any, meta: RubricVersion) -> None:
        """Persist a version's status, times and any approvals not stored yet."""

    async def record_activation(self, conn: Any, meta: RubricVersion, previous: str | None) -> None:
        """Record that ``meta`` was activated, retiring ``previous``."""


class GradedLeadRepository:
    """Lead facts, evidence and latest grades in ``<schema>.leads`` / ``<schema>.evidence``."""

    def __init__(self, schema: str) -> None:
        self.s = schema

    async def lock(self, conn: asyncpg.Connection, lead_ids: Iterable[str]) -> None:
        keys = sorted({_lock_key(i) for i in lead_ids})
        if keys:
            await conn.execute("SELECT pg_advisory_xact_lock($1, k) FROM unnest($2::int4[]) AS k ORDER BY k",
                               _LEAD_LOCK_CLASS, keys)

    async def load(self, conn: asyncpg.Connection, lead_ids: Sequence[str]) -> dict[str, LeadState]:
        """The stored state of these leads (captured or not), with all their evidence."""
        ids = list(set(lead_ids))
        states: dict[str, LeadState] = {}
        # Times as epoch seconds: the domain works in floats, and building datetimes
        # only to convert them back cost more than the rest of the load.
        rows = await conn.fetch(
            f"SELECT lead_id, profile, source, consent, capture_event_id, "
            f"extract(epoch FROM captured_at)::float8 AS captured_ts, campaign, "
            f"extract(epoch FROM campaign_at)::float8 AS campaign_ts, campaign_event_id, grade "
            f"FROM {self.s}.leads WHERE lead_id = ANY($1::text[])", ids)
        for r in rows:
            p: dict[str, Any] = r["profile"]  # stored from an event validated when it was consumed
            facts = CapturedFacts(lead_id=r["lead_id"], email=p["email"], company=p["company"],
                                  title=p.get("title", ""), country=p.get("country", ""),
                                  company_size=p.get("company_size"), industry=p.get("industry"),
                                  source=r["source"], consent=r["consent"],
                                  capture_event_id=r["capture_event_id"], captured_ts=r["captured_ts"])
            campaign_key = ((r["campaign_ts"], r["campaign_event_id"]) if r["campaign_ts"] is not None else None)
            states[r["lead_id"]] = LeadState(r["lead_id"], facts=facts, profile=p,
                                             source=LeadSource(r["source"]), campaign=r["campaign"],
                                             campaign_key=campaign_key, grade=r["grade"])
        for r in await conn.fetch(f"SELECT lead_id, event_id, behaviour, extract(epoch FROM occurred_at)::float8 "
                                  f"FROM {self.s}.evidence WHERE lead_id = ANY($1::text[])", ids):
            lead_id = r[0]
            state = states.get(lead_id)
            if state is None:
                state = states[lead_id] = LeadState(lead_id)
            state.evidence[r[1]] = Evidence(r[1], r[2], r[3])
        return states

    async def add_evidence(self, conn: asyncpg.Connection, rows: Sequence[tuple[str, Evidence, str | None]]) -> None:
        """Store engagements (lead id, evidence, campaign); known ones are kept as they are."""
        if not rows:
            return
        await conn.execute(
            f"INSERT INTO {self.s}.evidence(lead_id, event_id, behaviour, occurred_at, campaign) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]) "
            "ON CONFLICT DO NOTHING",
            [r[0] for r in rows], [r[1].event_id for r in rows], [r[1].behaviour for r in rows],
            [_ts(r[1].ts) for r in rows], [r[2] for r in rows])

    async def save(self, conn: asyncpg.Connection, graded: Sequence[LatestGrade],
                   *, facts_changed: bool = True) -> None:
        """Store each lead's latest grade (lead, result, cause event id). With
        ``facts_changed`` (a capture), its merged facts are upserted too; otherwise
        (an engagement re-grade of a stored lead) only the grade columns are updated,
        which is a far smaller write."""
        if not graded:
            return
        grade_cols: dict[str, list[Any]] = {k: [] for k in (
            "lead_id", "score", "fit", "engagement", "grade", "hot", "disqualified", "segment", "rubric_version",
            "as_of", "ledger", "overrides", "cause")}
        for state, result, cause in graded:
            grade_cols["lead_id"].append(state.lead_id)
            grade_cols["score"].append(result.score)
            grade_cols["fit"].append(result.fit)
            grade_cols["engagement"].append(result.engagement)
            grade_cols["grade"].append(result.grade)
            grade_cols["hot"].append(result.hot)
            grade_cols["disqualified"].append(result.disqualified)
            grade_cols["segment"].append(result.segment)
            grade_cols["rubric_version"].append(result.rubric_version)
            grade_cols["as_of"].append(result.as_of)
            grade_cols["ledger"].append(orjson.dumps([c.as_dict() for c in result.ledger]).decode())
            grade_cols["overrides"].append(orjson.dumps([{"rule": o.rule, "evidence": o.evidence}
                                                         for o in result.overrides]).decode())
            grade_cols["cause"].append(cause)
        if not facts_changed:
            await conn.execute(
                f"""UPDATE {self.s}.leads AS l SET score = u.score, fit_score = u.fit,
                        engagement_score = u.engagement, grade = u.grade, hot = u.hot, disqualified = u.disqualified,
                        segment = u.segment, rubric_version = u.rubric_version, as_of = to_timestamp(u.as_of),
                        ledger = u.ledger::json, overrides = u.overrides::json, cause_event_id = u.cause,
                        scored_at = now()
                    FROM unnest($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::text[], $6::bool[],
                        $7::bool[], $8::text[], $9::text[], $10::float8[], $11::text[], $12::text[], $13::text[])
                      AS u(lead_id, score, fit, engagement, grade, hot, disqualified, segment, rubric_version, as_of,
                           ledger, overrides, cause)
                    WHERE l.lead_id = u.lead_id""",
                *grade_cols.values())
            return
        fact_cols: dict[str, list[Any]] = {k: [] for k in (
            "profile", "source", "consent", "capture_event_id", "captured_at", "campaign", "campaign_at",
            "campaign_event_id")}
        for state, _, _ in graded:
            assert state.facts is not None and state.profile is not None
            fact_cols["profile"].append(orjson.dumps(state.profile).decode())
            fact_cols["source"].append(state.facts.source)
            fact_cols["consent"].append(state.facts.consent)
            fact_cols["capture_event_id"].append(state.facts.capture_event_id)
            fact_cols["captured_at"].append(state.facts.captured_ts)
            fact_cols["campaign"].append(state.campaign)
            fact_cols["campaign_at"].append(state.campaign_key[0] if state.campaign_key else None)
            fact_cols["campaign_event_id"].append(state.campaign_key[1] if state.campaign_key else None)
        await conn.execute(
            f"""INSERT INTO {self.s}.leads AS l (lead_id, score, fit_score, engagement_score, grade, hot,
                    disqualified, segment, rubric_version, as_of, ledger, overrides, cause_event_id, profile, source,
                    consent, capture_event_id, captured_at, campaign, campaign_at, campaign_event_id, scored_at)
                SELECT u.lead_id, u.score, u.fit, u.engagement, u.grade, u.hot, u.disqualified, u.segment,
                    u.rubric_version, to_timestamp(u.as_of), u.ledger::json, u.overrides::json, u.cause,
                    u.profile::jsonb, u.source, u.consent, u.capture_event_id, to_timestamp(u.captured_at),
                    u.campaign, to_timestamp(u.campaign_at), u.campaign_event_id, now()
                FROM unnest($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::text[], $6::bool[], $7::bool[],
                    $8::text[], $9::text[], $10::float8[], $11::text[], $12::text[], $13::text[], $14::text[],
                    $15::text[], $16::bool[], $17::text[], $18::float8[], $19::text[], $20::float8[], $21::text[])
                  AS u(lead_id, score, fit, engagement, grade, hot, disqualified, segment, rubric_version, as_of,
                       ledger, overrides, cause, profile, source, consent, capture_event_id, captured_at, campaign,
                       campaign_at, campaign_event_id)
                ON CONFLICT (lead_id) DO UPDATE SET
                    profile = EXCLUDED.profile, source = EXCLUDED.source, consent = EXCLUDED.consent,
                    capture_event_id = EXCLUDED.capture_event_id, captured_at = EXCLUDED.captured_at,
                    campaign = EXCLUDED.campaign, campaign_at = EXCLUDED.campaign_at,
                    campaign_event_id = EXCLUDED.campaign_event_id, score = EXCLUDED.score,
                    fit_score = EXCLUDED.fit_score, engagement_score = EXCLUDED.engagement_score,
                    grade = EXCLUDED.grade, hot = EXCLUDED.hot, disqualified = EXCLUDED.disqualified,
                    segment = EXCLUDED.segment, rubric_version = EXCLUDED.rubric_version, as_of = EXCLUDED.as_of,
                    ledger = EXCLUDED.ledger, overrides = EXCLUDED.overrides,
                    cause_event_id = EXCLUDED.cause_event_id, scored_at = now()""",
            *grade_cols.values(), *fact_cols.values())

    async def grade_counts(self, conn: asyncpg.Connection, by: str | None = None, *, campaign: str | None = None,
                           source: str | None = None, segment: str | None = None) -> dict[str | None, dict[str, int]]:
        """How many leads hold each grade now, per value of the ``by`` column (one of
        :data:`GRADE_GROUPINGS`; the one key None without it): ``{key: {grade: n}}`` with
        every grade present, in key order."""
        if by is not None and by not in GRADE_GROUPINGS:
            raise ValueError(f"cannot group grades by {by!r}")
        key = by or "NULL::text"
        table: dict[str | None, dict[str, int]] = {}
        for r in await conn.fetch(
                f"SELECT {key} AS key, grade, count(*) AS n FROM {self.s}.leads "
                "WHERE ($1::text IS NULL OR campaign = $1) AND ($2::text IS NULL OR source = $2) "
                "AND ($3::text IS NULL OR segment = $3) GROUP BY 1, 2 ORDER BY 1 NULLS LAST, 2",
                campaign, source, segment):
            table.setdefault(r["key"], dict.fromkeys(GRADES, 0))[r["grade"]] = r["n"]
        return table

    async def score_view(self, conn: asyncpg.Connection, lead_id: str) -> Row | None:
        return await conn.fetchrow(
            f"SELECT lead_id, score, fit_score, engagement_score, grade, hot, disqualified, segment, rubric_version, "
            f"as_of, ledger::text, overrides::text, cause_event_id, scored_at, campaign, source FROM {self.s}.leads "
            "WHERE lead_id = $1", lead_id)

    async def has_evidence(self, conn: asyncpg.Connection, lead_id: str) -> bool:
        return bool(await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {self.s}.evidence WHERE lead_id = $1)",
                                        lead_id))


class RubricRepository:
    """Rubric versions, approvals and activations."""

    def __init__(self, schema: str) -> None:
        self.s = schema

    async def lock(self, conn: asyncpg.Connection) -> None:
        """Serialise workflow changes (approve, activate, bootstrap) across replicas."""
        await conn.execute("SELECT pg_advisory_xact_lock($1, 0)", _RUBRIC_LOCK_CLASS)

    async def active_version(self, conn: asyncpg.Connection) -> str | None:
        value: str | None = await conn.fetchval(
            f"SELECT version FROM {self.s}.rubric_versions WHERE status = 'active'")
        return value

    async def get(self, conn: asyncpg.Connection, version: str) -> StoredRubric | None:
        found = await self._fetch(conn, "WHERE v.version = $1", version)
        return found[0] if found else None

    async def active(self, conn: asyncpg.Connection) -> StoredRubric | None:
        found = await self._fetch(conn, "WHERE v.status = 'active'")
        return found[0] if found else None

    async def history(self, conn: asyncpg.Connection) -> list[StoredRubric]:
        return await self._fetch(conn, "")

    async def activations(self, conn: asyncpg.Connection) -> list[Row]:
        return await conn.fetch(f"SELECT version, previous_version, activated_by, activated_at "
                                f"FROM {self.s}.rubric_activations ORDER BY id")

    async def _fetch(self, conn: asyncpg.Connection, where: str, *args: Any) -> list[StoredRubric]:
        rows = await conn.fetch(
            f"SELECT v.*, COALESCE((SELECT jsonb_agg(jsonb_build_object('approver', a.approver, 'side', a.side, "
            f"'approved_at', a.approved_at) ORDER BY a.approved_at) FROM {self.s}.rubric_approvals a "
            f"WHERE a.version = v.version), '[]'::jsonb) AS approvals "
            f"FROM {self.s}.rubric_versions v {where} ORDER BY v.created_at, v.version", *args)
        out = []
        for r in rows:
            approvals = tuple(Approval(a["approver"], a["side"], datetime.fromisoformat(a["approved_at"]))
                              for a in r["approvals"])
            meta = RubricVersion(version=r["version"], status=r["status"], created_at=r["created_at"],
                                 created_by=r["created_by"], approvals=approvals, activated_at=r["activated_at"],
                                 activated_by=r["activated_by"], retired_at=r["retired_at"])
            out.append(StoredRubric(meta, r["document"], r["description"]))
        return out

    async def insert(self, conn: asyncpg.Connection, meta: RubricVersion, document: str, description: str) -> None:
        status = await conn.execute(
            f"INSERT INTO {self.s}.rubric_versions(version, document, description, status, created_by, "
            "created_at, activated_at, activated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            "ON CONFLICT (version) DO NOTHING",
            meta.version, document, description, meta.status, meta.created_by, meta.created_at,
            meta.activated_at, meta.activated_by)
        if status == "INSERT 0 0":
            raise VersionExists(meta.version)

    async def save_state(self, conn: asyncpg.Connection, meta: RubricVersion) -> None:
        """Persist status, times and any approvals not stored yet."""
        await conn.execute(
            f"UPDATE {self.s}.rubric_versions SET status = $2, activated_at = $3, activated_by = $4, "
            "retired_at = $5 WHERE version = $1",
            meta.version, meta.status, meta.activated_at, meta.activated_by, meta.retired_at)
        if meta.approvals:
            await conn.executemany(
                f"INSERT INTO {self.s}.rubric_approvals(version, approver, side, approved_at) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                [(meta.version, a.approver, a.side, a.approved_at) for a in meta.approvals])

    async def record_activation(self, conn: asyncpg.Connection, meta: RubricVersion,
                                previous: str | None) -> None:
        await conn.execute(f"INSERT INTO {self.s}.rubric_activations(version, previous_version, activated_by, "
                           "activated_at) VALUES ($1, $2, $3, $4)",
                           meta.version, previous, meta.activated_by, meta.activated_at)


class ScoringSubjects:
    """What scoring holds about a person (``shared.privacy.SubjectData``): their graded
    lead (profile, grade, ledger) and engagement evidence. Erasure blanks the person in
    the profile and keeps the grade, so grade counts stay right."""

    def __init__(self, schema: str = "scoring") -> None:
        self.s = schema

    async def export(self, conn: Any, lead_id: str) -> Rows:
        return await rows_of(conn, self.s, ("leads", "evidence"), lead_id)

    async def erase(self, conn: Any, lead_id: str) -> int:
        return count(await conn.execute(
            f"UPDATE {self.s}.leads SET profile = {erased_profile_sql('profile')} WHERE lead_id = $1", lead_id))

    async def withdraw_consent(self, conn: Any, lead_id: str, at: datetime) -> int:
        """Graded from now on as a lead without consent (the rubric's rule for it decides)."""
        return count(await conn.execute(
            f"UPDATE {self.s}.leads SET consent = false WHERE lead_id = $1 AND consent", lead_id))
