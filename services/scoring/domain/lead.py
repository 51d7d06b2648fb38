"""A lead as scoring sees it: the facts from its captures, its engagement evidence, and
its last grade. Both the live handlers and the replay use this one merge, so a replay
grades exactly as live traffic did.

The merge is order-independent: the latest capture (by the time it happened, then by
event id) supplies the profile, the earliest capture that names a campaign supplies
the campaign, and evidence is a set keyed by event id. An engagement that arrives
before its lead's capture is kept and counts once the capture arrives.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.scoring.domain.rubric import CompiledRubric
from services.scoring.domain.scoring import CapturedFacts, Evidence, ScoreResult, score_lead
from shared.events import Behaviour, CollateralViewed, Grade, LeadCaptured, LeadEngaged, LeadSource


def facts_from(event: LeadCaptured) -> CapturedFacts:
    p = event.profile
    return CapturedFacts(lead_id=event.lead_id, email=str(p.email), company=p.company, title=p.title,
                         country=p.country, company_size=p.company_size, industry=p.industry,
                         source=event.source.value, consent=event.consent, capture_event_id=event.event_id,
                         captured_ts=event.occurred_at.timestamp())


def engagement_of_view(event: CollateralViewed) -> LeadEngaged:
    """A lead opening collateral a rep shared is a content download (the rubric's
    ``content_download``): the same engagement, with the view's event id, so a
    redelivered view is one piece of evidence and re-grades to the same event ids."""
    return LeadEngaged(event_id=event.event_id, occurred_at=event.occurred_at, lead_id=event.lead_id,
                       activity_id=event.view_id, behaviour=Behaviour.CONTENT_DOWNLOAD,
                       detail={"item_id": event.item_id, "version": str(event.version), "share_id": event.share_id,
                               "rep_id": event.rep_id})


def evidence_from(event: LeadEngaged) -> Evidence:
    return Evidence(event.event_id, event.behaviour.value, event.occurred_at.timestamp())


@dataclass
class LeadState:
    """Everything scoring keeps about one lead. ``profile`` is the latest capture's
    ``LeadProfile`` as its JSON document: stored, and carried on ``lead-scored``, as is."""

    lead_id: str
    facts: CapturedFacts | None = None
    profile: dict[str, Any] | None = None
    source: LeadSource | None = None
    campaign: str | None = None
    campaign_key: tuple[float, str] | None = None
    evidence: dict[str, Evidence] = field(default_factory=dict)
    result: ScoreResult | None = None
    grade: Grade | None = None

    @property
    def captured(self) -> bool:
        return self.facts is not None

    def apply_capture(self, event: LeadCaptured) -> None:
        """Merge a capture (first or repeated, in any order)."""
        facts = facts_from(event)
        if self.facts is None or (facts.captured_ts, facts.capture_event_id) >= (
                self.facts.captured_ts, self.facts.capture_event_id):
            self.facts, self.profile, self.source = facts, event.profile.model_dump(), event.source
        if event.campaign:
            key = (facts.captured_ts, event.event_id)
            if self.campaign_key is None or key < self.campaign_key:
                self.campaign, self.campaign_key = event.campaign, key

    def add_evidence(self, evidence: Evidence) -> bool:
        """Add an engagement; False if it was already known."""
        if evidence.event_id in self.evidence:
            return False
        self.evidence[evidence.event_id] = evidence
        return True

    def rescore(self, rubric: CompiledRubric) -> tuple[ScoreResult, Grade | None] | None:
        """Grade the lead now; returns the result and the grade before it (None if not
        captured yet: there is nothing to grade)."""
        if self.facts is None:
            return None
        previous = self.grade
        self.result = score_lead(rubric, self.facts, self.evidence.values())
        self.grade = self.result.grade
        return self.result, previous


@dataclass(frozen=True, slots=True)
class Graded:
    """The outcome of one input event for a captured lead."""

    lead: LeadState
    cause: LeadCaptured | LeadEngaged
    result: ScoreResult
    previous_grade: Grade | None


def merge_event(leads: dict[str, LeadState], event: LeadCaptured | LeadEngaged) -> LeadState:
    """Merge one event into its lead's state (created if missing); returns the state.
    Captures and engagements merge in any order."""
    state = leads.get(event.lead_id)
    if state is None:
        state = leads[event.lead_id] = LeadState(event.lead_id)
    if isinstance(event, LeadCaptured):
        state.apply_capture(event)
    else:
        state.add_evidence(evidence_from(event))
    return state


def apply_events(leads: dict[str, LeadState], events: Sequence[LeadCaptured | LeadEngaged],
                 rubric: CompiledRubric) -> list[Graded]:
    """Apply events in order to ``leads`` (creating missing states) and grade each
    captured lead after each event. Engagements for leads not yet captured are kept
    and produce no grade."""
    out: list[Graded] = []
    for event in events:
        state = merge_event(leads, event)
        graded = state.rescore(rubric)
        if graded is not None:
            out.append(Graded(state, event, graded[0], graded[1]))
    return out


def final_grades(leads: Iterable[LeadState], rubric: CompiledRubric) -> dict[str, ScoreResult]:
    """Grade every captured lead from its full history (what a replay does)."""
    results: dict[str, ScoreResult] = {}
    for state in leads:
        if state.facts is not None:
            results[state.lead_id] = score_lead(rubric, state.facts, state.evidence.values())
    return results
