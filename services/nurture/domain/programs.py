"""Nurture tracks as data, and the step machine that runs them. Pure: no I/O.

A track is marketing's program for leads sales is not working: who enters it (entry
rules over why the lead came to nurture, its grade, segment, campaign and campaign
member status), what it does (steps: send an email from a template, wait N business
days, create a rep task, branch on engagement or grade), when a lead leaves it early
(exit rules) and what follows when it is done (the next track, or the same one again).
Tracks are versioned: a changed track is a new version; a lead keeps the version it
entered with until it leaves.

:func:`run_from` is the step machine: given where an enrolment stands and what is known
about the lead now, it returns what to do (emails, tasks) and when the enrolment next
wakes up. The handler carries that out in one transaction with the timer's change, so
each step fires once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.nurture.domain.calendar import BusinessCalendar
from shared.events import Grade, NurtureReason, is_sales_grade

MERGE_FIELDS: frozenset[str] = frozenset({
    "first_name", "name", "company", "email", "campaign", "track", "unsubscribe_url", "rep_name"})
"""What a template may name as ``{{ field }}``."""

_FIELD_RE = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
_SLUG = r"^[a-z0-9][a-z0-9-]{0,63}$"


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def merge_fields_in(text: str) -> set[str]:
    return set(_FIELD_RE.findall(text))


class EmailTemplate(_Doc):
    """An email's subject and bodies (text and HTML) with ``{{ field }}`` merge fields."""

    subject: str = Field(min_length=1, max_length=300)
    text: str = Field(min_length=1)
    html: str = Field(min_length=1)

    @model_validator(mode="after")
    def _known_fields(self) -> EmailTemplate:
        for part in ("subject", "text", "html"):
            unknown = merge_fields_in(getattr(self, part)) - MERGE_FIELDS
            if unknown:
                raise ValueError(f"{part}: unknown merge field(s) {sorted(unknown)}; known: {sorted(MERGE_FIELDS)}")
        return self


class EmailStep(_Doc):
    kind: Literal["email"] = "email"
    id: str = Field(pattern=_SLUG)
    email: EmailTemplate


class WaitStep(_Doc):
    kind: Literal["wait"] = "wait"
    id: str = Field(pattern=_SLUG)
    business_days: int = Field(ge=1, le=365)


class TaskStep(_Doc):
    """A task for the rep who owns the lead (or the team queue when none does)."""

    kind: Literal["task"] = "task"
    id: str = Field(pattern=_SLUG)
    title: str = Field(min_length=1, max_length=300)
    due_business_days: int = Field(default=1, ge=0, le=60)
    team: str = "inside"


class BranchCondition(_Doc):
    """True when every given part holds: the lead engaged (opened, clicked, visited) since
    it entered the track; its grade is one of ``grade_in``."""

    engaged: bool | None = None
    grade_in: tuple[Grade, ...] | None = None

    @model_validator(mode="after")
    def _something(self) -> BranchCondition:
        if self.engaged is None and not self.grade_in:
            raise ValueError("a branch needs 'engaged' or 'grade_in'")
        return self

    def holds(self, facts: LeadFacts) -> bool:
        if self.engaged is not None and facts.engaged != self.engaged:
            return False
        return not (self.grade_in and facts.grade not in self.grade_in)


class BranchStep(_Doc):
    """Go to step ``goto`` when ``when`` holds, else on to the next step."""

    kind: Literal["branch"] = "branch"
    id: str = Field(pattern=_SLUG)
    when: BranchCondition
    goto: str


Step = Annotated[EmailStep | WaitStep | TaskStep | BranchStep, Field(discriminator="kind")]


class EntryRule(_Doc):
    """Who joins: every given list must contain the lead's value (an empty list: any)."""

    reasons: tuple[NurtureReason, ...] = ()
    grades: tuple[Grade, ...] = ()
    segments: tuple[str, ...] = ()  # the segment's name or one of its parts
    campaigns: tuple[str, ...] = ()
    member_statuses: tuple[str, ...] = ()  # a campaign member status that enrols, e.g. no_show

    def admits(self, entry: Entry) -> bool:
        if self.member_statuses:
            if entry.member_status not in self.member_statuses:
                return False
        elif entry.member_status is not None:
            return False  # tracks for member statuses take those; the others take routing's hand-offs
        if self.reasons and entry.reason not in self.reasons:
            return False
        if self.grades and entry.grade not in self.grades:
            return False
        if self.segments and not ({entry.segment, *entry.segment_parts} & set(self.segments)):
            return False
        return not (self.campaigns and entry.campaign not in self.campaigns)


class ExitRule(_Doc):
    """When a lead leaves before the end: re-graded to a grade sales works
    (``shared.events.is_sales_grade``, the rule routing takes the lead back by), replied,
    unsubscribed. ``sales_grade`` is off only for a track that follows up leads sales may
    already own (a webinar's no-shows get the recording whatever their grade)."""

    sales_grade: bool = True
    replied: bool = True
    unsubscribed: bool = True


class Then(_Doc):
    """After the last step: ``next`` track, or ``recycle`` (this track again after
    ``after_business_days``), or ``stop`` (completed, stays in the pool)."""

    action: Literal["next", "recycle", "stop"] = "stop"
    track: str | None = None
    after_business_days: int = Field(default=20, ge=1, le=365)

    @model_validator(mode="after")
    def _track_for_next(self) -> Then:
        if (self.action == "next") != (self.track is not None):
            raise ValueError("'track' is given exactly when action is 'next'")
        return self


