"""Nurture's pure rules: which marketing track a lead joins, and when it is warm
enough to go back to sales. Leads here are marketing's to keep,
never lost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.events import Grade, NurtureReason, is_sales_grade

PoolStatus = Literal["nurturing", "ready-for-sales", "returned-to-sales"]


@dataclass(frozen=True)
class Track:
    name: str
    description: str
    cadence_days: int


TRACKS: dict[str, Track] = {
    "long-term": Track("long-term", "Fit but no current intent: monthly insight content", 30),
    "re-engage": Track("re-engage", "A rep missed the follow-up: a short sequence to restart the conversation", 7),
    "recycle": Track("recycle", "Disqualified for now: quarterly check-in", 90),
    "cold": Track("cold", "Poor fit: newsletter only", 90),
}

POOR_FIT: frozenset[Grade] = frozenset({"D"})
"""Grades too poor a fit for more than the newsletter."""


def track_for(reason: NurtureReason, grade: Grade) -> Track:
    """The track a lead joins, by why routing sent it to nurture (``LeadAssigned.nurture_reason``)
    and how it grades."""
    if reason is NurtureReason.MISSED_FOLLOW_UP:
        return TRACKS["re-engage"]
    if reason is NurtureReason.DISQUALIFIED:
        return TRACKS["recycle"]
    return TRACKS["cold"] if grade in POOR_FIT else TRACKS["long-term"]


def status_after_scored(status: str, grade: Grade) -> PoolStatus | None:
    """A pooled lead was re-scored: one still being nurtured that now grades as sales
    works (``shared.events.is_sales_grade``, the rule routing takes it back by) is ready
    for sales; nurture lets go when it sees the new owner. None: its status stays."""
    if status == "nurturing" and is_sales_grade(grade):
        return "ready-for-sales"
    return None
