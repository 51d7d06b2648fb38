"""Capture's handlers: accept a submission and an activity (commands from HTTP), and
keep the lead projection (timeline + current view) from every lead event. The rules
are in ``domain.leads``; each handler loads, asks the domain, saves and emits."""

from __future__ import annotations

import asyncio
import io
import itertools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from services.capture.domain.attendance import AttendeeIn, BadAttendance, plan
from services.capture.domain.imports import (
    BadImport,
    Format,
    Valid,
    check_mapping,
    decide,
    file_hash,
    import_id_for,
    mapped_lead,
    row_key,
    stream_rows,
)
from services.capture.domain.lead_input import LeadIn
from services.capture.domain.leads import (
    ActivityPerson,
    AttachToLead,
    MissingDetails,
    adopt_capture,
    implicit_idempotency_key,
    lead_for_activity,
    merge_profile,
    new_lead_id,
    normalise_email,
    timeline_entry,
    view_changes,
)
from services.capture.domain.outcomes import (
    Candidates,
    MatchedBy,
    email_domain,
    match,
    normalise_domain,
    waiting_match,
)
from services.capture.metrics import UNMATCHED_OUTCOMES, UNMATCHED_RECEIVED
from services.capture.repository import Captured, ErasureStore, ImportStore, LeadStore, Row
from shared import audit, pii, privacy, timers, topics
from shared.events import (
    Behaviour,
    CampaignDefined,
    ConsentWithdrawn,
    CrmOutcomeReported,
    DealOutcomeRecorded,
    ErasureConfirmation,
    ErasureReason,
    Event,
    FollowUpMissed,
    FollowUpRecorded,
    LeadAssigned,
    LeadCaptured,
    LeadEngaged,
    LeadProfile,
    LeadSource,
    NurtureMessageEngaged,
    SubjectErased,
    SubjectErasureCompleted,
    SubjectErasureRequested,
    derive_event_id,
    utcnow,
)
from shared.grouping import GroupCommit
from shared.handling import Periodic, Registry, Subscription, UnitOfWork, UnitOfWorkFactory, bind
from shared.privacy import PRIVACY_SERVICES, SubjectData


@dataclass(frozen=True)
class CaptureDeps:
    """What capture's handlers and routes share."""

    leads: LeadStore
    imports: ImportStore
    keys: pii.KeyTable  # persons' keys: destroyed on erasure, renewed for a person captured anew
    clock: Callable[[], datetime] = utcnow
    # A capture claiming to have happened further in the future than this is refused.
    max_clock_skew_s: float = 300.0
    import_max_rows: int = 1_000_000
    import_chunk_rows: int = 2_000
    import_validate_rows: int = 10_000
    import_every_s: float = 1.0
    # Privacy (GDPR): the erasure bookkeeping, what capture holds about a person, the services
    # whose confirmations complete an erasure, and retention (0: leads are kept until erased).
    erasures: ErasureStore | None = None
    subjects: SubjectData | None = None
    privacy_services: tuple[str, ...] = PRIVACY_SERVICES
    retention_s: float = 0.0
    retention_every_s: float = 3600.0
    retention_batch: int = 100
    # Every other service's base URL, asked for its part of a subject access request.
    peer_urls: dict[str, str] = field(default_factory=dict, compare=False)
    # Group commit of concurrent POSTs (shared.grouping): the most per transaction, and
    # how many transactions at once.
    capture_group_max: int = 64
    capture_groups_in_flight: int = 3
    captures: GroupCommit[Submission, Accepted] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "captures", GroupCommit(  # (a frozen dataclass's own field)
            bind(capture_group, self), bind(capture_lead, self), group_keys,
            max_items=self.capture_group_max, in_flight=self.capture_groups_in_flight))


# Every lead event, whoever emits it, reads on the lead's timeline and view.
PROJECTED = (topics.LEAD_CAPTURED, topics.LEAD_ENGAGED, topics.LEAD_SCORED, topics.LEAD_ASSIGNED,
             topics.FOLLOW_UP_RECORDED, topics.FOLLOW_UP_MISSED)


def registry(deps: CaptureDeps) -> Registry:
    project = bind(on_lead_events, deps)
    privacy_subscriptions = [] if deps.subjects is None else [
        *privacy.subscriptions("capture", deps.subjects),
        Subscription(topics.SUBJECT_ERASED, handler=bind(on_subject_erased, deps))]
    retention = [Periodic("retention", deps.retention_every_s, bind(erase_expired, deps))] if deps.retention_s else []
    return Registry(subscriptions=[
        *(Subscription(spec, batch_handler=project) for spec in PROJECTED),
        Subscription(topics.NURTURE_MESSAGE_ENGAGED, handler=bind(on_message_engaged, deps)),
        Subscription(topics.CAMPAIGN_DEFINED, handler=bind(on_campaign_defined, deps)),
        Subscription(topics.CRM_OUTCOMES, handler=bind(on_crm_outcome, deps)),
        *privacy_subscriptions,
    ], periodic=[Periodic("outcome-gauges", 15.0, bind(refresh_outcome_gauges, deps)),
                 Periodic("imports", deps.import_every_s, bind(process_imports, deps),
                          next_due_in=bind(next_import_in, deps)), *retention])


class UnknownCampaign(LookupError):
    """A lead or activity named a campaign marketing never defined."""

    def __init__(self, campaign: str) -> None:
        super().__init__(f"no campaign {campaign!r}: marketing defines campaigns in nurture (POST /v1/campaigns)")
        self.campaign = campaign