class TrackDefinition(_Doc):
    """One version of a track, as marketing writes it."""

    name: str = Field(pattern=_SLUG)
    description: str = ""
    priority: int = Field(default=100, description="lower first, when several tracks admit a lead")
    entry: EntryRule = EntryRule()
    exit: ExitRule = ExitRule()
    then: Then = Then()
    steps: tuple[Step, ...] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _ids_and_gotos(cls, steps: tuple[Step, ...]) -> tuple[Step, ...]:
        ids = [s.id for s in steps]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"step ids must be unique: {dupes}")
        for s in steps:
            if isinstance(s, BranchStep) and s.goto not in ids:
                raise ValueError(f"step '{s.id}': goto '{s.goto}' names no step")
        return steps

    def index_of(self, step_id: str) -> int:
        return next(i for i, s in enumerate(self.steps) if s.id == step_id)


@dataclass(frozen=True)
class Entry:
    """Why a lead is offered to the tracks: routing handed it to nurture (``reason``), or a
    campaign moved it to a member status (``member_status``)."""

    reason: NurtureReason | None
    grade: Grade
    segment: str | None = None
    segment_parts: tuple[str, ...] = ()
    campaign: str | None = None
    member_status: str | None = None


def choose_track(tracks: Iterable[TrackDefinition], entry: Entry) -> TrackDefinition | None:
    """The track a lead joins: the first, by priority then name, whose entry rule admits it."""
    for track in sorted(tracks, key=lambda t: (t.priority, t.name)):
        if track.entry.admits(entry):
            return track
    return None


def check_references(tracks: Sequence[TrackDefinition]) -> list[str]:
    """Problems between tracks (a ``then.track`` naming no track)."""
    names = {t.name for t in tracks}
    return [f"{t.name}.then.track: no track '{t.then.track}'" for t in tracks
            if t.then.action == "next" and t.then.track not in names]


# --------------------------------------------------------------------------- the step machine


@dataclass(frozen=True)
class LeadFacts:
    """What the step machine may look at when a step fires."""

    grade: Grade
    engaged: bool = False  # since it entered this track
    replied: bool = False
    unsubscribed: bool = False


@dataclass(frozen=True)
class SendEmail:
    step_id: str
    template: EmailTemplate


@dataclass(frozen=True)
class CreateTask:
    step_id: str
    title: str
    team: str
    due_at: datetime


Action = SendEmail | CreateTask
Outcome = Literal["waiting", "completed", "exited"]


@dataclass(frozen=True)
class Progress:
    """What one firing does: the ``actions`` to carry out, and then either the step the
    enrolment wakes at (``next_index`` at ``due_at``), or its end (``outcome`` completed
    or exited with ``exit_reason``; ``then`` says what follows a completion)."""

    actions: tuple[Action, ...]
    outcome: Outcome
    next_index: int | None = None
    due_at: datetime | None = None
    exit_reason: str | None = None
    then: Then | None = None


def exit_reason(track: TrackDefinition, facts: LeadFacts) -> str | None:
    """Why the lead leaves the track now, or None."""
    if track.exit.sales_grade and is_sales_grade(facts.grade):
        return "sales-grade"
    if track.exit.unsubscribed and facts.unsubscribed:
        return "unsubscribed"
    if track.exit.replied and facts.replied:
        return "replied"
    return None


def run_from(track: TrackDefinition, index: int, facts: LeadFacts, now: datetime,
             calendar: BusinessCalendar) -> Progress:
    """Fire the enrolment's step ``index`` and every step after it up to the next wait
    (a wait sets the next wake-up), a branch jumping as its condition says. Exit rules
    are checked first: a lead that replied, unsubscribed or grades for sales gets nothing
    more. A loop of branches without a wait ends the firing where it would repeat."""
    reason = exit_reason(track, facts)
    if reason is not None:
        return Progress((), "exited", exit_reason=reason)
    actions: list[Action] = []
    visited: set[int] = set()
    i = index
    while i < len(track.steps):
        if i in visited:  # branches looping with no wait between: wait a day rather than spin
            return Progress(tuple(actions), "waiting", next_index=i, due_at=calendar.add_business_days(now, 1))
        visited.add(i)
        step = track.steps[i]
        if isinstance(step, EmailStep):
            actions.append(SendEmail(step.id, step.email))
        elif isinstance(step, TaskStep):
            actions.append(CreateTask(step.id, step.title, step.team,
                                      calendar.add_business_days(now, step.due_business_days)))
        elif isinstance(step, WaitStep):
            return Progress(tuple(actions), "waiting", next_index=i + 1,
                            due_at=calendar.add_business_days(now, step.business_days))
        elif isinstance(step, BranchStep) and step.when.holds(facts):
            i = track.index_of(step.goto)
            continue
        i += 1
    return Progress(tuple(actions), "completed", then=track.then)


# --------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _escape_html(value: str) -> str:
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#x27;"))


def render(template: EmailTemplate, values: dict[str, str]) -> Rendered:
    """The template with its merge fields filled (HTML-escaped in the HTML body); a field
    with no value is left empty."""

    def fill(text: str, escape: bool) -> str:
        return _FIELD_RE.sub(lambda m: (_escape_html if escape else str)(values.get(m.group(1), "")), text)

    return Rendered(fill(template.subject, False).replace("\n", " "), fill(template.text, False),
                    fill(template.html, True))
