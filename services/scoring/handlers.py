"""What scoring does with each event and each rubric command.

:func:`registry` is the service's one registry (``lead-captured`` → :func:`on_lead_captured`,
``lead-engaged`` → :func:`on_lead_engaged`, ``collateral-viewed`` → :func:`on_collateral_viewed`,
the rubric file at start, the grade gauge on a clock). Every handler and command takes the one
:class:`ScoringDeps` first.

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
from typing import Any

from services.scoring import metrics
from services.scoring.domain import lifecycle
from services.scoring.domain.lead import Graded, LeadState, apply_events, engagement_of_view, evidence_from
from services.scoring.domain.rubric import CompiledRubric, RubricDocument, load_rubric, parse_rubric
from services.scoring.domain.scoring import ScoreResult
from services.scoring.repository import GradedLeadStore, Row, RubricStore, StoredRubric
from shared import audit, privacy, topics
from shared.events import (
    CollateralViewed,
    Encoded,
    LeadCaptured,
    LeadEngaged,
    LeadScored,
    RubricActivated,
    RubricApproval,
    derive_event_id,
    utcnow,
)
from shared.handling import Periodic, Registry, Subscription, UnitOfWork, UnitOfWorkFactory, bind
from shared.privacy import SubjectData

log = logging.getLogger(__name__)


class NoActiveRubric(RuntimeError):
    """No rubric version is active (the startup bootstrap guarantees one)."""


class UnknownRubric(LookupError):
    """No rubric version by that name."""


class UnknownLead(LookupError):
    """Scoring has no grade for this lead; ``pending``: engagement waits for its capture."""

    def __init__(self, lead_id: str, *, pending: bool) -> None:
        super().__init__(lead_id)
        self.pending = pending


@dataclass
class RubricCache:
    """Compiled rubrics by version; which one is active is asked of the database."""

    rubrics: RubricStore
    compiled: dict[str, CompiledRubric] = field(default_factory=dict)

    async def active(self, conn: Any) -> CompiledRubric:
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
class ScoringDeps:
    """What scoring's handlers and routes share: the two repositories, how many reasons a
    ``lead-scored`` carries, the rubric file that seeds a fresh install, how often the
    grade gauge is refreshed, and the compiled rubrics (by version)."""

    leads: GradedLeadStore
    rubrics: RubricStore
    reasons: int = 5
    rubric_file: Path | None = None
    grade_gauge_every_s: float = 30.0
    subjects: SubjectData | None = None  # what scoring holds about a person (export, erasure)
    cache: RubricCache = field(init=False)

    def __post_init__(self) -> None:
        self.cache = RubricCache(self.rubrics)


def registry(deps: ScoringDeps) -> Registry:
    """Scoring's subscriptions (captures and engagements, in batches), the rubric file
    loaded at start, and the grade gauge on a clock, bound to ``deps``."""
    return Registry(
        subscriptions=[Subscription(topics.LEAD_CAPTURED, batch_handler=bind(on_lead_captured, deps)),
                       Subscription(topics.LEAD_ENGAGED, batch_handler=bind(on_lead_engaged, deps)),
                       Subscription(topics.COLLATERAL_VIEWED, batch_handler=bind(on_collateral_viewed, deps)),
                       *(privacy.subscriptions("scoring", deps.subjects) if deps.subjects is not None else [])],
        startup=[bind(load_rubric_file, deps)] if deps.rubric_file is not None else [],
        periodic=[Periodic("grade-gauge", deps.grade_gauge_every_s, bind(refresh_grade_gauge, deps))])


async def _grade(deps: ScoringDeps, events: Sequence[LeadCaptured | LeadEngaged], uow: UnitOfWork,
                 states: dict[str, LeadState], rubric: CompiledRubric, *, facts_changed: bool) -> None:
    graded = apply_events(states, events, rubric)
    latest: dict[str, tuple[LeadState, ScoreResult, str]] = {}
    for g in graded:
        uow.emit(scored_event(g, deps.reasons))
        latest[g.lead.lead_id] = (g.lead, g.result, g.cause.event_id)
    await deps.leads.save(uow.conn, list(latest.values()), facts_changed=facts_changed)


async def on_lead_captured(deps: ScoringDeps, events: Sequence[LeadCaptured], uow: UnitOfWork) -> None:
    """Merge each capture into its lead, grade it and emit ``lead-scored``."""
    lead_ids = [e.lead_id for e in events]
    await deps.leads.lock(uow.conn, lead_ids)
    rubric = await deps.cache.active(uow.conn)
    states = await deps.leads.load(uow.conn, lead_ids)
    await _grade(deps, events, uow, states, rubric, facts_changed=True)


async def on_lead_engaged(deps: ScoringDeps, events: Sequence[LeadEngaged], uow: UnitOfWork) -> None:
    """Store each engagement as evidence; re-grade captured leads and emit
    ``lead-scored`` with the previous grade. Engagements of leads not captured yet
    are only stored: they count when the capture arrives."""
    lead_ids = [e.lead_id for e in events]
    await deps.leads.lock(uow.conn, lead_ids)
    rubric = await deps.cache.active(uow.conn)
    states = await deps.leads.load(uow.conn, lead_ids)  # before this batch's evidence is written
    # Only leads already stored as captured are graded here: their facts are as stored.
    await _grade(deps, events, uow, states, rubric, facts_changed=False)
    await deps.leads.add_evidence(uow.conn, [(e.lead_id, evidence_from(e), e.campaign) for e in events])


async def on_collateral_viewed(deps: ScoringDeps, events: Sequence[CollateralViewed], uow: UnitOfWork) -> None:
    """A lead opened collateral a rep shared: engagement, counted as a content download
    (``domain.lead.engagement_of_view``), graded as any other."""
    await on_lead_engaged(deps, [engagement_of_view(e) for e in events], uow)


async def refresh_grade_gauge(deps: ScoringDeps, units: UnitOfWorkFactory) -> None:
    """The ``grade-gauge`` job: how many leads hold each grade now, by source."""
    async with units() as uow:
        counts = await deps.leads.grade_counts(uow.conn, "source")
    metrics.set_grade_counts(counts)


async def load_rubric_file(deps: ScoringDeps, units: UnitOfWorkFactory) -> None:
    """At start: make ``deps.rubric_file`` the active rubric if none is active yet."""
    assert deps.rubric_file is not None, "registry() adds this job only with a rubric file"
    async with units() as uow:
        await bootstrap(deps, uow, deps.rubric_file)


# ------------------------------------------------------------------ rubric commands


async def create_draft(deps: ScoringDeps, uow: UnitOfWork, document: RubricDocument, text: str,
                       who: audit.Who) -> StoredRubric:
    """Store a validated rubric document as a new draft version (raises ``VersionExists``)."""
    meta = lifecycle.new_draft(document.version, utcnow(), who.subject)
    await deps.rubrics.insert(uow.conn, meta, text, document.description)
    audit.record(uow, who, "rubric.drafted", "rubric", document.version,
                 after={"description": document.description, "document": text})
    return StoredRubric(meta, text, document.description)


async def _locked(deps: ScoringDeps, uow: UnitOfWork, version: str) -> StoredRubric:
    await deps.rubrics.lock(uow.conn)
    stored = await deps.rubrics.get(uow.conn, version)
    if stored is None:
        raise UnknownRubric(version)
    return stored


async def approve(deps: ScoringDeps, uow: UnitOfWork, version: str, who: audit.Who,
                  side: lifecycle.Side) -> lifecycle.RubricVersion:
    """Record ``who``'s approval of a draft for one side (the approver is the caller's
    subject: one person cannot sign for both sides)."""
    stored = await _locked(deps, uow, version)
    meta = lifecycle.approve(stored.meta, who.subject, side, utcnow())
    if meta is stored.meta:  # approved twice: nothing changed, nothing to record
        return meta
    await deps.rubrics.save_state(uow.conn, meta)
    audit.record(uow, who, "rubric.approved", "rubric", version, before={"status": stored.meta.status},
                 after={"status": meta.status}, details={"side": side})
    return meta


async def activate(deps: ScoringDeps, uow: UnitOfWork, version: str, who: audit.Who) -> lifecycle.RubricVersion:
    """Make an approved version the one that grades live traffic; emits
    ``rubric-activated``. Activating the active version changes nothing."""
    stored = await _locked(deps, uow, version)
    current = await deps.rubrics.active(uow.conn)
    # Re-validate: the document must still parse under today's code before it grades anything.
    load_rubric(stored.document)
    meta, retired = lifecycle.activate(stored.meta, current.meta if current else None, utcnow(), who.subject)
    if meta is stored.meta:
        return meta
    if retired is not None:
        await deps.rubrics.save_state(uow.conn, retired)  # first: only one row may be 'active'
    await deps.rubrics.save_state(uow.conn, meta)
    await _activated(deps, uow, who, meta, stored.meta.status, current.meta.version if current else None)
    return meta


async def _activated(deps: ScoringDeps, uow: UnitOfWork, who: audit.Who, meta: lifecycle.RubricVersion,
                     before: str | None, previous: str | None) -> None:
    await deps.rubrics.record_activation(uow.conn, meta, previous)
    uow.emit(RubricActivated(
        version=meta.version, previous_version=previous, activated_by=meta.activated_by or "",
        approvals=tuple(RubricApproval(approver=a.approver, side=a.side, approved_at=a.approved_at)
                        for a in meta.approvals)))
    audit.record(uow, who, "rubric.activated", "rubric", meta.version, before={"status": before},
                 after={"status": meta.status},
                 details={"previous_version": previous,
                          "approvals": [{"approver": a.approver, "side": a.side} for a in meta.approvals]})


async def bootstrap(deps: ScoringDeps, uow: UnitOfWork, path: Path) -> str | None:
    """On a fresh install (no active version), make the repository's rubric file the
    active version. Returns the version activated now, or None if one was active."""
    await deps.rubrics.lock(uow.conn)
    if await deps.rubrics.active_version(uow.conn) is not None:
        return None
    text = path.read_text()  # noqa: ASYNC240 - one small file, once, at start
    document = parse_rubric(text)  # an invalid file stops the service at start, loudly
    origin = f"startup:{path.name}"
    existing = await deps.rubrics.get(uow.conn, document.version)
    if existing is None:
        meta = lifecycle.bootstrap_active(document.version, utcnow(), origin)
        await deps.rubrics.insert(uow.conn, meta, text, document.description)
    else:
        if existing.document != text:
            raise RuntimeError(f"rubric file {path} has version {document.version}, which is stored with a "
                               "different document; give the file a new version")
        meta = replace(existing.meta, status="active", activated_at=utcnow(), activated_by=origin,
                       retired_at=None)
        await deps.rubrics.save_state(uow.conn, meta)
    await _activated(deps, uow, audit.system(origin), meta, existing.meta.status if existing else None, None)
    log.info("rubric file activated", extra={"version": document.version, "file": str(path)})
    return document.version


# ------------------------------------------------------------------ reads for the HTTP edge


async def score_view(deps: ScoringDeps, uow: UnitOfWork, lead_id: str) -> Row:
    """A lead's stored grade with its ledger. Raises :class:`UnknownLead` (saying whether
    engagement for it is waiting for its capture)."""
    row = await deps.leads.score_view(uow.conn, lead_id)
    if row is None:
        raise UnknownLead(lead_id, pending=await deps.leads.has_evidence(uow.conn, lead_id))
    return row


async def grade_counts(deps: ScoringDeps, uow: UnitOfWork, by: str | None, *, campaign: str | None = None,
                       source: str | None = None, segment: str | None = None) -> dict[str | None, dict[str, int]]:
    """How many leads hold each grade now, grouped ``by`` a column, with filters."""
    return await deps.leads.grade_counts(uow.conn, by, campaign=campaign, source=source, segment=segment)


async def rubric_history(deps: ScoringDeps, uow: UnitOfWork) -> tuple[list[StoredRubric], list[Row]]:
    """Every rubric version, and every activation."""
    return await deps.rubrics.history(uow.conn), await deps.rubrics.activations(uow.conn)


async def rubric(deps: ScoringDeps, uow: UnitOfWork, version: str | None) -> StoredRubric:
    """One rubric version (``None``: the active one). Raises :class:`UnknownRubric`."""
    stored = await (deps.rubrics.active(uow.conn) if version is None else deps.rubrics.get(uow.conn, version))
    if stored is None:
        raise UnknownRubric(version or "(active)")
    return stored
