"""The event contracts. Defined once, imported by every service.

Every event is an immutable pydantic model named in the past tense. Each carries
``event_id`` (also the CloudEvents ``ce_id``), ``occurred_at`` (when it happened in
the world, UTC) and the id that keys its topic (``lead_id`` for lead events), so
that everything about one lead stays on one partition of every topic.

Event ids derived from another event (``derive_event_id``) are deterministic, so a
handler that runs twice for the same input emits the same ids and downstream inboxes
drop the second copy.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

_NAMESPACE = uuid.UUID("6f1c1a52-3c59-4b7e-9a9b-0d5c1e0b1e7a")


def new_event_id() -> str:
    return str(uuid.uuid4())


_NAMESPACE_BYTES = _NAMESPACE.bytes


def derive_event_id(*parts: str) -> str:
    """A stable id for an event caused by ``parts`` (e.g. the input event id and a role):
    ``str(uuid.uuid5(_NAMESPACE, "/".join(parts)))``, computed without building UUID
    objects (scoring derives one per event; the contract test checks they agree)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + "/".join(parts).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Event(Frozen):
    """Base of every event. ``TYPE`` is the CloudEvents type."""

    TYPE: ClassVar[str] = "io.leadbridge.event.v1"

    event_id: str = Field(default_factory=new_event_id)
    occurred_at: AwareDatetime = Field(default_factory=utcnow)

    @field_validator("occurred_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


# --------------------------------------------------------------------------- leads


class LeadSource(StrEnum):
    """Where a lead was captured. Marketing owns these channels."""

    WEB_FORM = "web_form"
    BADGE_SCAN = "badge_scan"
    LIST_IMPORT = "list_import"
    WEBINAR = "webinar"
    AD_FORM = "ad_form"
    INTENT_SIGNAL = "intent_signal"
    DIRECTORY = "directory"
    REFERRAL = "referral"
    AGENCY = "agency"


class Behaviour(StrEnum):
    """Engagement behaviours that re-score a lead."""

    PAGE_VISIT = "page_visit"
    CONTENT_DOWNLOAD = "content_download"
    EMAIL_OPEN = "email_open"
    EMAIL_REPLY = "email_reply"
    WEBINAR_INVITED = "webinar_invited"
    WEBINAR_REGISTERED = "webinar_registered"
    WEBINAR_ATTENDED = "webinar_attended"
    EVENT_VISIT = "event_visit"
    DEMO_REQUEST = "demo_request"
    INTENT_SIGNAL = "intent_signal"
    PRICING_VISIT = "pricing_visit"


Grade = Literal["A", "B", "C", "D"]


class LeadProfile(Frozen):
    """What is known about the person and company. Travels on lead events so that
    downstream services never read capture's tables."""

    # Capture validated the address fully at the edge (EmailStr); downstream decoders
    # only check its shape, which is far cheaper on every hop.
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)
    name: str
    company: str
    title: str = ""
    country: str = Field(default="", description="ISO 3166-1 alpha-2, upper case")
    company_size: int | None = None
    industry: str | None = None
    phone: str | None = None


class LeadCaptured(Event):
    """A lead was captured (or captured again from another source: ``is_repeat``)."""

    TYPE: ClassVar[str] = "io.leadbridge.lead.captured.v1"

    lead_id: str
    capture_id: str
    profile: LeadProfile
    source: LeadSource
    campaign: str | None = None
    consent: bool
    is_repeat: bool = False
    attributes: dict[str, str] = Field(default_factory=dict)


class LeadEngaged(Event):
    """A captured lead did something that counts as engagement."""

    TYPE: ClassVar[str] = "io.leadbridge.lead.engaged.v1"

    lead_id: str
    activity_id: str
    behaviour: Behaviour
    campaign: str | None = None
    detail: dict[str, str] = Field(default_factory=dict)


class ScoreReason(Frozen):
    """One contribution to a score, with the rule that made it and the evidence."""

    rule: str
    points: float
    evidence: str = ""


