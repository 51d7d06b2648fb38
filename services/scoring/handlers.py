"""What scoring does with each event and each rubric command.

Consumers get whole batches (``Subscription(batch_handler=...)``): a batch's leads are
locked, loaded, graded in order and saved with a handful of queries, and one
``LeadScored`` is emitted per input event for a captured lead (its id derived from the
input's, so a re-run emits the same ids).

The active rubric is read from the database at the start of every batch (one cheap
query for its version; the document is parsed once per version and cached), so every
replica grades with the newly activated version from its next batch on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import asyncpg

from services.scoring.domain import lifecycle
from services.scoring.domain.lead import Graded, LeadState, apply_events, evidence_from
from services.scoring.domain.rubric import CompiledRubric, RubricDocument, load_rubric, parse_rubric
from services.scoring.domain.scoring import ScoreResult
from services.scoring.repository import Leads, Rubrics, StoredRubric
from shared.events import (
    Encoded,
    LeadCaptured,
    LeadEngaged,
    LeadScored,
    RubricActivated,
    RubricApproval,
    derive_event_id,
    utcnow,
)
from shared.handling import UnitOfWork

log = logging.getLogger(__name__)


class NoActiveRubric(RuntimeError):
    """No rubric version is active (the startup bootstrap guarantees one)."""


class UnknownRubric(LookupError):
    """No rubric version by that name."""


@dataclass
class RubricCache:
    """Compiled rubrics by version; which one is active is asked of the database."""

    rubrics: Rubrics
    compiled: dict[str, CompiledRubric] = field(default_factory=dict)

    async def active(self, conn: asyncpg.Connection) -> CompiledRubric:
        version = await self.rubrics.active_version(conn)
        if version is None:
            raise NoActiveRubric("no rubric version is active")
        rubric = self.compiled.get(version)
        if rubric is None:
            stored = await self.rubrics.get(conn, version)
            if stored is None:  # activated and gone between two statements: cannot happen, versions are kept
                raise NoActiveRubric(f"active rubric {version} vanished")
            rubric = self.compiled[version] = load_rubric(stored.document)
        return rubric


def scored_event(graded: Graded, reasons: int) -> Encoded[LeadScored]:
    """The ``lead-scored`` event for one graded input event, serialised by the event's
    own fast path (:meth:`LeadScored.encoded`): every value comes from validated events
    or the typed domain."""
    lead, result, cause = graded.lead, graded.result, graded.cause.event_id
    assert lead.profile is not None and lead.source is not None
    return LeadScored.encoded(
        event_id=derive_event_id(cause, "scored"), occurred_at=utcnow(), lead_id=lead.lead_id,
        cause_event_id=cause, profile=lead.profile, source=lead.source, campaign=lead.campaign, score=result.score,
        fit_score=result.fit, engagement_score=result.engagement, grade=result.grade,
        previous_grade=graded.previous_grade, segment=result.segment, segment_parts=result.segment_parts,
        hot=result.hot, disqualified=result.disqualified, rubric_version=result.rubric_version,
        reasons=explain(result, reasons))


def explain(result: ScoreResult, n: int) -> list[dict[str, object]]:
    """Overrides first (they decide the grade), then the largest contributions, as
    ``ScoreReason`` documents."""
    reasons: list[dict[str, object]] = [{"rule": o.rule, "points": 0.0, "evidence": o.evidence}
                                        for o in result.overrides]
    reasons += [{"rule": c.rule, "points": round(c.points, 2), "evidence": c.evidence}
                for c in result.top_contributions(n)]
    return reasons


@dataclass
class ScoringHandlers:
    """The consumers' batch handlers and the rubric commands, bound to one schema."""

    leads: Leads
    rubrics: Rubrics
    reasons: int = 5
    cache: RubricCache = field(init=False)

    def __post_init__(self) -> None:
        self.cache = RubricCache(self.rubrics)

    async def _grade(self, events: Sequence[LeadCaptured | LeadEngaged], uow: UnitOfWork,
                     states: dict[str, LeadState], rubric: CompiledRubric, *, facts_changed: bool) -> None:
        graded = apply_events(states, events, rubric)
        latest: dict[str, tuple[LeadState, ScoreResult, str]] = {}
        for g in graded:
            uow.emit(scored_event(g, self.reasons))
            latest[g.lead.lead_id] = (g.lead, g.result, g.cause.event_id)
        await self.leads.save(uow.conn, list(latest.values()), facts_changed=facts_changed)

    async def on_lead_captured(self, events: Sequence[LeadCaptured], uow: UnitOfWork) -> None:
        """Merge each capture into its lead, grade it and emit ``lead-scored``."""
        lead_ids = [e.lead_id for e in events]
        await self.leads.lock(uow.conn, lead_ids)
        rubric = await self.cache.active(uow.conn)
        states = await self.leads.load(uow.conn, lead_ids)
        await self._grade(events, uow, states, rubric, facts_changed=True)

    async def on_lead_engaged(self, events: Sequence[LeadEngaged], uow: UnitOfWork) -> None:
        """Store each engagement as evidence; re-grade captured leads and emit
        ``lead-scored`` with the previous grade. Engagements of leads not captured yet
        are only stored: they count when the capture arrives."""
        lead_ids = [e.lead_id for e in events]
        await self.leads.lock(uow.conn, lead_ids)
        rubric = await self.cache.active(uow.conn)
        states = await self.leads.load(uow.conn, lead_ids)  # before this batch's evidence is written
        # Only leads already stored as captured are graded here: their facts are as stored.
        await self._grade(events, uow, states, rubric, facts_changed=False)
        await self.leads.add_evidence(uow.conn, [(e.lead_id, evidence_from(e), e.campaign) for e in events])

    # ------------------------------------------------------------------ rubric commands

    async def create_draft(self, uow: UnitOfWork, document: RubricDocument, text: str,
                           created_by: str = "") -> StoredRubric:
        """Store a validated rubric document as a new draft version."""
        meta = lifecycle.new_draft(document.version, utcnow(), created_by)
        await self.rubrics.insert(uow.conn, meta, text, document.description)
        return StoredRubric(meta, text, document.description)

    async def _locked(self, uow: UnitOfWork, version: str) -> StoredRubric:
        await self.rubrics.lock(uow.conn)
        stored = await self.rubrics.get(uow.conn, version)
        if stored is None:
            raise UnknownRubric(version)
        return stored

    async def approve(self, uow: UnitOfWork, version: str, approver: str,
                      side: lifecycle.Side) -> lifecycle.RubricVersion:
        """Record one side's approval of a draft."""
        stored = await self._locked(uow, version)
        meta = lifecycle.approve(stored.meta, approver, side, utcnow())
        await self.rubrics.save_state(uow.conn, meta)
        return meta

    async def activate(self, uow: UnitOfWork, version: str, by: str = "") -> lifecycle.RubricVersion:
        """Make an approved version the one that grades live traffic; emits
        ``rubric-activated``. Activating the active version changes nothing."""
        stored = await self._locked(uow, version)
        current = await self.rubrics.active(uow.conn)
        # Re-validate: the document must still parse under today's code before it grades anything.
        load_rubric(stored.document)
        meta, retired = lifecycle.activate(stored.meta, current.meta if current else None, utcnow(), by)
        if meta is stored.meta:
            return meta
        if retired is not None:
            await self.rubrics.save_state(uow.conn, retired)  # first: only one row may be 'active'
        await self.rubrics.save_state(uow.conn, meta)
        await self._activated(uow, meta, current.meta.version if current else None)
        return meta

    async def _activated(self, uow: UnitOfWork, meta: lifecycle.RubricVersion, previous: str | None) -> None:
        await self.rubrics.record_activation(uow.conn, meta, previous)
        uow.emit(RubricActivated(
            version=meta.version, previous_version=previous, activated_by=meta.activated_by or "",
            approvals=tuple(RubricApproval(approver=a.approver, side=a.side, approved_at=a.approved_at)
                            for a in meta.approvals)))

    async def bootstrap(self, uow: UnitOfWork, path: Path) -> str | None:
        """On a fresh install (no active version), make the repository's rubric file the
        active version. Returns the version activated now, or None if one was active."""
        await self.rubrics.lock(uow.conn)
        if await self.rubrics.active_version(uow.conn) is not None:
            return None
        text = path.read_text()  # noqa: ASYNC240 - one small file, once, at start
        document = parse_rubric(text)  # an invalid file stops the service at start, loudly
        origin = f"startup:{path.name}"
        existing = await self.rubrics.get(uow.conn, document.version)
        if existing is None:
            meta = lifecycle.bootstrap_active(document.version, utcnow(), origin)
            await self.rubrics.insert(uow.conn, meta, text, document.description)
        else:
            if existing.document != text:
                raise RuntimeError(f"rubric file {path} has version {document.version}, which is stored with a "
                                   "different document; give the file a new version")
            meta = replace(existing.meta, status="active", activated_at=utcnow(), activated_by=origin,
                           retired_at=None)
            await self.rubrics.save_state(uow.conn, meta)
        await self._activated(uow, meta, None)
        log.info("rubric file activated", extra={"version": document.version, "file": str(path)})
        return document.version