async def _known_campaign(deps: CaptureDeps, uow: UnitOfWork, campaign: str | None) -> None:
    if campaign is not None and not await deps.leads.known_campaign(uow.conn, campaign):
        raise UnknownCampaign(campaign)


class UnknownLead(LookupError):
    """No lead with this id."""


class MissingLeadDetails(ValueError):
    """An activity named an unknown email without what a new lead needs."""

    def __init__(self, fields: Sequence[str]) -> None:
        super().__init__(f"required when the email is not a known lead: {', '.join(fields)}")
        self.fields = tuple(fields)


@dataclass(frozen=True)
class Submission:
    profile: LeadProfile
    source: LeadSource
    campaign: str | None
    consent: bool
    occurred_at: datetime
    idempotency_key: str | None
    attributes: dict[str, str]
    occurred_at_given: bool


@dataclass(frozen=True)
class Accepted:
    lead_id: str
    capture_id: str
    duplicate: bool
    is_repeat: bool


def submission(lead: LeadIn, occurred_at: datetime, idempotency_key: str | None) -> Submission:
    """The submission a validated lead makes (posted alone, or a row of an import)."""
    return Submission(
        profile=LeadProfile(email=lead.email, name=lead.name, company=lead.company, title=lead.title,
                            country=lead.country, company_size=lead.company_size, industry=lead.industry,
                            phone=lead.phone),
        source=lead.source, campaign=lead.campaign, consent=lead.consent, occurred_at=occurred_at,
        idempotency_key=lead.idempotency_key or idempotency_key, attributes=lead.attributes,
        occurred_at_given=lead.occurred_at is not None)


async def capture_lead(deps: CaptureDeps, uow: UnitOfWork, sub: Submission) -> Accepted:
    """Accept a submission: the same person keeps one lead id; the same submission
    (idempotency key, or the same person/source/campaign/moment) is accepted once.
    Emits ``lead-captured`` for each accepted one."""
    repo = deps.leads
    await _known_campaign(deps, uow, sub.campaign)
    email_norm = normalise_email(str(sub.profile.email))
    key = capture_key(sub, email_norm)
    # Lock the person first: concurrent submissions for one person queue here, so the
    # idempotency check below sees whatever the first one committed.
    row = await repo.lock_by_email(uow.conn, email_norm)
    if row is None:
        lead_id = new_lead_id(email_norm)
        if not await repo.insert_lead(uow.conn, lead_id, email_norm, sub.profile, sub.consent, sub.source,
                                      sub.campaign, sub.occurred_at):
            row = await repo.lock_by_email(uow.conn, email_norm)
        else:
            await deps.keys.readmit(uow.conn, lead_id)  # a person erased before, captured anew: a new key
            await _match_waiting_outcomes(deps, uow, lead_id, email_norm)
    if key is not None:
        earlier = await repo.capture_by_key(uow.conn, key)
        if earlier is not None:
            return Accepted(earlier["lead_id"], earlier["capture_id"], duplicate=True, is_repeat=True)
    is_repeat = row is not None
    profile = sub.profile
    if row is not None:
        lead_id = row["lead_id"]
        profile = merge_profile(LeadProfile.model_validate(row["profile"]), sub.profile)
        await repo.record_repeat(uow.conn, lead_id, profile, sub.consent, sub.source, sub.campaign, sub.occurred_at)
    capture_id = str(uuid.uuid4())
    await repo.insert_capture(uow.conn, capture_id, key, lead_id, sub.source, sub.campaign, sub.occurred_at)
    uow.emit(LeadCaptured(lead_id=lead_id, capture_id=capture_id, profile=profile, source=sub.source,
                          campaign=sub.campaign, consent=sub.consent, is_repeat=is_repeat,
                          attributes=sub.attributes, occurred_at=sub.occurred_at))
    return Accepted(lead_id, capture_id, duplicate=False, is_repeat=is_repeat)


def capture_key(sub: Submission, email_norm: str) -> str | None:
    """The key a submission is accepted once under: its idempotency key, else (when it
    states its moment) the same person, source, campaign and moment."""
    return sub.idempotency_key or (implicit_idempotency_key(email_norm, sub.source, sub.campaign, sub.occurred_at)
                                   if sub.occurred_at_given else None)


def group_keys(sub: Submission) -> tuple[str, ...]:
    """What two submissions captured together (:func:`capture_many`) must not share."""
    email_norm = normalise_email(str(sub.profile.email))
    key = capture_key(sub, email_norm)
    return (email_norm,) if key is None else (email_norm, key)


async def capture_group(deps: CaptureDeps, uow: UnitOfWork,
                        subs: Sequence[Submission]) -> list[Accepted | UnknownCampaign]:
    """Concurrent POSTs carried out together (group commit, ``shared.grouping``): each
    one's answer in order, :class:`UnknownCampaign` for one naming no campaign."""
    campaigns = {s.campaign for s in subs if s.campaign is not None}
    unknown = {c for c in campaigns if not await deps.leads.known_campaign(uow.conn, c)}
    go = [s for s in subs if s.campaign not in unknown]
    done = iter(await capture_many(deps, uow, go))
    return [UnknownCampaign(s.campaign) if s.campaign in unknown and s.campaign is not None else next(done)
            for s in subs]


