"""Nurture's pure rules: which marketing track a lead joins, and when it is warm
enough to go back to sales. Leads here are marketing's to keep, never lost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Reason = Literal["low-grade", "missed-follow-up", "disqualified", "no-owner"]


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
