"""What a rep sees first and what they can record: the order of their leads, how the
time left reads, and the follow-ups offered in two taps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FollowUpChoice:
    """One button on a lead card: the outcome routing records, its label, and whether
    a reason must be given (a disqualification says why, for marketing's nurture)."""

    outcome: str
    label: str
    needs_reason: bool = False


FOLLOW_UP_CHOICES: tuple[FollowUpChoice, ...] = (
    FollowUpChoice("called", "Called"),
    FollowUpChoice("emailed", "Emailed"),
    FollowUpChoice("meeting_booked", "Meeting booked"),
    FollowUpChoice("qualified", "Qualified → hand off"),
    FollowUpChoice("disqualified", "Disqualified", needs_reason=True),
)
"""The follow-ups a rep records from a card, in the order they are offered (the values
of ``shared.events.FollowUpOutcome``)."""

DISQUALIFY_REASONS: tuple[str, ...] = ("No budget", "No need", "Not the decision maker", "Competitor customer",
                                       "Wrong contact details", "Student or job seeker")
"""One-tap reasons for a disqualification (a free-text one may be typed instead)."""


def choice(outcome: str) -> FollowUpChoice | None:
    return next((c for c in FOLLOW_UP_CHOICES if c.outcome == outcome), None)


def by_clock(assignments: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """A rep's leads, most urgent first: overdue ones (most overdue first), then by time
    left on the follow-up clock; leads whose clock has stopped come last, in the order given."""
    def key(a: Mapping[str, Any]) -> tuple[int, float]:
        left = a.get("seconds_left")
        return (1, 0.0) if left is None else (0, float(left))
    return sorted(assignments, key=key)


def time_left(seconds: float | None) -> str:
    """How the clock reads on a card: "overdue 3 min", "2 h 5 min left", "clock stopped"."""
    if seconds is None:
        return "clock stopped"
    overdue = seconds <= 0
    s = int(abs(seconds))
    days, rest = divmod(s, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days} d {hours} h"
    elif hours:
        text = f"{hours} h {minutes} min"
    elif minutes:
        text = f"{minutes} min"
    else:
        text = f"{secs} s"
    return f"overdue {text}" if overdue else f"{text} left"


def top_reasons(ledger: Sequence[Mapping[str, Any]], n: int = 3) -> list[Mapping[str, Any]]:
    """The grade's main reasons: the ledger's lines that moved the score most."""
    return sorted((line for line in ledger if line.get("points")), key=lambda line: -abs(float(line["points"])))[:n]


def reason_label(rule: str) -> str:
    """A rubric rule's name as a person reads it: ``fit.title.function.marketing`` →
    "title: function marketing (fit)"."""
    kind, _, rest = rule.partition(".")
    if not rest:
        return rule.replace("_", " ")
    head, _, tail = rest.partition(".")
    text = head.replace("_", " ") + (": " + tail.replace(".", " ").replace("_", " ") if tail else "")
    return f"{text} ({kind})"