async def capture_many(deps: CaptureDeps, uow: UnitOfWork, subs: Sequence[Submission]) -> list[Accepted]:
    """:func:`capture_lead` for many submissions at once, in a few statements rather than
    a few per submission, each one's answer in order. The submissions name different
    people and carry different keys (:func:`group_keys`); their campaigns are known. The
    same rules: a person keeps one lead, a submission accepted before (its key) is
    answered, not captured again, a repeat merges the profile; each new one emits
    ``lead-captured``."""
    repo = deps.leads
    keyed = [(sub, email_norm, capture_key(sub, email_norm))
             for sub in subs for email_norm in (normalise_email(str(sub.profile.email)),)]
    earlier = await repo.captures_by_keys(uow.conn, [k for _, _, k in keyed if k is not None])
    answers: list[Accepted | None] = [None] * len(keyed)
    fresh: list[tuple[int, Submission, str, str | None]] = []
    for i, (sub, email_norm, key) in enumerate(keyed):
        before = earlier.get(key) if key is not None else None
        if before is not None:
            answers[i] = Accepted(before["lead_id"], before["capture_id"], duplicate=True, is_repeat=True)
        else:
            fresh.append((i, sub, email_norm, key))
    known = dict(await repo.lock_people(uow.conn, [e for _, _, e, _ in fresh]))
    new = [Captured(new_lead_id(e), e, sub.profile, sub.consent, sub.source, sub.campaign, sub.occurred_at)
           for _, sub, e, _ in fresh if e not in known]
    inserted = await repo.insert_leads(uow.conn, new)
    if len(inserted) < len(new):  # captured by someone else meanwhile
        known |= await repo.lock_people(uow.conn, [c.email_norm for c in new if c.email_norm not in inserted])
    if inserted:
        # people erased before, captured anew: new keys
        await deps.keys.readmit_many(uow.conn, [c.lead_id for c in new if c.email_norm in inserted])
        await _match_waiting_outcomes_of(deps, uow, [(c.lead_id, c.email_norm) for c in new
                                                     if c.email_norm in inserted])
    repeats: list[Captured] = []
    captures: list[tuple[str, str | None, Captured]] = []
    for i, sub, email_norm, key in fresh:
        row = known.get(email_norm)
        if row is None:
            lead_id, profile = new_lead_id(email_norm), sub.profile
        else:
            lead_id = row["lead_id"]
            profile = merge_profile(LeadProfile.model_validate(row["profile"]), sub.profile)
        done = Captured(lead_id, email_norm, profile, sub.consent, sub.source, sub.campaign, sub.occurred_at)
        if row is not None:
            repeats.append(done)
        capture_id = str(uuid.uuid4())
        captures.append((capture_id, key, done))
        uow.emit(LeadCaptured(lead_id=lead_id, capture_id=capture_id, profile=profile, source=sub.source,
                              campaign=sub.campaign, consent=sub.consent, is_repeat=row is not None,
                              attributes=sub.attributes, occurred_at=sub.occurred_at))
        answers[i] = Accepted(lead_id, capture_id, duplicate=False, is_repeat=row is not None)
    await repo.record_repeats(uow.conn, repeats)
    await repo.insert_captures(uow.conn, captures)
    return [a for a in answers if a is not None]


@dataclass(frozen=True)
class Activity:
    behaviour: Behaviour
    campaign: str | None
    occurred_at: datetime
    idempotency_key: str | None
    detail: dict[str, str]


@dataclass(frozen=True)
class ActivityAccepted:
    lead_id: str
    activity_id: str
    duplicate: bool
    lead_created: bool = False


async def record_activity(deps: CaptureDeps, uow: UnitOfWork, lead_id: str, activity: Activity) -> ActivityAccepted:
    """Accept an activity of a known lead (once per idempotency key); emits
    ``lead-engaged``. Raises :class:`UnknownLead` if there is no such lead."""
    if not await deps.leads.exists(uow.conn, lead_id):
        raise UnknownLead(lead_id)
    await _known_campaign(deps, uow, activity.campaign)
    return await _engage(deps, uow, lead_id, activity)


@dataclass(frozen=True)
class Newcomer:
    """Who an activity posted by email names, and how to capture them if they are not a lead yet."""

    person: ActivityPerson
    source: LeadSource
    consent: bool
    occurred_at_given: bool


async def record_activity_by_email(deps: CaptureDeps, uow: UnitOfWork, who: Newcomer,
                                   activity: Activity) -> ActivityAccepted:
    """Accept an activity for a person named by email: theirs if they are a lead, else
    they are captured first (``domain.leads.lead_for_activity`` decides). Raises
    :class:`MissingLeadDetails` when an unknown person cannot become a lead."""
    await _known_campaign(deps, uow, activity.campaign)
    known = await deps.leads.find_by_email(uow.conn, normalise_email(who.person.email))
    decision = lead_for_activity(known["lead_id"] if known is not None else None, who.person,
                                 activity.idempotency_key)
    if isinstance(decision, MissingDetails):
        raise MissingLeadDetails(decision.fields)
    if isinstance(decision, AttachToLead):
        return await _engage(deps, uow, decision.lead_id, activity)
    captured = await capture_lead(deps, uow, Submission(
        profile=decision.profile, source=who.source, campaign=activity.campaign, consent=who.consent,
        occurred_at=activity.occurred_at, idempotency_key=decision.capture_key, attributes={},
        occurred_at_given=who.occurred_at_given))
    accepted = await _engage(deps, uow, captured.lead_id, activity)
    return ActivityAccepted(accepted.lead_id, accepted.activity_id, accepted.duplicate, lead_created=True)