class LeadScored(Event):
    """Scoring graded a lead under the active rubric."""

    TYPE: ClassVar[str] = "io.leadbridge.lead.scored.v1"

    lead_id: str
    cause_event_id: str
    profile: LeadProfile
    source: LeadSource
    campaign: str | None = None
    score: float
    fit_score: float
    engagement_score: float
    grade: Grade
    previous_grade: Grade | None = None
    segment: str
    hot: bool = False
    disqualified: bool = False
    rubric_version: str
    reasons: tuple[ScoreReason, ...] = ()


OwnerKind = Literal["rep", "queue", "nurture"]


class LeadAssigned(Event):
    """Routing gave a lead an owner: a rep (with a follow-up due time), a team queue,
    or marketing's nurture pool."""

    TYPE: ClassVar[str] = "io.leadbridge.lead.assigned.v1"

    lead_id: str
    assignment_id: str
    owner_kind: OwnerKind
    rep_id: str | None = None
    team: str | None = None
    due_at: AwareDatetime | None = None
    rule: str
    reason: str
    grade: Grade
    segment: str
    campaign: str | None = None
    attempt: int = 0
    previous_assignment_id: str | None = None


class FollowUpOutcome(StrEnum):
    CONTACTED = "contacted"
    LEFT_MESSAGE = "left_message"
    MEETING_BOOKED = "meeting_booked"
    QUALIFIED = "qualified"
    DISQUALIFIED = "disqualified"


class FollowUpRecorded(Event):
    """A rep followed up on an assignment before (or after) it came due."""

    TYPE: ClassVar[str] = "io.leadbridge.followup.recorded.v1"

    lead_id: str
    assignment_id: str
    rep_id: str
    outcome: FollowUpOutcome
    note: str = ""
    on_time: bool


class FollowUpMissed(Event):
    """An assignment's due time passed without a follow-up."""

    TYPE: ClassVar[str] = "io.leadbridge.followup.missed.v1"

    lead_id: str
    assignment_id: str
    rep_id: str | None
    team: str | None
    due_at: AwareDatetime
    escalation: int = Field(description="how many times this lead has been escalated, this one included")
    next_action: Literal["reassign", "nurture"]
    grade: Grade
    segment: str
    campaign: str | None = None


class RubricApproval(Frozen):
    """One approver's sign-off on a rubric version, for one side."""

    approver: str
    side: Literal["marketing", "sales"]
    approved_at: AwareDatetime


class RubricActivated(Event):
    """A grading rubric version, approved by marketing and sales, now grades live leads
    (keyed by ``version``; ``previous_version`` was retired by it)."""

    TYPE: ClassVar[str] = "io.leadbridge.rubric.activated.v1"

    version: str
    previous_version: str | None = None
    activated_by: str = ""
    approvals: tuple[RubricApproval, ...] = ()


class FollowUpReminderIssued(Event):
    """An assignment's follow-up comes due soon: its owner (or team) is reminded."""

    TYPE: ClassVar[str] = "io.leadbridge.followup.reminder.v1"

    lead_id: str
    assignment_id: str
    owner_kind: OwnerKind
    rep_id: str | None
    team: str | None
    due_at: AwareDatetime
    grade: Grade
    segment: str


class FollowUpEscalated(Event):
    """A missed follow-up moved the lead to its next owner; ``manager`` of the team is told."""

    TYPE: ClassVar[str] = "io.leadbridge.followup.escalated.v1"

    lead_id: str
    missed_assignment_id: str
    missed_rep_id: str | None
    assignment_id: str
    owner_kind: OwnerKind
    rep_id: str | None
    team: str | None
    escalation: int
    manager_name: str | None = None
    manager_email: str | None = None


class RoutingConfigChanged(Event):
    """The sales organisation (teams, reps, availability) or the routing rules changed;
    ``document`` is the whole new version. Keyed by ``kind``."""

    TYPE: ClassVar[str] = "io.leadbridge.routing.config.changed.v1"

    kind: Literal["org", "rules"]
    version: int
    change: str
    changed_by: str = ""
    document: dict[str, Any]


class DeadLettered(Frozen):
    """What the dead-letter headers say about a record that could not be handled.
    (Not an event on a lead topic: the original bytes travel unchanged.)"""

    original_topic: str
    original_partition: int
    original_offset: int
    error: str
    service: str
