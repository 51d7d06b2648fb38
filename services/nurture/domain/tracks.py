"""Nurture's pure rules: why a lead came to nurture, which marketing track it joins,
and when it is warm enough to go back to sales. Leads here are marketing's to keep,
never lost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.events import LeadAssigned

Reason = Literal["low-grade", "missed-follow-up", "disqualified", "no-owner"]
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

RETURN_GRADES = frozenset({"A", "B"})


def why_nurtured(assigned: LeadAssigned) -> Reason:
    """Why routing handed a lead to nurture: a later attempt means reps missed it; a
    rep's disqualification; otherwise its grade is not one sales works."""
    if assigned.attempt > 0:
        return "missed-follow-up"
    return "disqualified" if "disqualif" in assigned.reason.lower() else "low-grade"


def track_for(reason: Reason, grade: str) -> Track:
    """The track a lead joins, by why it came to nurture and how it grades."""
    if reason == "missed-follow-up":
        return TRACKS["re-engage"]
    if reason == "disqualified":
        return TRACKS["recycle"]
    return TRACKS["long-term"] if grade in ("A", "B", "C") else TRACKS["cold"]


def is_ready_for_sales(grade: str) -> bool:
    """Engagement re-scored the lead up to a grade sales works: routing takes it back."""
    return grade in RETURN_GRADES


def status_after_scored(status: str, grade: str) -> PoolStatus | None:
    """A pooled lead was re-scored: one still being nurtured that now grades for sales
    is ready for sales (routing moves it; nurture lets go when it sees the new owner).
    None: its status stays."""
    if status == "nurturing" and is_ready_for_sales(grade):
        return "ready-for-sales"
    return None