async def _engage(deps: CaptureDeps, uow: UnitOfWork, lead_id: str, activity: Activity) -> ActivityAccepted:
    key = activity.idempotency_key
    if key is not None:
        earlier = await deps.leads.activity_by_key(uow.conn, key)
        if earlier is not None:
            return ActivityAccepted(earlier["lead_id"], earlier["activity_id"], duplicate=True)
    activity_id = str(uuid.uuid4())
    await deps.leads.insert_activity(uow.conn, activity_id, key, lead_id, activity.behaviour, activity.occurred_at)
    uow.emit(LeadEngaged(lead_id=lead_id, activity_id=activity_id, behaviour=activity.behaviour,
                         campaign=activity.campaign, detail=activity.detail, occurred_at=activity.occurred_at))
    return ActivityAccepted(lead_id, activity_id, duplicate=False)


async def on_message_engaged(deps: CaptureDeps, event: NurtureMessageEngaged, uow: UnitOfWork) -> None:
    """A lead opened a nurture email, or clicked a link in it (and so visited the page):
    the lead's activity, like any other, so that ``lead-engaged`` has one producer and
    scoring re-scores the lead. Once per event (its id is the idempotency key)."""
    behaviour = Behaviour.EMAIL_OPEN if event.behaviour == "email_open" else Behaviour.PAGE_VISIT
    detail = {"via": "nurture-email", "message_id": event.message_id, **({"url": event.url} if event.url else {})}
    if await deps.leads.exists(uow.conn, event.lead_id):
        await _engage(deps, uow, event.lead_id, Activity(behaviour, event.campaign, event.occurred_at,
                                                         f"nurture-engaged:{event.event_id}", detail))


async def on_lead_events(deps: CaptureDeps, events: Sequence[Event], uow: UnitOfWork) -> None:
    """Keep the projection: every lead event goes on its lead's timeline, and changes
    the lead's current view as ``domain.leads.view_changes`` says. A capture another
    producer sent straight to Kafka becomes capture's own lead (:func:`adopt`).

    A consumed batch (one topic's events, in partition order) costs a few statements,
    not one per event: scores and assignments are written together, only the latest of
    a lead's in the batch (an assignment: the latest by its moment, as one at a time
    would leave it), and captures recorded already are found in one query."""
    repo = deps.leads
    await repo.add_timeline(uow.conn, [(e.event_id, e.lead_id, timeline_entry(e), e.occurred_at)  # type: ignore[attr-defined]
                                       for e in events])
    captured = [e for e in events if isinstance(e, LeadCaptured)]
    if captured:
        known = await repo.captures_known(uow.conn, [e.capture_id for e in captured])
        for outside in captured:
            if outside.capture_id not in known:
                await adopt(deps, uow, outside)
    assigned: dict[str, LeadAssigned] = {}
    latest: dict[tuple[type[Event], str], Event] = {}
    for event in events:
        lead_id: str = event.lead_id  # type: ignore[attr-defined]
        match event:
            case LeadAssigned():
                kept = assigned.get(lead_id)
                if kept is None or kept.occurred_at <= event.occurred_at:
                    assigned[lead_id] = event
            case FollowUpRecorded() | FollowUpMissed():  # only while the assignment is current: in order
                await repo.update_view(uow.conn, lead_id, view_changes(event), assignment_id=event.assignment_id)
            case LeadCaptured() | LeadEngaged():
                pass  # (an activity shows on the timeline only)
            case _:
                latest.pop((type(event), lead_id), None)  # re-inserted last: the batch's order is kept
                latest[(type(event), lead_id)] = event
    if assigned:
        await repo.update_views(uow.conn, [(lead_id, view_changes(e)) for lead_id, e in assigned.items()],
                                assigned_at=[e.occurred_at for e in assigned.values()])
    for kind in dict.fromkeys(kind for kind, _ in latest):
        await repo.update_views(uow.conn, [(lead_id, view_changes(e)) for (k, lead_id), e in latest.items()
                                           if k is kind])


async def adopt(deps: CaptureDeps, uow: UnitOfWork, event: LeadCaptured) -> None:
    """Record a capture another producer sent straight to Kafka as capture's own
    (``domain.leads.adopt_capture`` decides how). One accepted over HTTP is recorded
    already, and so is one adopted before. Raises ``LeadConflict`` for a known person
    under another lead id (the record is dead-lettered with that reason)."""
    repo = deps.leads
    if pii.is_erased(event.profile.email):  # a capture of a person erased since: nobody to adopt
        return
    if await repo.capture_exists(uow.conn, event.capture_id):
        return
    email_norm = normalise_email(event.profile.email)
    row = await repo.lock_by_email(uow.conn, email_norm)
    if row is None:
        plan = adopt_capture(None, None, event)
        if not await repo.insert_lead(uow.conn, plan.lead_id, email_norm, plan.profile, event.consent, event.source,
                                      event.campaign, event.occurred_at):
            row = await repo.lock_by_email(uow.conn, email_norm)  # captured over HTTP meanwhile
        else:
            await _match_waiting_outcomes(deps, uow, plan.lead_id, email_norm)
    if row is not None:
        plan = adopt_capture(row["lead_id"], LeadProfile.model_validate(row["profile"]), event)
        await repo.record_repeat(uow.conn, plan.lead_id, plan.profile, event.consent, event.source, event.campaign,
                                 event.occurred_at)
    await repo.insert_capture(uow.conn, event.capture_id, None, plan.lead_id, event.source, event.campaign,
                              event.occurred_at)


