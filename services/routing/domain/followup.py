"""A rep's follow-up on an assignment: whether it may be recorded, whether it was on
time, and whether it hands the lead on (to a field rep, or to nurture).

:func:`decide_follow_up` is the whole rule; the handler loads the assignment, asks it,
and carries out the answer. A refusal is a :class:`FollowUpRefused` naming the field
at fault and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from services.routing.domain.config import RoutingConfig
from shared.events import FollowUpOutcome

# An assignment's status: "open" (clock running), "followed_up" (the rep acted; the lead
# stays theirs), "nurture" (marketing holds it), "converted" (the CRM reported its
# opportunity: the clock stopped, the rep's capacity freed, and the lead is never routed
# again); anything else is closed ("missed", "qualified", "disqualified", "returned",
# "handed_on", "taken", "replaced").
ACTIVE_STATUSES: tuple[str, ...] = ("open", "followed_up", "nurture", "converted")
"""A lead's current assignment has one of these (a lead has at most one)."""

WORKED_STATUSES: tuple[str, ...] = ("open", "followed_up")
"""An assignment a rep or a queue is working: follow-ups may be recorded on it."""


def is_active(status: str) -> bool:
    """Whether an assignment with this status is its lead's current one."""
    return status in ACTIVE_STATUSES


@dataclass(frozen=True)
class AssignmentState:
    """What the follow-up rule needs to know of an assignment."""

    assignment_id: str
    owner_kind: str
    rep_id: str | None
    team: str | None
    status: str
    due_at: datetime | None


class FollowUpRefused(Exception):
    """A follow-up that cannot be recorded; ``field`` names the input at fault."""

    field = "assignment_id"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotTheOwner(FollowUpRefused):
    """Only the rep who holds an assignment records its follow-ups."""

    field = "rep_id"


class AssignmentClosed(FollowUpRefused):
    """The assignment was closed (missed, handed on, returned): nothing to follow up."""


class NoteRequired(FollowUpRefused):
    """A disqualification says why, so marketing knows what to nurture."""

    field = "note"


HandOff = Literal["qualified", "disqualified"]


@dataclass(frozen=True)
class FollowUpDecision:
    """What a recorded follow-up does: ``on_time`` for the SLA, and ``hand_off`` when
    the lead moves on (None: the rep keeps it and the clock stops)."""

    on_time: bool
    hand_off: HandOff | None


def decide_follow_up(config: RoutingConfig, assignment: AssignmentState, rep_id: str, outcome: FollowUpOutcome,
                     note: str, now: datetime) -> FollowUpDecision:
    """Whether ``rep_id`` may record ``outcome`` on ``assignment`` now, and what it does.

    - only the rep holding the assignment records on it (:class:`NotTheOwner`);
    - a closed assignment takes no follow-up (:class:`AssignmentClosed`);
    - ``disqualified`` needs a note saying why (:class:`NoteRequired`);
    - it is on time before the due time, or if the rep already followed up on time once
      (the clock stopped then); an assignment without a clock is always on time;
    - ``disqualified`` hands the lead to nurture; ``qualified`` from a team that
      qualifies leads (inside sales) hands it to the ``stage: qualified`` rules; any
      other outcome leaves it with the rep."""
    if assignment.owner_kind != "rep" or assignment.rep_id != rep_id:
        holder = assignment.rep_id or f"the {assignment.team} queue"
        raise NotTheOwner(f"assignment '{assignment.assignment_id}' belongs to {holder}, not to '{rep_id}'")
    if assignment.status not in WORKED_STATUSES:
        raise AssignmentClosed(f"assignment '{assignment.assignment_id}' is closed ({assignment.status})")
    if outcome == FollowUpOutcome.DISQUALIFIED and not note.strip():
        raise NoteRequired("say why the lead is disqualified")
    on_time = assignment.due_at is None or now <= assignment.due_at or assignment.status == "followed_up"
    hand_off: HandOff | None = None
    if outcome == FollowUpOutcome.DISQUALIFIED:
        hand_off = "disqualified"
    elif outcome == FollowUpOutcome.QUALIFIED:
        team = config.teams.get(assignment.team or "")
        if team is not None and team.qualifies:
            hand_off = "qualified"
    return FollowUpDecision(on_time, hand_off)
