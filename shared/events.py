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
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar, get_args

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

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


def normalise_email(email: str) -> str:
    """One person, one key: case and surrounding space never make a second lead (capture
    recognises people by it; nurture finds marketing's list members by it)."""
    return email.strip().lower()


def lead_id_for_email(email: str) -> str:
    """The lead id of the person with this email, the same for every producer: capture
    gives it to a new person, and the codec fills it into a ``lead-captured`` an outside
    producer sent without one. It is ``uuid5(6f1c1a52-3c59-4b7e-9a9b-0d5c1e0b1e7a,
    "lead/" + normalised email)``, so a producer in any language can compute the record
    key (see docs/PRODUCERS.md)."""
    return derive_event_id("lead", normalise_email(email))


def utcnow() -> datetime:
    return datetime.now(UTC)


class Frozen(BaseModel):
    # Validation errors never echo the input: they end up in dead letters' headers and in
    # logs, and the input may be a person's opened (decrypted) personal data.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class Event(Frozen):
    """Base of every event. ``TYPE`` is the CloudEvents type."""

    TYPE: ClassVar[str] = "io.leadbridge.event.v1"
    PERSONAL: ClassVar[tuple[str, ...]] = ()
    """Where the event carries personal data: dotted paths into its JSON (``*`` for every
    value of a map). The runtime seals these with the person's key (:mod:`shared.pii`)."""

    event_id: str = Field(default_factory=new_event_id)
    occurred_at: AwareDatetime = Field(default_factory=utcnow)

    @field_validator("occurred_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        try:
            return value.astimezone(UTC)
        except OverflowError:  # year 1 at +05:00: a decode error (dead letter), never a crashed consumer
            raise ValueError("cannot be expressed in UTC") from None

    @classmethod
    def fill_omitted(cls, data: dict[str, Any]) -> None:
        """Fill, in place, fields of a decoded body that an outside producer may leave
        out because they follow from others (``event_id`` and ``occurred_at`` are
        already filled from the CloudEvents attributes). The codec calls it; the
        services' own events never need it."""

    @classmethod
    def pii_subject(cls, data: Mapping[str, Any]) -> str | None:
        """Whose personal data the event (as JSON fields) carries: its lead's id."""
        lead_id = data.get("lead_id")
        return lead_id if isinstance(lead_id, str) else None


E = TypeVar("E", bound="Event")


class Encoded(Generic[E]):
    """An event its model serialised without being built (see :meth:`LeadScored.encoded`),
    for hot paths where building the pydantic model costs more than the work that made
    it. ``value`` is the JSON of a valid ``model``; :meth:`decode` builds the model."""

    __slots__ = ("event_id", "fields", "key", "model", "occurred_at", "value")

    def __init__(self, model: type[E], event_id: str, key: bytes, occurred_at: datetime, value: bytes,
                 fields: dict[str, Any] | None = None) -> None:
        self.model = model
        self.event_id = event_id
        self.key = key
        self.occurred_at = occurred_at
        self.value = value
        # The fields ``value`` was written from: what the runtime seals personal fields in
        # (``model.PERSONAL``) before the event leaves the service.
        self.fields = fields

    def decode(self) -> E:
        return self.model.model_validate_json(self.value)


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
"""The one grade type: every service's grades are these letters, best first."""

GRADES: tuple[Grade, ...] = get_args(Grade)

SALES_GRADES: frozenset[Grade] = frozenset({"A", "B"})
"""The grades sales works, stated once for both sides: a lead graded A or B is sales's
to follow up (routing gives it to a rep, and takes it back from nurture when it heats
up to one of these); below them marketing nurtures it. Routing and nurture both ask
:func:`is_sales_grade`, never a list of their own."""


def is_sales_grade(grade: Grade) -> bool:
    """Whether sales works a lead of this grade (see :data:`SALES_GRADES`)."""
    return grade in SALES_GRADES


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


PROFILE_PERSONAL: tuple[str, ...] = ("profile.email", "profile.name", "profile.title", "profile.phone")
"""The person in a ``LeadProfile`` (the company's facts are not theirs)."""


class LeadCaptured(Event):
    """A lead was captured (or captured again from another source: ``is_repeat``)."""

    TYPE: ClassVar[str] = "io.leadbridge.lead.captured.v1"
    PERSONAL: ClassVar[tuple[str, ...]] = (*PROFILE_PERSONAL, "attributes.*")

    lead_id: str
    capture_id: str
    profile: LeadProfile
    source: LeadSource
    campaign: str | None = None
    consent: bool
    is_repeat: bool = False
    attributes: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def fill_omitted(cls, data: dict[str, Any]) -> None:
        """A scanner may not know the lead id: it is the person's (:func:`lead_id_for_email`).
        The capture id of an outside capture is derived from its event id."""
        profile = data.get("profile")
        if "lead_id" not in data and isinstance(profile, dict) and isinstance(profile.get("email"), str):
            data["lead_id"] = lead_id_for_email(profile["email"])
        if "capture_id" not in data and isinstance(data.get("event_id"), str):
            data["capture_id"] = derive_event_id(data["event_id"], "capture")


class LeadEngaged(Event):
    """A captured lead did something that counts as engagement."""

    TYPE: ClassVar[str] = "io.leadbridge.lead.engaged.v1"
    PERSONAL: ClassVar[tuple[str, ...]] = ("detail.*",)

    lead_id: str
    activity_id: str
    behaviour: Behaviour
    campaign: str | None = None
    detail: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def fill_omitted(cls, data: dict[str, Any]) -> None:
        """The activity id of an outside engagement is derived from its event id."""
        if "activity_id" not in data and isinstance(data.get("event_id"), str):
            data["activity_id"] = derive_event_id(data["event_id"], "activity")


class ScoreReason(Frozen):
    """One contribution to a score, with the rule that made it and the evidence."""

    rule: str
    points: float
    evidence: str = ""


class LeadScored(Event):
    """Scoring graded a lead under the active rubric.

    ``segment`` is the segment's name; ``segment_parts`` are what a segment pattern may
    name besides the whole segment: a composed segment's axes (size band, industry group,
    region, in the order of the segmentation model's format), or the name alone for a
    segment named by a segmentation rule. Consumers match on the parts; they never take
    the name apart.

    The producer's fast path is :meth:`encoded` (the event's bytes without building the
    model); ``shared/tests`` prove those bytes are what the model writes."""

    TYPE: ClassVar[str] = "io.leadbridge.lead.scored.v1"
    PERSONAL: ClassVar[tuple[str, ...]] = PROFILE_PERSONAL

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
    segment_parts: tuple[str, ...] = ()
    hot: bool = False
    disqualified: bool = False
    rubric_version: str
    reasons: tuple[ScoreReason, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _parts_of_old_records(cls, data: Any) -> Any:
        # Records written before ``segment_parts`` existed: every segment then was the
        # default "{size}-{industry}-{region}" format or a rule's name, so its parts are
        # what consumers used to split out of it. New records always carry the field.
        if isinstance(data, dict) and "segment_parts" not in data and isinstance(data.get("segment"), str):
            return {**data, "segment_parts": tuple(data["segment"].split("-"))}
        return data

    @classmethod
    def encoded(cls, *, event_id: str, occurred_at: datetime, lead_id: str, cause_event_id: str,
                profile: Mapping[str, Any], source: LeadSource, campaign: str | None, score: float,
                fit_score: float, engagement_score: float, grade: Grade, previous_grade: Grade | None,
                segment: str, segment_parts: Sequence[str], hot: bool, disqualified: bool, rubric_version: str,
                reasons: Sequence[Mapping[str, Any]]) -> Encoded[LeadScored]:
        """This event, serialised by orjson without building the model: field for field,
        byte for byte what ``model_dump_json()`` writes (``shared/tests`` prove it), for
        the hot path where building the model (its profile and reasons above all) costs
        more than grading. The caller vouches that the values are valid for their fields:
        ``profile`` is a ``LeadProfile``'s ``model_dump()``, each reason a ``ScoreReason``'s."""
        fields = {
            "event_id": event_id, "occurred_at": occurred_at, "lead_id": lead_id, "cause_event_id": cause_event_id,
            "profile": profile, "source": source, "campaign": campaign, "score": score, "fit_score": fit_score,
            "engagement_score": engagement_score, "grade": grade, "previous_grade": previous_grade,
            "segment": segment, "segment_parts": segment_parts, "hot": hot, "disqualified": disqualified,
            "rubric_version": rubric_version, "reasons": reasons}
        return Encoded(cls, event_id, lead_id.encode(), occurred_at, orjson.dumps(fields, option=orjson.OPT_UTC_Z),
                       fields)


OwnerKind = Literal["rep", "queue", "nurture"]


class NurtureReason(StrEnum):
    """Why routing handed a lead to marketing's nurture pool (``LeadAssigned.nurture_reason``)."""

    LOW_GRADE = "low-grade"  # graded below what sales works: long-term potential, no current intent
    DISQUALIFIED = "disqualified"  # scoring disqualified it, or a rep did on follow-up (for now)
    MISSED_FOLLOW_UP = "missed-follow-up"  # follow-ups were missed until escalations ran out
    KEPT_BY_RULE = "kept-by-rule"  # a routing rule keeps it in nurture although sales works its grade


class LeadAssigned(Event):
    """Routing gave a lead an owner: a rep (with a follow-up due time), a team queue,
    or marketing's nurture pool, then with ``nurture_reason`` (set exactly when
    ``owner_kind`` is ``nurture``). ``reason`` is prose for people; services read the
    fields."""

    TYPE: ClassVar[str] = "io.leadbridge.lead.assigned.v1"

    lead_id: str
    assignment_id: str
    owner_kind: OwnerKind
    rep_id: str | None = None
    team: str | None = None
    due_at: AwareDatetime | None = None
    rule: str
    reason: str
    nurture_reason: NurtureReason | None = None
    grade: Grade
    segment: str
    campaign: str | None = None
    attempt: int = 0
    previous_assignment_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _nurture_reason_of_old_records(cls, data: Any) -> Any:
        # Records written before ``nurture_reason`` existed are read as nurture used to
        # read them (a re-assignment attempt means missed follow-ups; the demo's
        # disqualification rules said so in their reason). New records carry the field.
        if isinstance(data, dict) and data.get("owner_kind") == "nurture" and "nurture_reason" not in data:
            reason = (NurtureReason.MISSED_FOLLOW_UP if data.get("attempt", 0) > 0
                      else NurtureReason.DISQUALIFIED if "disqualif" in str(data.get("reason", "")).lower()
                      else NurtureReason.LOW_GRADE)
            return {**data, "nurture_reason": reason}
        return data

    @model_validator(mode="after")
    def _nurture_reason_iff_nurture(self) -> Self:
        if (self.owner_kind == "nurture") != (self.nurture_reason is not None):
            raise ValueError("nurture_reason is set exactly when owner_kind is 'nurture'")
        return self


class FollowUpOutcome(StrEnum):
    CALLED = "called"
    EMAILED = "emailed"
    CONTACTED = "contacted"
    LEFT_MESSAGE = "left_message"
    MEETING_BOOKED = "meeting_booked"
    QUALIFIED = "qualified"
    DISQUALIFIED = "disqualified"


class FollowUpRecorded(Event):
    """A rep followed up on an assignment before (or after) it came due."""

    TYPE: ClassVar[str] = "io.leadbridge.followup.recorded.v1"
    PERSONAL: ClassVar[tuple[str, ...]] = ("note",)

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


# --------------------------------------------------------------------------- campaigns


class CampaignType(StrEnum):
    """What kind of programme a campaign is; it decides the campaign's member steps
    (a webinar has invited → registered → attended | no_show, an event visited/scanned)."""

    WEBINAR = "webinar"
    TRADE_SHOW = "trade_show"
    EVENT = "event"
    AD = "ad"
    EMAIL = "email"
    CONTENT = "content"
    INTENT_WATCH = "intent_watch"
    LIST_IMPORT = "list_import"
    REFERRAL = "referral"
    PARTNER = "partner"


class CampaignDefined(Event):
    """Marketing defined a campaign, or changed it: the whole current definition, once
    per change (``version`` counts them, 1 first). Nurture owns campaigns and publishes
    this; every other service learns campaigns from it, never from nurture's tables
    (capture refuses a lead or activity naming a campaign it has not seen here).

    ``campaign_id`` is the slug leads carry in their ``campaign`` field. Money is in
    minor units of ``currency`` (ISO 4217: cents for USD/EUR). For an event (webinar,
    trade show, event) ``event_starts_at``/``event_ends_at`` are UTC instants and
    ``time_zone`` the IANA zone the event is held in (what its invitations show);
    ``registration_url`` where people register. Keyed by ``campaign_id``."""

    TYPE: ClassVar[str] = "io.leadbridge.campaign.defined.v1"

    campaign_id: str
    version: int = Field(ge=1)
    name: str
    type: CampaignType
    owner: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = None
    cost_minor: int = Field(default=0, ge=0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    goal: str = ""
    event_starts_at: AwareDatetime | None = None
    event_ends_at: AwareDatetime | None = None
    time_zone: str | None = None
    registration_url: str | None = None


class MemberStatus(StrEnum):
    """A lead's step in a campaign's funnel. Steps only move forward (nurture's domain
    says which follow which for each campaign type); ``joined`` is where a lead that
    entered by any other way (a capture or an activity naming the campaign) starts."""

    JOINED = "joined"
    INVITED = "invited"
    REGISTERED = "registered"
    ATTENDED = "attended"
    NO_SHOW = "no_show"
    VISITED = "visited"
    SCANNED = "scanned"
    FOLLOWED_UP = "followed_up"
    OPPORTUNITY = "opportunity"
    WON = "won"
    LOST = "lost"


class CampaignMemberChanged(Event):
    """A lead joined a campaign or moved forward in its funnel (nurture owns
    membership): ``status`` is the step reached now, at ``occurred_at``;
    ``previous_status`` is None when the lead just joined. A late correction (an
    attendance report after the no-show timer) is a change from ``no_show`` to
    ``attended``. ``followed_up_on_time`` is set on ``followed_up``: whether the rep's
    follow-up met its SLA. Keyed by ``lead_id``."""

    TYPE: ClassVar[str] = "io.leadbridge.campaign.member.changed.v1"

    lead_id: str
    campaign_id: str
    campaign_type: CampaignType
    status: MemberStatus
    previous_status: MemberStatus | None = None
    followed_up_on_time: bool | None = None


# --------------------------------------------------------------------------- deal outcomes


class DealOutcomeKind(StrEnum):
    """What the sales pipeline (CRM) says happened to an opportunity."""

    OPPORTUNITY_CREATED = "opportunity_created"
    STAGE_CHANGED = "stage_changed"
    WON = "won"
    LOST = "lost"


class _DealFacts(Event):
    """The facts of a CRM outcome both outcome events carry."""

    source: str = Field(description="which CRM (or connector) reported it, e.g. 'salesforce'")
    opportunity_id: str
    kind: DealOutcomeKind
    stage: str | None = None
    amount_minor: int | None = Field(default=None, ge=0, description="in minor units of currency (cents)")
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    close_date: date | None = None

    @model_validator(mode="after")
    def _closed_deals_have_their_amount(self) -> Self:
        if self.kind is DealOutcomeKind.WON and (self.amount_minor is None or self.currency is None
                                                 or self.close_date is None):
            raise ValueError("a won deal needs amount_minor, currency and close_date")
        if (self.amount_minor is None) != (self.currency is None):
            raise ValueError("amount_minor and currency go together")
        return self


class CrmOutcomeReported(_DealFacts):
    """An outcome as the CRM reports it, not yet matched to a lead: by ``lead_id`` (when
    the CRM kept Leadbridge's id), else the person's ``email``, else the account's
    ``account_domain`` (at least one is given). CRM connectors may publish it straight
    to Kafka; capture publishes it for each verified CRM webhook, so both ways in are
    matched by one consumer (capture's, which owns identity). Keyed by ``opportunity_id``."""

    TYPE: ClassVar[str] = "io.leadbridge.crm.outcome.reported.v1"
    PERSONAL: ClassVar[tuple[str, ...]] = ("email",)

    @classmethod
    def pii_subject(cls, data: Mapping[str, Any]) -> str | None:
        """The lead it names, else the person its email names (the person a sealed email
        was sealed for, read from the sealed value)."""
        lead_id, email = data.get("lead_id"), data.get("email")
        if isinstance(lead_id, str):
            return lead_id
        if not isinstance(email, str):
            return None
        if email.startswith("pii:"):
            parts = email.split(":", 3)
            return parts[2] if len(parts) > 3 else None
        return lead_id_for_email(email)

    lead_id: str | None = None
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)
    account_domain: str | None = Field(default=None, max_length=253)

    @model_validator(mode="after")
    def _names_someone(self) -> Self:
        if self.lead_id is None and self.email is None and self.account_domain is None:
            raise ValueError("an outcome names its lead by lead_id, email or account_domain")
        return self


class DealOutcomeRecorded(_DealFacts):
    """Capture matched a CRM outcome to a lead: the opportunity's ``kind`` (created,
    stage changed, won or lost with its amount, currency and close date), with
    ``matched_by`` saying how. Published only once matched: an outcome that matches no
    lead is kept by capture (``GET /v1/outcomes?matched=false``), never dropped, and
    published when the person is captured later. ``outcome_id`` is capture's id of the
    reported outcome (the event id derives from it, so a re-match is deduplicated);
    ``occurred_at`` is when the CRM said it happened. Keyed by ``lead_id``."""

    TYPE: ClassVar[str] = "io.leadbridge.deal.outcome.recorded.v1"

    lead_id: str
    outcome_id: str
    matched_by: Literal["lead_id", "email", "account_domain"]


# --------------------------------------------------------------------------- nurture's programs


class NurtureMessageSent(Event):
    """Nurture sent one email of a track to a lead (keyed by ``lead_id``; ``message_id`` is
    also the message's ``Message-ID``). Sent only with the lead's consent, not unsubscribed,
    within the per-person limit, all checked at the moment of sending."""

    TYPE: ClassVar[str] = "io.leadbridge.nurture.message.sent.v1"
    PERSONAL: ClassVar[tuple[str, ...]] = ("to", "subject")

    lead_id: str
    message_id: str
    enrollment_id: str | None = None
    track: str | None = None
    track_version: int | None = None
    step_id: str | None = None
    campaign: str | None = None
    to: str
    subject: str


class NurtureMessageEngaged(Event):
    """A lead opened a nurture email or clicked one of its tracked links. Capture turns it
    into the lead's activity (``lead-engaged``, which capture alone produces), so scoring
    re-scores the lead as for any other engagement."""

    TYPE: ClassVar[str] = "io.leadbridge.nurture.message.engaged.v1"
    PERSONAL: ClassVar[tuple[str, ...]] = ("url",)

    lead_id: str
    message_id: str
    behaviour: Literal["email_open", "email_click"]
    url: str | None = None
    campaign: str | None = None


class RepTaskCreated(Event):
    """Nurture asked a rep (or, with no owning rep, a team's queue) to act on a lead by
    ``due_at``: a track's call, or a call before a campaign's event."""

    TYPE: ClassVar[str] = "io.leadbridge.nurture.task.created.v1"
    PERSONAL: ClassVar[tuple[str, ...]] = ("title",)

    lead_id: str
    task_id: str
    kind: Literal["track", "pre-event"]
    title: str
    rep_id: str | None = None
    team: str | None = None
    due_at: AwareDatetime
    campaign: str | None = None
# --------------------------------------------------------------------------- collateral


class CollateralStatusChanged(Event):
    """A collateral item moved in its lifecycle (content owns it; the rules are
    ``services/content/domain/lifecycle.py``): ``action`` by ``actor_id`` in
    ``actor_role`` at ``occurred_at``, from ``from_status`` (None when created) to
    ``to_status``. ``version`` is the version acted on (a review's comment is tied to
    it), ``published_version`` what reps get now. A retirement names the item's
    ``successor_id`` when marketing gave one. Keyed by ``item_id``."""

    TYPE: ClassVar[str] = "io.leadbridge.collateral.status.changed.v1"

    item_id: str
    title: str
    kind: str
    owner: str
    action: Literal["create", "submit", "approve", "request_changes", "publish", "revise", "retire", "withdraw"]
    from_status: str | None = None
    to_status: str
    version: int | None = None
    published_version: int | None = None
    actor_id: str
    actor_role: str
    comment: str = ""
    reviewers: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    successor_id: str | None = None
    retire_at: AwareDatetime | None = None


class CollateralRetirementWarned(Event):
    """An item retires at ``retire_at`` (a year after its last published revision):
    its ``owner`` is warned ``weeks_before`` weeks ahead (4, then 2). Keyed by ``item_id``."""

    TYPE: ClassVar[str] = "io.leadbridge.collateral.retirement.warned.v1"

    item_id: str
    title: str
    owner: str
    retire_at: AwareDatetime
    weeks_before: int


class CollateralShared(Event):
    """A rep shared a version of an item with a lead: ``share_id`` is its link's id (one
    link per item version, lead and rep; ``personalised`` when merge fields were filled).
    Usage that collateral effectiveness counts. Keyed by ``lead_id``."""

    TYPE: ClassVar[str] = "io.leadbridge.collateral.shared.v1"

    lead_id: str
    share_id: str
    item_id: str
    version: int
    rep_id: str
    segment: str | None = None
    personalised: bool = False


class CollateralViewed(Event):
    """A lead opened a shared link (``view_id`` is this opening): engagement that scoring
    counts as a content download. Keyed by ``lead_id``."""

    TYPE: ClassVar[str] = "io.leadbridge.collateral.viewed.v1"

    lead_id: str
    view_id: str
    share_id: str
    item_id: str
    version: int
    rep_id: str


# --------------------------------------------------------------------------- audit trail


class AuditChange(Frozen):
    """One place a change touched: ``path`` (dotted; list items by index, ``""`` for
    the whole subject) with its value before and after (``None``: absent)."""

    path: str
    before: Any = None
    after: Any = None


class AuditRecorded(Event):
    """Someone changed something the business agreed on (the rubric, the organisation,
    the rules, a campaign, a track, a collateral item's status) or read or erased a
    person's data. Written by :func:`shared.audit.record` in the same transaction as
    the change, into the service's append-only ``audit_log`` and onto this topic, so
    one place can gather every service's trail. ``actor`` is the token's subject
    (``system:<job>`` for the service's own work), ``actor_name`` its name. It carries
    ids, never a lead's personal data. Keyed by ``subject_id``."""

    TYPE: ClassVar[str] = "io.leadbridge.audit.recorded.v1"

    service: str = ""  # filled by the runtime: the service whose transaction recorded it
    action: str  # "<subject_type>.<verb>": rubric.drafted, rubric.approved, org.changed, lead.erased, ...
    subject_type: str
    subject_id: str
    actor: str
    actor_name: str = ""
    actor_roles: tuple[str, ...] = ()
    changes: tuple[AuditChange, ...] = ()
    details: dict[str, Any] = Field(default_factory=dict)


# --------------------------------------------------------------------------- privacy (GDPR)


class ErasureReason(StrEnum):
    """Why a person is erased: they asked (or someone for them), or their lead outlived
    the retention period unconverted."""

    REQUEST = "request"
    RETENTION = "retention"


class SubjectErasureRequested(Event):
    """A person is to be forgotten (capture, which owns identity, publishes it once it
    has destroyed their key: from then on nothing sealed for them opens). Every service
    removes their personal data from its tables, stops whatever it would still do for
    them (as for :class:`ConsentWithdrawn`) and confirms with :class:`SubjectErased`.
    Carries no personal data: the lead id is the person's pseudonym. Keyed by ``lead_id``."""

    TYPE: ClassVar[str] = "io.leadbridge.subject.erasure.requested.v1"

    lead_id: str
    erasure_id: str
    reason: ErasureReason = ErasureReason.REQUEST
    requested_by: str = ""


class SubjectErased(Event):
    """One service removed a person's personal data (``rows`` touched) for an erasure.
    Keyed by ``lead_id``."""

    TYPE: ClassVar[str] = "io.leadbridge.subject.erased.v1"

    lead_id: str
    erasure_id: str
    service: str
    rows: int = Field(ge=0)


class ErasureConfirmation(Frozen):
    """A service's part of an erasure, and when it was done."""

    service: str
    erased_at: AwareDatetime
    rows: int


class SubjectErasureCompleted(Event):
    """The receipt of an erasure: every service confirmed (``confirmations``, one each),
    the person's key was destroyed at ``key_destroyed_at``. Capture publishes it once the
    last confirmation arrives. Keyed by ``lead_id``."""

    TYPE: ClassVar[str] = "io.leadbridge.subject.erasure.completed.v1"

    lead_id: str
    erasure_id: str
    reason: ErasureReason
    requested_at: AwareDatetime
    key_destroyed_at: AwareDatetime
    confirmations: tuple[ErasureConfirmation, ...]


class ConsentWithdrawn(Event):
    """A person withdrew consent to be contacted: every service stops at once whatever
    it would still send or ask for them (nurture's emails and tasks, routing's follow-up
    clocks). Capture publishes it. Keyed by ``lead_id``."""

    TYPE: ClassVar[str] = "io.leadbridge.consent.withdrawn.v1"

    lead_id: str
    requested_by: str = ""