# --------------------------------------------------------------------------- campaigns and outcomes


class InvalidInvitations(ValueError):
    """People on an invitation list who are no lead yet and lack what a lead needs:
    ``missing`` pairs each one's position on the list with the fields it lacks."""

    def __init__(self, missing: Sequence[tuple[int, tuple[str, ...]]]) -> None:
        super().__init__(f"{len(missing)} people cannot become leads")
        self.missing = tuple(missing)


INVITATION_STEPS = {"invited": Behaviour.WEBINAR_INVITED, "registered": Behaviour.WEBINAR_REGISTERED}


async def invite(deps: CaptureDeps, uow: UnitOfWork, campaign: str, people: Sequence[Newcomer], step: str,
                 at: datetime) -> list[ActivityAccepted]:
    """Marketing's invitation (or registration) list for a campaign, in one go: each
    person is matched by email or captured, then invited (``lead-engaged`` naming the
    campaign, which makes them its member). All or nothing: anyone who cannot become a
    lead makes :class:`InvalidInvitations`, naming their place on the list. Posting the
    same list again changes nothing (each invitation's key is the campaign, person and step)."""
    await _known_campaign(deps, uow, campaign)
    accepted: list[ActivityAccepted] = []
    missing: list[tuple[int, tuple[str, ...]]] = []
    for i, who in enumerate(people):
        key = f"invitation:{campaign}:{step}:{normalise_email(who.person.email)}"
        try:
            accepted.append(await record_activity_by_email(deps, uow, who, Activity(
                INVITATION_STEPS[step], campaign, at, key, {"via": "invitation-list"})))
        except MissingLeadDetails as lacking:
            missing.append((i, lacking.fields))
    if missing:
        raise InvalidInvitations(missing)
    return accepted


@dataclass(frozen=True)
class AttendanceRecorded:
    attendees: int
    activities: int
    already_recorded: int
    leads_created: int


async def record_attendance(deps: CaptureDeps, uow: UnitOfWork, campaign: str,
                            attendees: Sequence[tuple[str, AttendeeIn]], via: str) -> AttendanceRecorded:
    """A webinar platform's attendance report for a campaign (a webhook's attendees or a
    CSV's rows, each named by ``where``): every registration and attendance is an
    activity through :func:`record_activity_by_email`, keyed by campaign, person and kind
    (``domain.attendance``), so the same report again changes nothing. All or nothing:
    a person who cannot become a lead, or a registration in the future, is
    :class:`BadAttendance` naming them."""
    await _known_campaign(deps, uow, campaign)
    planned = plan(campaign, list(attendees), deps.clock(), deps.max_clock_skew_s, via)
    problems: list[tuple[str, str, str]] = []
    recorded = duplicates = created = 0
    for where, attendee, activities in planned:
        who = Newcomer(ActivityPerson(email=str(attendee.email), name=attendee.name, company=attendee.company,
                                      country=attendee.country), LeadSource.WEBINAR, False, True)
        for p in activities:
            try:
                accepted = await record_activity_by_email(deps, uow, who, Activity(
                    p.behaviour, campaign, p.occurred_at, p.idempotency_key, p.detail))
            except MissingLeadDetails as lacking:
                problems.extend((where, f, "required when the email is not a known lead") for f in lacking.fields)
                break
            recorded += not accepted.duplicate
            duplicates += accepted.duplicate
            created += accepted.lead_created
    if problems:
        raise BadAttendance(problems)
    return AttendanceRecorded(len(planned), recorded, duplicates, created)


async def on_campaign_defined(deps: CaptureDeps, event: CampaignDefined, uow: UnitOfWork) -> None:
    """Learn a campaign marketing defined: leads and activities may name it now."""
    await deps.leads.save_campaign(uow.conn, event)


async def report_outcome(deps: CaptureDeps, uow: UnitOfWork, source: str, delivery_id: str,
                         facts: dict[str, Any]) -> CrmOutcomeReported:
    """A CRM's outcome delivered by webhook: published on ``crm-outcomes`` (with an id
    derived from the delivery, so a re-sent delivery is one outcome), where the same
    consumer as for connectors' Kafka records matches it. Raises pydantic's
    ``ValidationError`` for facts that are no outcome."""
    reported = CrmOutcomeReported.model_validate({**facts, "source": source,
                                                  "event_id": derive_event_id("webhook", source, delivery_id)})
    uow.emit(reported)
    return reported


_DEAL_FACTS = ("source", "opportunity_id", "kind", "stage", "amount_minor", "currency", "close_date", "occurred_at")


def _outcome_recorded(outcome_id: str, facts: dict[str, Any], lead_id: str,
                      matched_by: MatchedBy) -> DealOutcomeRecorded:
    return DealOutcomeRecorded(event_id=derive_event_id(outcome_id, "recorded"), lead_id=lead_id,
                               outcome_id=outcome_id, matched_by=matched_by, **facts)


async def on_crm_outcome(deps: CaptureDeps, event: CrmOutcomeReported, uow: UnitOfWork) -> None:
    """Match a CRM outcome to a lead (``domain.outcomes.match``) and publish
    ``deal-outcome-recorded``; one that matches nobody is kept, unmatched, until the
    person is captured."""
    repo = deps.leads
    email_norm = None if event.email is None else normalise_email(event.email)
    domain = None if event.account_domain is None else normalise_domain(event.account_domain)
    if not await repo.add_outcome(uow.conn, event.event_id, event, email_norm, domain):
        return
    by_id = event.lead_id if event.lead_id is not None and await repo.exists(uow.conn, event.lead_id) else None
    by_email = await repo.find_by_email(uow.conn, email_norm) if email_norm else None
    by_domain = await repo.lead_by_domain(uow.conn, domain) if domain else None
    found = match(event, Candidates(by_id, by_email["lead_id"] if by_email else None,
                                    by_domain["lead_id"] if by_domain else None))
    if found is None:
        UNMATCHED_RECEIVED.inc()
        return
    lead_id, matched_by = found
    await repo.match_outcome(uow.conn, event.event_id, lead_id, matched_by, deps.clock())
    uow.emit(_outcome_recorded(event.event_id, event.model_dump(include=set(_DEAL_FACTS)), lead_id, matched_by))


async def _match_waiting_outcomes_of(deps: CaptureDeps, uow: UnitOfWork, new_leads: Sequence[tuple[str, str]]) -> None:
    """:func:`_match_waiting_outcomes` for many people captured for the first time (lead
    id, normalised email), in one query: each outcome goes to the first who matches it."""
    waiting = list(await deps.leads.waiting_outcomes_for(
        uow.conn, [e for _, e in new_leads], sorted({email_domain(e) for _, e in new_leads})))
    for lead_id, email_norm in new_leads:
        domain = email_domain(email_norm)
        for row in [w for w in waiting if w["email_norm"] == email_norm or w["account_domain"] == domain]:
            matched_by = waiting_match(email_norm, row["email_norm"], row["account_domain"])
            if matched_by is not None:
                waiting.remove(row)
                await deps.leads.match_outcome(uow.conn, row["outcome_id"], lead_id, matched_by, deps.clock())
                uow.emit(_outcome_recorded(row["outcome_id"], {k: row[k] for k in _DEAL_FACTS}, lead_id, matched_by))


async def _match_waiting_outcomes(deps: CaptureDeps, uow: UnitOfWork, lead_id: str, email_norm: str) -> None:
    """A person captured for the first time may be whom unmatched outcomes wait for."""
    for row in await deps.leads.waiting_outcomes(uow.conn, email_norm, email_domain(email_norm)):
        matched_by = waiting_match(email_norm, row["email_norm"], row["account_domain"])
        if matched_by is not None:
            await deps.leads.match_outcome(uow.conn, row["outcome_id"], lead_id, matched_by, deps.clock())
            uow.emit(_outcome_recorded(row["outcome_id"], {k: row[k] for k in _DEAL_FACTS}, lead_id, matched_by))


async def refresh_outcome_gauges(deps: CaptureDeps, units: UnitOfWorkFactory) -> None:
    """How many outcomes wait for their lead, for Prometheus."""
    async with units() as uow:
        UNMATCHED_OUTCOMES.set(await deps.leads.count_unmatched(uow.conn))


# --------------------------------------------------------------------------- list imports


class UnknownImport(LookupError):
    """No import with this id."""


async def save_mapping(deps: CaptureDeps, uow: UnitOfWork, source: str, columns: dict[str, str]) -> None:
    """Keep the source's column mapping. Raises :class:`BadImport` for a wrong one."""
    problems = check_mapping(columns)
    if problems:
        raise BadImport(problems)
    await deps.imports.save_mapping(uow.conn, source, columns)


@dataclass(frozen=True)
class Upload:
    stream: BinaryIO  # the file, read from its start as it comes (never whole)
    sha256: str
    fmt: Format
    source: str
    campaign: str
    columns: dict[str, str] | None  # None: the source's saved mapping

    @classmethod
    def of(cls, content: bytes, fmt: Format, source: str, campaign: str,
           columns: dict[str, str] | None) -> Upload:
        """An upload of a file held in memory (a small one)."""
        return cls(io.BytesIO(content), file_hash(content), fmt, source, campaign, columns)


@dataclass(frozen=True)
class ImportStarted:
    import_id: str
    existing: bool


# Records stored per COPY while an upload is read.
UPLOAD_BATCH_ROWS = 10_000


async def start_import(deps: CaptureDeps, uow: UnitOfWork, upload: Upload) -> ImportStarted:
    """Keep an uploaded file's records for the clocked worker (:func:`process_imports`)
    to import, reading it as it comes. The same file for the same source and campaign
    is the same import (``existing``: nothing is read). Raises :class:`BadImport` (a
    wrong mapping, a missing column, a file that is no CSV/JSONL or has too many rows;
    the unit of work must then roll back what was kept) and :class:`UnknownCampaign`."""
    await _known_campaign(deps, uow, upload.campaign)
    columns = upload.columns
    if columns is None:
        columns = await deps.imports.mapping(uow.conn, upload.source)
        if columns is None:
            raise BadImport([("mapping", f"none given, and none saved for source {upload.source!r}")])
    problems = check_mapping(columns)
    if problems:
        raise BadImport(problems)
    import_id = import_id_for(upload.sha256, upload.source, upload.campaign)
    repo = deps.imports
    if not await repo.create_import(uow.conn, import_id, upload.sha256, upload.source, upload.campaign, upload.fmt,
                                    columns):
        return ImportStarted(import_id, existing=True)
    total = 0
    records = stream_rows(upload.stream, upload.fmt, columns)
    while batch := list(itertools.islice(records, UPLOAD_BATCH_ROWS)):
        if total + len(batch) > deps.import_max_rows:
            raise BadImport([("file", f"has more than {deps.import_max_rows:,} rows; "
                                      f"at most {deps.import_max_rows:,} are imported at once")])
        await repo.add_rows(uow.conn, import_id, total, batch)
        total += len(batch)
    await repo.set_total(uow.conn, import_id, total)
    return ImportStarted(import_id, existing=False)


async def import_progress(deps: CaptureDeps, conn: Any, import_id: str) -> Row:
    found = await deps.imports.get_import(conn, import_id)
    if found is None:
        raise UnknownImport(import_id)
    return found


async def process_imports(deps: CaptureDeps, units: UnitOfWorkFactory) -> None:
    """The clocked import worker: chunk after chunk of the running imports' rows, each
    chunk in one transaction with the leads it captures, their events, the rows'
    outcomes and the import's new position (a restart resumes after the last chunk
    committed). Runs a few seconds, then lets the clock call it again."""
    until = deps.clock().timestamp() + 5.0
    while deps.clock().timestamp() < until:
        async with units() as uow:
            running = await deps.imports.next_running(uow.conn)
            if running is None:
                return
            await import_chunk(deps, uow, running)


async def next_import_in(deps: CaptureDeps, units: UnitOfWorkFactory) -> float | None:
    """When the import worker next has work: at once while an import is running (its
    window of a few seconds ran out mid-file), else at its clock (``import_every_s``)."""
    async with units() as uow:
        return 0.0 if await deps.imports.next_running(uow.conn) is not None else None


async def import_chunk(deps: CaptureDeps, uow: UnitOfWork, imp: Row) -> None:
    """The import's next step: while records are left to validate, a chunk of them
    (:func:`validate_chunk`); then the leads, a chunk at a time (:func:`capture_chunk`)."""
    if imp["position"] < imp["total_rows"]:
        await validate_chunk(deps, uow, imp)
    else:
        await capture_chunk(deps, uow, imp)


async def validate_chunk(deps: CaptureDeps, uow: UnitOfWork, imp: Row) -> None:
    """Validate the next ``import_validate_rows`` records of ``imp`` as a lead posted alone
    is validated: a rejected one's problems go to the report, an accepted one is kept as
    the lead it makes (:func:`capture_chunk` captures it), a person met earlier in the file
    is a duplicate. Accepted, rejected and duplicates are counted now, so the report is
    complete long before the last lead is captured."""
    import_id, repo = imp["import_id"], deps.imports
    start = imp["position"]
    chunk = await repo.rows(uow.conn, import_id, start, deps.import_validate_rows)
    rejections: list[tuple[int, int, str, str]] = []
    now = deps.clock()
    valid: list[Valid] = []
    for i, row in enumerate(chunk):
        decision = decide(row, imp["columns"], imp["source"], imp["campaign"], now, deps.max_clock_skew_s)
        if isinstance(decision, Valid):
            valid.append(decision)
        else:
            rejections += [(decision.line, n, f, r) for n, (f, r) in enumerate(decision.problems)]
        if i % 1000 == 999:  # a chunk is ~0.3 s of CPU: let the service's requests in meanwhile
            await asyncio.sleep(0)
    kept = await repo.add_accepted(uow.conn, import_id, [
        (v.line, normalise_email(str(v.lead.email)), v.values, v.occurred_at) for v in valid])
    await repo.add_rejections(uow.conn, import_id, rejections)
    counts = {"accepted": len(valid), "rejected": len(chunk) - len(valid), "duplicates": len(valid) - len(kept)}
    await repo.advance(uow.conn, import_id, start + len(chunk) if chunk else imp["total_rows"], counts, done=False)


async def capture_chunk(deps: CaptureDeps, uow: UnitOfWork, imp: Row) -> None:
    """Capture the next ``import_chunk_rows`` accepted records of ``imp`` together
    (:func:`capture_many`), each as a lead posted alone would be (its key from the import
    and line, so a re-run adds nothing); the import is done with the last of them."""
    import_id, repo = imp["import_id"], deps.imports
    rows = await repo.accepted(uow.conn, import_id, imp["captured_line"], deps.import_chunk_rows)
    counts = dict.fromkeys(("new_leads", "known_people"), 0)
    if rows:
        await _known_campaign(deps, uow, imp["campaign"])
        subs = [submission(mapped_lead(values, imp["columns"], imp["source"], imp["campaign"]), occurred_at,
                           row_key(import_id, line)) for line, values, occurred_at in rows]
        for accepted in await capture_many(deps, uow, subs):
            counts["known_people" if accepted.is_repeat else "new_leads"] += 1
    done = len(rows) < deps.import_chunk_rows
    await repo.advance_capture(uow.conn, import_id, rows[-1][0] if rows else imp["captured_line"], counts, done=done)
    if done:
        await repo.forget_rows(uow.conn, import_id)


# --------------------------------------------------------------------------- privacy (GDPR)


class UnknownErasure(LookupError):
    """No erasure with this id."""


@dataclass(frozen=True)
class ErasureStarted:
    erasure_id: str
    lead_id: str


async def person_of(deps: CaptureDeps, uow: UnitOfWork, email: str) -> str:
    """The lead id of the person with this email: capture's lead if it knows them, else
    the id every producer gives them (an outside producer's records may name them)."""
    known = await deps.leads.find_by_email(uow.conn, normalise_email(email))
    return known["lead_id"] if known is not None else new_lead_id(normalise_email(email))


async def request_erasure(deps: CaptureDeps, uow: UnitOfWork, email: str, who: audit.Who,
                          reason: ErasureReason = ErasureReason.REQUEST) -> ErasureStarted:
    """Forget a person: their key is destroyed in this transaction (from its commit on,
    none of their events in Kafka opens, anywhere), and ``subject-erasure-requested``
    asks every service to remove them from its tables and stop whatever it would still do
    for them. Complete once every service has confirmed (:func:`on_subject_erased`)."""
    return await _erase(deps, uow, await person_of(deps, uow, email), who, reason)


async def _erase(deps: CaptureDeps, uow: UnitOfWork, lead_id: str, who: audit.Who,
                 reason: ErasureReason) -> ErasureStarted:
    assert deps.erasures is not None
    erasure_id = str(uuid.uuid4())
    now = deps.clock()
    await deps.keys.destroy(uow.conn, lead_id)
    await deps.erasures.add_erasure(uow.conn, erasure_id, lead_id, str(reason), who.subject, now)
    uow.emit(SubjectErasureRequested(lead_id=lead_id, erasure_id=erasure_id, reason=reason,
                                     requested_by=who.subject, occurred_at=now))
    audit.record(uow, who, "lead.erasure_requested", "lead", lead_id,
                 details={"erasure_id": erasure_id, "reason": str(reason)})
    return ErasureStarted(erasure_id, lead_id)


async def on_subject_erased(deps: CaptureDeps, event: SubjectErased, uow: UnitOfWork) -> None:
    """A service confirmed its part of an erasure; with the last one, the erasure is
    complete and its receipt (``subject-erasure-completed``, every service and when) is
    published, once."""
    assert deps.erasures is not None
    erasure = await deps.erasures.erasure(uow.conn, event.erasure_id, for_update=True)
    if erasure is None:
        return
    await deps.erasures.confirm(uow.conn, event.erasure_id, event.service, event.occurred_at, event.rows)
    confirmed = await deps.erasures.confirmations(uow.conn, event.erasure_id)
    if erasure["completed_at"] is not None or not set(deps.privacy_services) <= {c["service"] for c in confirmed}:
        return
    now = deps.clock()
    await deps.erasures.complete(uow.conn, event.erasure_id, now)
    uow.emit(SubjectErasureCompleted(
        event_id=derive_event_id(event.erasure_id, "completed"), lead_id=erasure["lead_id"],
        erasure_id=event.erasure_id, reason=ErasureReason(erasure["reason"]), requested_at=erasure["requested_at"],
        key_destroyed_at=erasure["key_destroyed_at"], occurred_at=now,
        confirmations=tuple(ErasureConfirmation(service=c["service"], erased_at=c["erased_at"], rows=c["rows"])
                            for c in confirmed)))


@dataclass(frozen=True)
class Receipt:
    """An erasure as it stands: who confirmed when, and who has yet to."""

    erasure: Row
    confirmations: Sequence[Row]
    waiting_for: tuple[str, ...]


async def erasure_receipt(deps: CaptureDeps, conn: Any, erasure_id: str) -> Receipt:
    assert deps.erasures is not None
    erasure = await deps.erasures.erasure(conn, erasure_id)
    if erasure is None:
        raise UnknownErasure(erasure_id)
    confirmed = await deps.erasures.confirmations(conn, erasure_id)
    done = {c["service"] for c in confirmed}
    return Receipt(erasure, confirmed, tuple(s for s in deps.privacy_services if s not in done))


async def withdraw_consent(deps: CaptureDeps, uow: UnitOfWork, email: str, who: audit.Who) -> str:
    """The person withdrew consent: ``consent-withdrawn`` stops every message and task for
    them in every service at once (capture's own record of their consent included)."""
    lead_id = await person_of(deps, uow, email)
    uow.emit(ConsentWithdrawn(lead_id=lead_id, requested_by=who.subject, occurred_at=deps.clock()))
    audit.record(uow, who, "lead.consent_withdrawn", "lead", lead_id)
    return lead_id


async def erase_expired(deps: CaptureDeps, units: UnitOfWorkFactory) -> int:
    """Retention: leads last captured longer ago than ``retention_s`` and never converted
    (no CRM outcome) are erased as if they had asked, a chunk per transaction. Each lead
    is taken under a row lock another replica skips, and a lead being erased is not
    taken again, so each is erased once however many replicas run the job."""
    assert deps.erasures is not None
    erasures = deps.erasures

    async def chunk(uow: UnitOfWork) -> int:
        cutoff = deps.clock() - timedelta(seconds=deps.retention_s)
        expired = await erasures.expired_leads(uow.conn, cutoff, deps.retention_batch)
        for lead_id in expired:
            await _erase(deps, uow, lead_id, audit.system("retention"), ErasureReason.RETENTION)
        return len(expired)

    return await timers.drain(units, chunk, deps.retention_batch)


async def export_part(deps: CaptureDeps, uow: UnitOfWork, lead_id: str, who: audit.Who) -> privacy.SubjectExport:
    """Capture's part of a subject access request, recorded in the audit trail."""
    assert deps.subjects is not None
    tables = await deps.subjects.export(uow.conn, lead_id)
    audit.record(uow, who, "lead.exported", "lead", lead_id, details={"service": "capture"})
    return privacy.SubjectExport(service="capture", lead_id=lead_id, exported_at=deps.clock(), tables=tables)
