"""Nurture's handlers: take in what sales is not working, run it through marketing's
tracks, send their email, and let the lead go back to sales when it heats up.

:func:`registry` is the one registry: ``lead-captured`` (who the lead is, its consent),
``lead-assigned`` (nurture's hand-offs, and who owns the lead), ``follow-up-missed``,
``lead-scored`` (its grade), ``lead-engaged`` (engagement and replies, for branches and
exits); the clocked jobs ``nurture-steps`` (each enrolment's step timer) and
``nurture-mail`` (the queue of email); the seeding of tracks at start.

Exactly once: a due step timer is locked (``FOR UPDATE SKIP LOCKED``) and its firing, the
messages and tasks it makes and the events it emits are one transaction, so however many
replicas run and whenever one dies, each step fires once. Email is queued by the step and
sent by ``nurture-mail``, which checks consent, unsubscribes and the per-person limit at
the moment of sending, and marks the message sent in the transaction that holds its lock:
a crash between the SMTP server's acceptance and that commit resends the message with the
same ``Message-ID`` (at least once, never silently lost).
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from services.nurture import metrics
from services.nurture.domain.attribution import DEFAULT_HALF_LIFE_DAYS, Deal, Model, credit_all
from services.nurture.domain.calendar import BusinessCalendar
from services.nurture.domain.campaigns import CampaignDraft, define
from services.nurture.domain.funnel import STEP_COLUMNS, requested, step, step_for_activity, step_for_capture
from services.nurture.domain.mail import WEEK, Limits, Recipient, compose, decide_send, track_links
from services.nurture.domain.programs import (
    CreateTask,
    EmailTemplate,
    Entry,
    LeadFacts,
    SendEmail,
    TrackDefinition,
    check_references,
    choose_track,
    render,
    run_from,
)
from services.nurture.domain.report import Figures, period_by_type, period_report
from services.nurture.domain.report import campaign_report as report_of
from services.nurture.domain.tracks import status_after_scored
from services.nurture.domain.webinars import no_show_due, pre_event_call_due
from services.nurture.mailer import Mailer, MessageRejected
from services.nurture.metrics import CAMPAIGN_CLOSED_REVENUE, CAMPAIGN_MEMBERS
from services.nurture.repository import (
    CampaignStore,
    DealRow,
    MemberChange,
    NurtureTimer,
    PoolStore,
    ProgramStore,
    Row,
    TouchRow,
)
from shared import audit, pii, privacy, timers, topics
from shared import metrics as shared_metrics
from shared.events import (
    GRADES,
    Behaviour,
    CampaignDefined,
    CampaignMemberChanged,
    CampaignType,
    DealOutcomeKind,
    DealOutcomeRecorded,
    FollowUpMissed,
    FollowUpRecorded,
    Grade,
    LeadAssigned,
    LeadCaptured,
    LeadEngaged,
    LeadScored,
    MemberStatus,
    NurtureMessageEngaged,
    NurtureMessageSent,
    NurtureReason,
    RepTaskCreated,
    derive_event_id,
    is_sales_grade,
    new_event_id,
    normalise_email,
    utcnow,
)
from shared.handling import Periodic, Registry, Subscription, UnitOfWork, UnitOfWorkFactory, bind
from shared.money import from_minor
from shared.principal import Principal
from shared.privacy import SubjectData

log = logging.getLogger(__name__)

NO_SHOW_BATCH = 10
"""Webinars whose no-shows one unit of work marks."""


class NotFound(LookupError):
    """No such track, message or task."""


class Invalid(ValueError):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True)
class MailSettings:
    sender: str
    public_url: str
    message_id_domain: str
    limits: Limits


class TrackCache:
    """Track definitions by (name, version): versions never change once stored."""

    def __init__(self) -> None:
        self._by_version: dict[tuple[str, int], TrackDefinition] = {}

    def parse(self, name: str, version: int, document: dict[str, Any]) -> TrackDefinition:
        key = (name, version)
        track = self._by_version.get(key)
        if track is None:
            track = self._by_version[key] = TrackDefinition.model_validate(document)
        return track


@dataclass
class NurtureDeps:
    """What nurture's handlers, jobs and routes share."""

    pool: PoolStore
    programs: ProgramStore
    mailer: Mailer
    mail: MailSettings
    campaigns: CampaignStore
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    clock: Callable[[], datetime] = utcnow
    timer_batch: int = 200
    mail_batch: int = 1
    timer_interval_s: float = 30.0
    tracks_file: Path | None = None
    tracks: TrackCache = field(default_factory=TrackCache)
    # Time-decay attribution: a touch's credit halves for every this many days before the close.
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS
    # The webinar automation: the pre-event call is due this long before the start (a late
    # registrant's as soon as this after registering); with no rep owning the lead it goes
    # to this team's queue; registrants who did not attend are no-shows this long after the end.
    pre_event_call_lead: timedelta = timedelta(hours=2)
    pre_event_call_soonest: timedelta = timedelta(minutes=15)
    pre_event_team: str = "inside"
    no_show_grace: timedelta = timedelta(hours=1)
    subjects: SubjectData | None = None  # what nurture holds about a person (export, erasure)


async def next_timer_in(deps: NurtureDeps, timer: NurtureTimer, units: UnitOfWorkFactory) -> float | None:
    """Seconds until the next timer of that kind is due: its job sleeps until then (a
    sooner one written wakes it, see shared.wakeups)."""
    async with units() as uow:
        return timers.seconds_until(await deps.programs.next_due(uow.conn, timer), deps.clock())


def registry(deps: NurtureDeps) -> Registry:
    return Registry(
        subscriptions=[
            Subscription(topics.LEAD_CAPTURED, batch_handler=bind(on_lead_captured, deps)),
            Subscription(topics.LEAD_ASSIGNED, handler=bind(on_lead_assigned, deps)),
            Subscription(topics.FOLLOW_UP_MISSED, handler=bind(on_follow_up_missed, deps)),
            Subscription(topics.LEAD_SCORED, handler=bind(on_lead_scored, deps)),
            Subscription(topics.LEAD_ENGAGED, handler=bind(on_lead_engaged, deps)),
            Subscription(topics.FOLLOW_UP_RECORDED, handler=bind(on_follow_up_recorded, deps)),
            Subscription(topics.DEAL_OUTCOME_RECORDED, handler=bind(on_deal_outcome, deps)),
            Subscription(topics.CAMPAIGN_DEFINED, handler=bind(on_campaign_defined, deps)),
            Subscription(topics.CAMPAIGN_MEMBER_CHANGED, handler=bind(on_campaign_member_changed, deps)),
            *(privacy.subscriptions("nurture", deps.subjects) if deps.subjects is not None else []),
        ],
        periodic=[Periodic("nurture-steps", deps.timer_interval_s, bind(run_steps, deps),
                           next_due_in=functools.partial(next_timer_in, deps, "steps"), wake_on=("enrollments",)),
                  Periodic("nurture-mail", deps.timer_interval_s, bind(send_mail, deps),
                           next_due_in=functools.partial(next_timer_in, deps, "mail"), wake_on=("messages",)),
                  Periodic("webinar-no-shows", deps.timer_interval_s, bind(run_no_show_timers, deps),
                           next_due_in=functools.partial(next_timer_in, deps, "no-shows"), wake_on=("webinars",)),
                  Periodic("campaign-gauges", 15.0, bind(refresh_campaign_gauges, deps))],
        startup=[bind(seed_tracks, deps)] if deps.tracks_file is not None else [])


# --------------------------------------------------------------------------- tracks


def parse_track(name: str, document: dict[str, Any]) -> TrackDefinition:
    """A track document as marketing sent it, validated; raises :class:`Invalid` naming
    the first bad field."""
    try:
        return TrackDefinition.model_validate({**document, "name": name})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise Invalid(".".join(str(p) for p in first["loc"]) or "track", first["msg"]) from None


async def live_tracks(deps: NurtureDeps, conn: Any) -> list[tuple[TrackDefinition, int]]:
    """The newest version of every track, with its version."""
    rows = await deps.programs.latest_tracks(conn)
    return [(deps.tracks.parse(r["name"], r["version"], r["document"]), r["version"]) for r in rows]


async def define_track(deps: NurtureDeps, uow: UnitOfWork, name: str, document: dict[str, Any],
                       by: str = "", *, who: audit.Who | None = None) -> tuple[TrackDefinition, int]:
    """Store a new version of track ``name`` (leads already on it keep their version),
    recorded in the audit trail as ``who`` (without one, ``by`` as given)."""
    track = parse_track(name, document)
    live = await live_tracks(deps, uow.conn)
    previous = next((t.model_dump(mode="json") for t, _ in live if t.name == name), None)
    existing = [t for t, _ in live if t.name != name]
    problems = check_references([*existing, track])
    if problems:
        where, _, why = problems[0].partition(": ")
        raise Invalid(where, why)
    after = track.model_dump(mode="json")
    version = await deps.programs.add_track(uow.conn, name, after, deps.clock(), by or (who.subject if who else ""))
    audit.record(uow, who or audit.Actor(by or "unknown", by), "track.defined", "track", name, before=previous,
                 after=after, details={"version": version})
    metrics.TRACK_VERSIONS.labels(name).set(version)
    return track, version


async def seed_tracks(deps: NurtureDeps, units: UnitOfWorkFactory) -> None:
    """At start: store the tracks of ``deps.tracks_file`` if nurture has none yet."""
    assert deps.tracks_file is not None
    data = yaml.safe_load(deps.tracks_file.read_text())
    async with units() as uow:
        await deps.programs.lock_tracks(uow.conn)  # two replicas starting together seed once
        if await deps.programs.latest_tracks(uow.conn):
            return
        tracks = [parse_track(d["name"], d) for d in data["tracks"]]
        problems = check_references(tracks)
        if problems:
            raise ValueError(f"{deps.tracks_file}: {problems}")
        for t in tracks:
            await deps.programs.add_track(uow.conn, t.name, t.model_dump(mode="json"), deps.clock(), "seed")
    log.info("nurture tracks seeded", extra={"tracks_file": str(deps.tracks_file), "tracks": len(tracks)})


async def enroll(deps: NurtureDeps, uow: UnitOfWork, lead_id: str, entry: Entry, cause_id: str,
                 at: datetime) -> str | None:
    """Put a lead on the track its ``entry`` calls for, its first step due now; a lead on
    another track leaves it (``re-tracked``). Returns the track's name, or None when no
    track admits the lead (it stays in the pool, on no track)."""
    tracks = await live_tracks(deps, uow.conn)
    chosen = choose_track([t for t, _ in tracks], entry)
    if chosen is None:
        return None
    version = next(v for t, v in tracks if t is chosen)
    active = await deps.programs.active_enrollment(uow.conn, lead_id)
    if active is not None:
        if active["track"] == chosen.name:
            return chosen.name
        await deps.programs.end_enrollment(uow.conn, active["enrollment_id"], "exited", "re-tracked", at)
    if await deps.programs.enroll(uow.conn, derive_event_id(cause_id, "enrollment"), lead_id, chosen.name, version,
                                  entry.campaign, at, at):
        metrics.ENROLLED.labels(chosen.name).inc()
    return chosen.name


async def leave_tracks(deps: NurtureDeps, uow: UnitOfWork, lead_id: str, reason: str, at: datetime) -> None:
    active = await deps.programs.active_enrollment(uow.conn, lead_id)
    if active is not None:
        await deps.programs.end_enrollment(uow.conn, active["enrollment_id"], "exited", reason, at)
        metrics.EXITED.labels(active["track"], reason).inc()


# --------------------------------------------------------------------------- events


async def on_lead_captured(deps: NurtureDeps, events: Sequence[LeadCaptured], uow: UnitOfWork) -> None:
    """Who each lead is and whether they consented to email (as of their latest capture),
    and the campaign each capture names (:func:`_capture_joins_campaign`). A consumed
    batch (a list import's: thousands) costs a few statements for the contacts, the
    leads heard of and the touches, not a few per capture. A capture of a person erased
    since (their fields read as erased) is nobody to write to."""
    events = [e for e in events if not pii.is_erased(e.profile.email)]
    last: dict[str, LeadCaptured] = {}
    first_seen: dict[str, datetime] = {}
    for e in events:
        last.pop(e.lead_id, None)
        last[e.lead_id] = e  # (re-inserted: the batch's order)
        first_seen[e.lead_id] = min(first_seen.get(e.lead_id, e.occurred_at), e.occurred_at)
    await deps.programs.upsert_contacts(uow.conn, [(e.lead_id, e.profile.email, e.profile.name, e.profile.company,
                                                    e.consent, e.occurred_at) for e in last.values()])
    await deps.campaigns.remember_leads(uow.conn, [(e.lead_id, normalise_email(e.profile.email), e.consent,
                                                    first_seen[e.lead_id]) for e in last.values()])
    campaigns: dict[str, Row | None] = {}
    touches: list[TouchRow] = []
    for e in events:
        if e.campaign and e.campaign not in campaigns:
            campaigns[e.campaign] = await deps.campaigns.get_campaign(uow.conn, e.campaign)
        touch = await _capture_joins_campaign(deps, e, uow, campaigns.get(e.campaign or ""))
        if touch is not None:
            touches.append(touch)
    await _touched(deps, uow, touches)


async def on_lead_assigned(deps: NurtureDeps, event: LeadAssigned, uow: UnitOfWork) -> None:
    """A lead handed to nurture joins the pool and the track its reason (routing's
    ``nurture_reason``, set exactly when the owner is nurture), grade, segment and
    campaign call for; a lead that sales owns again (re-graded up, or qualified) is let
    go and leaves its track. The owner is kept: a track's task goes to the lead's rep."""
    await deps.programs.set_owner(uow.conn, event.lead_id, event.rep_id, event.team, event.occurred_at)
    if event.nurture_reason is not None:
        entry = Entry(event.nurture_reason, event.grade, event.segment, (), event.campaign)
        track = await enroll(deps, uow, event.lead_id, entry, event.event_id, event.occurred_at)
        await deps.pool.enter(uow.conn, event.lead_id, track or "none", event.nurture_reason, event.grade,
                              event.segment, event.campaign, event.occurred_at, None)
    else:
        if await deps.pool.set_status(uow.conn, event.lead_id, "returned-to-sales", event.occurred_at,
                                      last_rep_id=event.rep_id):
            await leave_tracks(deps, uow, event.lead_id, "returned-to-sales", event.occurred_at)


async def on_follow_up_missed(deps: NurtureDeps, event: FollowUpMissed, uow: UnitOfWork) -> None:
    """The last missed follow-up (routing hands the lead to nurture) re-engages it;
    earlier misses are routing's to reassign."""
    if event.next_action != "nurture":
        return
    reason = NurtureReason.MISSED_FOLLOW_UP
    entry = Entry(reason, event.grade, event.segment, (), event.campaign)
    track = await enroll(deps, uow, event.lead_id, entry, event.event_id, event.occurred_at)
    await deps.pool.enter(uow.conn, event.lead_id, track or "none", reason, event.grade,
                          event.segment, event.campaign, event.occurred_at, event.rep_id)


async def on_lead_scored(deps: NurtureDeps, event: LeadScored, uow: UnitOfWork) -> None:
    """A pooled lead's grading is kept; one that now grades for sales is marked ready and
    leaves its track at once (its next step would find the same). Every lead's latest
    grade is kept for the campaign reports and the tracks' branches."""
    await deps.campaigns.set_grades(uow.conn, [(event.lead_id, event.grade)])
    await deps.programs.set_grade(uow.conn, event.lead_id, event.grade, event.occurred_at)
    entry = await deps.pool.get(uow.conn, event.lead_id)
    if entry is None:
        return
    await deps.pool.update_grade(uow.conn, event.lead_id, event.grade, event.score, event.segment)
    status = status_after_scored(entry["status"], event.grade)
    if status is not None:
        await deps.pool.set_status(uow.conn, event.lead_id, status, event.occurred_at, grade=event.grade)
        await leave_tracks(deps, uow, event.lead_id, "sales-grade", event.occurred_at)


async def on_lead_engaged(deps: NurtureDeps, event: LeadEngaged, uow: UnitOfWork) -> None:
    """Engagement for a track's branches; a reply to an email ends the track (exit rule)."""
    replied = event.behaviour is Behaviour.EMAIL_REPLY
    await deps.programs.mark_engaged(uow.conn, event.lead_id, event.occurred_at, replied)
    await _activity_joins_campaign(deps, event, uow)


async def enroll_by_member_status(deps: NurtureDeps, uow: UnitOfWork, lead_id: str, campaign: str,
                                  member_status: str, grade: Grade, cause_id: str, at: datetime) -> str | None:
    """A campaign moved a lead to ``member_status`` (e.g. ``no_show``): the track whose
    entry rule names that status takes it, in the caller's transaction (the lead does not
    join the pool: sales may own it). Returns the track."""
    entry = Entry(None, grade, None, (), campaign, member_status)
    return await enroll(deps, uow, lead_id, entry, cause_id, at)


# --------------------------------------------------------------------------- webinars


async def on_campaign_defined(deps: NurtureDeps, event: CampaignDefined, uow: UnitOfWork) -> None:
    """A webinar's schedule (and so its no-show timer: the end plus the grace time) is
    kept; redefined before the timer fired, the timer moves with it."""
    if event.type is not CampaignType.WEBINAR or event.event_starts_at is None or event.event_ends_at is None:
        return
    await deps.programs.save_webinar(uow.conn, event.campaign_id, event.name, event.event_starts_at,
                                     event.event_ends_at, no_show_due(event.event_ends_at, deps.no_show_grace),
                                     event.occurred_at)


async def on_campaign_member_changed(deps: NurtureDeps, event: CampaignMemberChanged, uow: UnitOfWork) -> None:
    """The webinar automation follows each member's funnel, however it moved (a list, a
    registration, an attendance report, the no-show timer):

    - registered: a call before the event, for the rep who owns the lead (or the
      inside-sales queue), due before the start (``domain.webinars.pre_event_call_due``);
    - no-show: the track whose entry rule names ``no_show`` takes the lead;
    - attended after being marked no-show (a late report): it leaves that track."""
    if event.campaign_type is not CampaignType.WEBINAR:
        return
    if event.status is MemberStatus.REGISTERED:
        await _pre_event_call(deps, uow, event)
    elif event.status is MemberStatus.NO_SHOW:
        contact = await deps.programs.contact(uow.conn, event.lead_id)
        grade: Grade = (contact["grade"] if contact and contact["grade"] else "C")
        track = await enroll_by_member_status(deps, uow, event.lead_id, event.campaign_id, "no_show", grade,
                                              event.event_id, event.occurred_at)
        if track is None:
            log.warning("no track takes no-shows: the lead stays a member only",
                        extra={"lead_id": event.lead_id, "campaign_id": event.campaign_id})
    elif event.status is MemberStatus.ATTENDED and event.previous_status is MemberStatus.NO_SHOW:
        active = await deps.programs.active_enrollment(uow.conn, event.lead_id)
        if active is not None and active["campaign"] == event.campaign_id:
            definition = await _track_of(deps, uow.conn, active["track"], active["version"])
            if "no_show" in definition.entry.member_statuses:
                await deps.programs.end_enrollment(uow.conn, active["enrollment_id"], "exited", "attended",
                                                   event.occurred_at)
                metrics.EXITED.labels(active["track"], "attended").inc()


async def fire_no_show_timers(deps: NurtureDeps, uow: UnitOfWork) -> int:
    """The webinars whose end plus grace has passed: everyone still ``registered`` (who did
    not attend) becomes a no-show, in this transaction with the timer's firing, so each
    webinar's no-shows are marked once however many replicas run. A member the attendance
    report reaches later is moved to attended (the funnel's late correction). Returns how
    many webinars."""
    now = deps.clock()
    due = await deps.programs.due_webinars(uow.conn, now, NO_SHOW_BATCH)
    for w in due:
        campaign = await deps.campaigns.get_campaign(uow.conn, w["campaign_id"])
        marked = 0
        if campaign is not None:
            registered = await deps.campaigns.list_members(uow.conn, w["campaign_id"], MemberStatus.REGISTERED.value,
                                                           1_000_000, 0)
            for m in registered:
                cause = derive_event_id(w["campaign_id"], m["lead_id"], "no-show-timer")
                if await _reach(deps, uow, campaign, m["lead_id"], MemberStatus.NO_SHOW, now, cause) is not None:
                    marked += 1
        await deps.programs.no_shows_marked(uow.conn, w["campaign_id"], marked, now)
        metrics.NO_SHOWS.inc(marked)
        shared_metrics.observe_timer_fired(metrics.SERVICE, metrics.TIMER_NO_SHOWS, w["no_show_due_at"], now)
        log.info("webinar no-shows marked", extra={"campaign_id": w["campaign_id"], "no_shows": marked})
    return len(due)


async def run_no_show_timers(deps: NurtureDeps, units: UnitOfWorkFactory) -> int:
    """The ``webinar-no-shows`` job: fire due no-show timers, then report what is left due."""
    fired = await timers.drain(units, bind(fire_no_show_timers, deps), NO_SHOW_BATCH)
    await timers.report_backlog(units, deps.clock, metrics.SERVICE,
                                {metrics.TIMER_NO_SHOWS: deps.programs.no_show_backlog})
    return fired


async def _pre_event_call(deps: NurtureDeps, uow: UnitOfWork, event: CampaignMemberChanged) -> None:
    webinar = await deps.programs.webinar(uow.conn, event.campaign_id)
    if webinar is None:
        log.warning("registration for a webinar with no schedule: no pre-event call",
                    extra={"lead_id": event.lead_id, "campaign_id": event.campaign_id})
        return
    due = pre_event_call_due(webinar["event_starts_at"], event.occurred_at, deps.pre_event_call_lead,
                             deps.pre_event_call_soonest)
    if due is None:
        return  # registered once the event had begun: nothing to prepare
    contact = await deps.programs.contact(uow.conn, event.lead_id)
    who = (contact["name"] if contact and contact["name"] else event.lead_id)
    company = f" ({contact['company']})" if contact and contact["company"] else ""
    await create_task(deps, uow, task_id=derive_event_id(event.campaign_id, event.lead_id, "pre-event-call"),
                      lead_id=event.lead_id, kind="pre-event",
                      title=f"Call {who}{company} before {webinar['name']}: ask what they want to hear about",
                      rep_id=contact["rep_id"] if contact else None, team=deps.pre_event_team, due_at=due,
                      campaign=event.campaign_id)


# --------------------------------------------------------------------------- step timers


def _facts(row: Row) -> LeadFacts:
    grade: Grade = row["pool_grade"] or "C"
    engaged_at, replied_at = row["engaged_at"], row["replied_at"]
    return LeadFacts(grade=grade, engaged=engaged_at is not None and engaged_at >= row["entered_at"],
                     replied=replied_at is not None and replied_at >= row["entered_at"],
                     unsubscribed=bool(row["unsubscribed"]))


def _merge_values(row: Row, track: str) -> dict[str, str]:
    campaign = row["campaign_name"]
    name = row["name"] or ""
    return {"first_name": name.split(" ")[0] if name else "there", "name": name, "company": row["company"] or "",
            "email": row["email"] or "", "campaign": campaign or "", "track": track, "rep_name": row["rep_id"] or ""}


async def fire_due_steps(deps: NurtureDeps, uow: UnitOfWork) -> int:
    """Fire every due step timer (up to ``timer_batch``) in this transaction: ask the step
    machine what each does, queue its emails, create its tasks, move its timer on."""
    conn, programs = uow.conn, deps.programs
    now = deps.clock()
    rows = await programs.due_enrollments(conn, now, deps.timer_batch)
    for r in rows:
        track = await _track_of(deps, conn, r["track"], r["version"])
        progress = run_from(track, r["step_index"], _facts(r), now, deps.calendar)
        fired_id = derive_event_id(r["enrollment_id"], str(r["pass"]), str(r["step_index"]), str(r["fired"]))
        for action in progress.actions:
            if isinstance(action, SendEmail):
                await programs.queue_message(conn, derive_event_id(fired_id, action.step_id, "message"), r["lead_id"],
                                             r["enrollment_id"], r["track"], r["version"], action.step_id,
                                             r["campaign"], action.template.model_dump(mode="json"), now)
                metrics.STEPS_FIRED.labels(r["track"], "email").inc()
            elif isinstance(action, CreateTask):
                title = render(EmailTemplate(subject=action.title, text=".", html="."),
                               _merge_values(r, r["track"])).subject
                await create_task(deps, uow, task_id=derive_event_id(fired_id, action.step_id, "task"),
                                  lead_id=r["lead_id"], kind="track", title=title, rep_id=r["rep_id"],
                                  team=action.team, due_at=action.due_at, campaign=r["campaign"],
                                  enrollment_id=r["enrollment_id"])
                metrics.STEPS_FIRED.labels(r["track"], "task").inc()
        if progress.outcome == "waiting":
            await programs.save_progress(conn, r["enrollment_id"], "active", progress.next_index or 0, r["pass"],
                                         progress.due_at, None, now)
        elif progress.outcome == "exited":
            await programs.save_progress(conn, r["enrollment_id"], "exited", r["step_index"], r["pass"], None,
                                         progress.exit_reason, now)
            metrics.EXITED.labels(r["track"], progress.exit_reason or "").inc()
        else:
            then = progress.then
            assert then is not None
            if then.action == "recycle":
                await programs.save_progress(conn, r["enrollment_id"], "active", 0, r["pass"] + 1,
                                             deps.calendar.add_business_days(now, then.after_business_days), None, now)
            else:
                await programs.save_progress(conn, r["enrollment_id"], "completed", len(track.steps), r["pass"],
                                             None, None, now)
                if then.action == "next" and then.track is not None:
                    await _enroll_next(deps, uow, r, then.track, fired_id, now)
            metrics.COMPLETED.labels(r["track"]).inc()
        shared_metrics.observe_timer_fired(metrics.SERVICE, metrics.TIMER_STEPS, r["due_at"], now)
    return len(rows)


async def _enroll_next(deps: NurtureDeps, uow: UnitOfWork, r: Row, name: str, cause_id: str, now: datetime) -> None:
    tracks = {t.name: v for t, v in await live_tracks(deps, uow.conn)}
    if name not in tracks:
        log.warning("next track does not exist; the lead stays in the pool", extra={"track": name})
        return
    await deps.programs.enroll(uow.conn, derive_event_id(cause_id, "next"), r["lead_id"], name, tracks[name],
                               r["campaign"], now, now)
    await deps.pool.set_status(uow.conn, r["lead_id"], "nurturing", now, track=name)
    metrics.ENROLLED.labels(name).inc()


async def _track_of(deps: NurtureDeps, conn: Any, name: str, version: int) -> TrackDefinition:
    row = await deps.programs.track_version(conn, name, version)
    assert row is not None, "an enrolment's track version is kept"
    return deps.tracks.parse(name, version, row["document"])


async def run_steps(deps: NurtureDeps, units: UnitOfWorkFactory) -> int:
    """The ``nurture-steps`` job: fire due step timers, a transaction per ``timer_batch``,
    until none is due; then report what is left due."""
    fired = await timers.drain(units, bind(fire_due_steps, deps), deps.timer_batch)
    await timers.report_backlog(units, deps.clock, metrics.SERVICE,
                                {metrics.TIMER_STEPS: deps.programs.step_backlog})
    return fired


# --------------------------------------------------------------------------- tasks


async def create_task(deps: NurtureDeps, uow: UnitOfWork, *, task_id: str, lead_id: str, kind: str, title: str,
                      rep_id: str | None, team: str | None, due_at: datetime, campaign: str | None,
                      enrollment_id: str | None = None) -> bool:
    """A task for the lead's rep (or ``team``'s queue when no rep owns it); emits
    ``RepTaskCreated``. False if it exists (a re-run)."""
    task = {"task_id": task_id, "lead_id": lead_id, "kind": kind, "title": title, "rep_id": rep_id,
            "team": None if rep_id else team, "due_at": due_at, "campaign": campaign,
            "enrollment_id": enrollment_id, "created_at": deps.clock()}
    if not await deps.programs.add_task(uow.conn, task):
        return False
    uow.emit(RepTaskCreated(event_id=derive_event_id(task_id, "created"), lead_id=lead_id, task_id=task_id,
                            kind=kind, title=title, rep_id=rep_id, team=task["team"], due_at=due_at,  # type: ignore[arg-type]
                            campaign=campaign))
    metrics.TASKS.labels(kind).inc()
    return True


async def update_task(deps: NurtureDeps, uow: UnitOfWork, task_id: str, interests: str | None,
                      status: str | None, who: Principal | None = None) -> Row:
    """A rep records the prospect's interests on a task, or marks it done. A task ``who``
    may not see (another rep's) is not found."""
    if who is not None and not who.sees_every_lead:
        mine = await deps.programs.task(uow.conn, task_id)
        if mine is None or not who.may_see(rep_id=mine["rep_id"], team=mine["team"]):
            raise NotFound(f"no task '{task_id}'")
    row = await deps.programs.update_task(uow.conn, task_id, interests, status, deps.clock())
    if row is None:
        raise NotFound(f"no task '{task_id}'")
    return row


# --------------------------------------------------------------------------- email


def unsubscribe_url(deps: NurtureDeps, message_id: str) -> str:
    return f"{deps.mail.public_url.rstrip('/')}/v1/nurture/unsubscribe/{message_id}"


async def send_queued(deps: NurtureDeps, uow: UnitOfWork) -> int:
    """Send (or defer, or suppress) up to ``mail_batch`` queued messages, deciding for each
    at this moment (:func:`~services.nurture.domain.mail.decide_send`). Each message sent
    is marked sent and announced (``NurtureMessageSent``) in this transaction, which holds
    its lock while the SMTP server accepts it."""
    conn, programs = uow.conn, deps.programs
    now = deps.clock()
    rows = await programs.queued_messages(conn, now, deps.mail_batch)
    if not rows:
        return 0
    emails = [r["email"] for r in rows if r["email"]]
    history = await programs.sent_since(conn, emails, now - WEEK) if emails else {}
    base = deps.mail.public_url.rstrip("/")
    for r in rows:
        recipient = None if r["known"] is None else Recipient(r["email"], r["consent"], bool(r["unsubscribed"]))
        sent_to = history.setdefault((r["email"] or "").lower(), [])
        decision = decide_send(recipient, sent_to, deps.mail.limits, r["created_at"], now)
        if decision.action == "suppress":
            await programs.set_message_status(conn, r["message_id"], "suppressed", decision.reason, None)
            metrics.MESSAGES.labels(r["track"] or "", "suppressed", decision.reason).inc()
            continue
        if decision.action == "defer":
            await programs.set_message_status(conn, r["message_id"], "queued", decision.reason, decision.until)
            metrics.MESSAGES.labels(r["track"] or "", "deferred", decision.reason).inc()
            continue
        unsubscribe = unsubscribe_url(deps, r["message_id"])
        rendered = render(EmailTemplate.model_validate(r["template"]),
                          {**_merge_values(r, r["track"] or ""), "unsubscribe_url": unsubscribe})
        tracked = track_links(rendered, f"{base}/v1/nurture/r/{r['message_id']}",
                              f"{base}/v1/nurture/o/{r['message_id']}.gif", keep={unsubscribe})
        message = compose(message_id=r["message_id"], sender=deps.mail.sender, to=r["email"],
                          subject=rendered.subject, text=tracked.text, html=tracked.html,
                          unsubscribe_url=unsubscribe, domain=deps.mail.message_id_domain, at=now)
        try:
            await deps.mailer.send(message)
        except MessageRejected as rejected:
            await programs.set_message_status(conn, r["message_id"], "suppressed", f"rejected: {rejected}"[:500], None)
            metrics.MESSAGES.labels(r["track"] or "", "suppressed", "rejected").inc()
            continue
        await programs.mark_sent(conn, r["message_id"], r["email"], rendered.subject, tracked.links, now)
        sent_to.append(now)
        uow.emit(NurtureMessageSent(event_id=derive_event_id(r["message_id"], "sent"), occurred_at=now,
                                    lead_id=r["lead_id"], message_id=r["message_id"],
                                    enrollment_id=r["enrollment_id"], track=r["track"], track_version=r["version"],
                                    step_id=r["step_id"], campaign=r["campaign"], to=r["email"],
                                    subject=rendered.subject))
        metrics.MESSAGES.labels(r["track"] or "", "sent", "").inc()
    return len(rows)


async def send_mail(deps: NurtureDeps, units: UnitOfWorkFactory) -> int:
    """The ``nurture-mail`` job: work through the due queue, ``mail_batch`` per transaction."""
    return await timers.drain(units, bind(send_queued, deps), deps.mail_batch)


async def engaged(deps: NurtureDeps, uow: UnitOfWork, message_id: str, behaviour: str,
                  link: int | None = None) -> str | None:
    """A recipient opened a message (``email_open``) or clicked its link number ``link``
    (``email_click``): counted, and announced as ``NurtureMessageEngaged`` (capture makes it
    the lead's activity, which re-scores the lead). Returns the link's target; raises
    :class:`NotFound` for an unknown message or link."""
    row = await deps.programs.message(uow.conn, message_id)
    if row is None or row["status"] != "sent":
        raise NotFound(f"no sent message '{message_id}'")
    url = None
    if behaviour == "email_click":
        links = row["links"] or []
        if link is None or not 0 <= link < len(links):
            raise NotFound(f"message '{message_id}' has no link {link}")
        url = links[link]
    await deps.programs.count_engagement(uow.conn, message_id, behaviour)
    uow.emit(NurtureMessageEngaged(event_id=new_event_id(), lead_id=row["lead_id"], message_id=message_id,
                                   behaviour=behaviour, url=url, campaign=row["campaign"]))  # type: ignore[arg-type]
    metrics.ENGAGEMENT.labels(behaviour).inc()
    return url


async def unsubscribe(deps: NurtureDeps, uow: UnitOfWork, message_id: str) -> str:
    """The recipient of ``message_id`` unsubscribes: no email goes to the address again
    (checked at sending time), and the lead leaves its track. Idempotent. Returns the address."""
    row = await deps.programs.message(uow.conn, message_id)
    if row is None or row["to_email"] is None:
        raise NotFound(f"no sent message '{message_id}'")
    now = deps.clock()
    if await deps.programs.unsubscribe(uow.conn, row["to_email"], row["lead_id"], message_id, now):
        metrics.UNSUBSCRIBED.inc()
    await leave_tracks(deps, uow, row["lead_id"], "unsubscribed", now)
    return str(row["to_email"])


__all__ = ["Invalid", "NotFound", "NurtureDeps", "is_sales_grade", "registry"]


# --------------------------------------------------------------------------- campaigns


class CampaignExists(ValueError):
    """A campaign with this id is already defined."""


class UnknownCampaign(LookupError):
    """No campaign with this id."""


class UnknownMembers(LookupError):
    """Members named that nurture has never heard of (capture them first)."""

    def __init__(self, lead_ids: Sequence[str], emails: Sequence[str]) -> None:
        super().__init__(f"unknown lead ids {list(lead_ids)}, unknown emails {list(emails)}")
        self.lead_ids = tuple(lead_ids)
        self.emails = tuple(emails)


class NotAMember(LookupError):
    """The lead is not a member of the campaign."""


async def define_campaign(deps: NurtureDeps, uow: UnitOfWork, draft: CampaignDraft, *, new: bool,
                          who: audit.Who | None = None) -> CampaignDefined:
    """Define a campaign (``new``) or redefine one, publish ``campaign-defined`` and
    record it in the audit trail as ``who``. Raises :class:`InvalidCampaign` (naming the
    field), :class:`CampaignExists` or :class:`UnknownCampaign`."""
    previous = await deps.campaigns.get_campaign(uow.conn, draft.campaign_id)
    if new and previous is not None:
        raise CampaignExists(draft.campaign_id)
    if not new and previous is None:
        raise UnknownCampaign(draft.campaign_id)
    version = 1 if previous is None else previous["version"] + 1
    defined = CampaignDefined.model_validate(define(draft).event(version, deps.clock()))
    await deps.campaigns.save_campaign(uow.conn, defined)
    uow.emit(defined)
    audit.record(uow, who or audit.system("campaigns"), "campaign.defined" if new else "campaign.changed",
                 "campaign", draft.campaign_id, before=None if previous is None else _definition(previous),
                 after=_definition(defined), details={"version": version})
    return defined


_UNCHANGING = {"event_id", "occurred_at", "version"}  # differ with every definition: not a change of it


def _definition(campaign: CampaignDefined | Row) -> dict[str, Any]:
    """A campaign's definition as JSON, from its event or its stored row, for the audit's diff."""
    if not isinstance(campaign, CampaignDefined):
        fields = CampaignDefined.model_fields.keys() - {"event_id", "occurred_at"}
        campaign = CampaignDefined.model_validate({k: v for k, v in dict(campaign).items() if k in fields})
    return campaign.model_dump(mode="json", exclude=_UNCHANGING)


async def _campaign(deps: NurtureDeps, conn: Any, campaign_id: str) -> Row:
    campaign = await deps.campaigns.get_campaign(conn, campaign_id)
    if campaign is None:
        raise UnknownCampaign(campaign_id)
    return campaign


async def _reach(deps: NurtureDeps, uow: UnitOfWork, campaign: Row, lead_id: str, reached: MemberStatus,
                 at: datetime, cause: str, *, by_request: bool = False, new_lead: bool = False,
                 channel: str | None = None, on_time: bool | None = None) -> MemberStatus | None:
    """Move one member (or make it one) as the funnel's rules say; emits
    ``campaign-member-changed`` when its status changed (the webinar automation and the
    tracks follow that event, :func:`on_campaign_member_changed`). Returns the new status."""
    ctype = CampaignType(campaign["type"])
    row = await deps.campaigns.member(uow.conn, campaign["campaign_id"], lead_id)
    current = None if row is None else MemberStatus(row["status"])
    decided = (requested if by_request else step)(ctype, current, reached)
    if row is not None and not decided.stamps and not decided.changed and not (new_lead and not row["new_lead"]):
        return None
    await deps.campaigns.apply(uow.conn, MemberChange(
        campaign["campaign_id"], lead_id, at, decided.status.value if decided.status else None,
        tuple(STEP_COLUMNS[s] for s in decided.stamps), STEP_COLUMNS[decided.clear] if decided.clear else None,
        new_lead=new_lead, channel=channel, on_time=on_time))
    if decided.status is None:
        return None
    uow.emit(CampaignMemberChanged(
        event_id=derive_event_id(cause, campaign["campaign_id"], lead_id, "member", decided.status.value),
        lead_id=lead_id,
        campaign_id=campaign["campaign_id"], campaign_type=ctype, status=decided.status, previous_status=current,
        followed_up_on_time=on_time if decided.status is MemberStatus.FOLLOWED_UP else None, occurred_at=at))
    return decided.status


async def add_members(deps: NurtureDeps, uow: UnitOfWork, campaign_id: str, lead_ids: Sequence[str],
                      emails: Sequence[str], status: MemberStatus) -> list[str]:
    """Marketing's own list (an invitation list, say): each lead, named by id or by the
    email it was captured with, joins the campaign at ``status`` (or moves forward to
    it). All or nothing: names nurture never heard of are :class:`UnknownMembers`.
    Returns the lead ids."""
    campaign = await _campaign(deps, uow.conn, campaign_id)
    step(CampaignType(campaign["type"]), None, status)  # StepNotInCampaign before anything is written
    by_email = await deps.campaigns.lead_ids_by_email(uow.conn, [normalise_email(e) for e in emails])
    known = await deps.campaigns.known_leads(uow.conn, lead_ids)
    missing_ids = [i for i in lead_ids if i not in known]
    missing_emails = [e for e in emails if normalise_email(e) not in by_email]
    if missing_ids or missing_emails:
        raise UnknownMembers(missing_ids, missing_emails)
    members = list(dict.fromkeys([*lead_ids, *(by_email[normalise_email(e)] for e in emails)]))
    cause, at = str(uuid.uuid4()), deps.clock()
    for lead_id in members:
        await _reach(deps, uow, campaign, lead_id, status, at, cause, channel="list")
    return members


async def set_member_status(deps: NurtureDeps, uow: UnitOfWork, campaign_id: str, lead_id: str,
                            status: MemberStatus, at: datetime | None) -> MemberStatus:
    """A person sets a member's step (a platform's attendance correction, marketing's
    fix): forward only (:class:`services.nurture.domain.funnel.BackwardMove`)."""
    campaign = await _campaign(deps, uow.conn, campaign_id)
    row = await deps.campaigns.member(uow.conn, campaign_id, lead_id)
    if row is None:
        raise NotAMember(lead_id)
    await _reach(deps, uow, campaign, lead_id, status, at or deps.clock(), str(uuid.uuid4()), by_request=True)
    return status


async def _capture_joins_campaign(deps: NurtureDeps, e: LeadCaptured, uow: UnitOfWork,
                                  campaign: Row | None) -> TouchRow | None:
    """A capture naming a campaign (``campaign``, as nurture knows it) makes the lead its
    member (new to us, or already known) at the step the capture shows, and is a touch
    of that campaign (returned, for the caller to record with the batch's others)."""
    if not campaign:
        return None  # no campaign, or one marketing never defined here (capture refuses those at its edge)
    reached = step_for_capture(CampaignType(campaign["type"]), e.source)
    await _reach(deps, uow, campaign, e.lead_id, reached, e.occurred_at, e.event_id, new_lead=not e.is_repeat,
                 channel=e.source.value)
    return TouchRow(e.event_id, e.lead_id, campaign["campaign_id"], e.occurred_at, e.source.value)


async def _activity_joins_campaign(deps: NurtureDeps, event: LeadEngaged, uow: UnitOfWork) -> None:
    """An activity naming a campaign (an invitation, a registration, an attendance, a
    booth visit, a click) makes the lead a member at the step it shows, and is a touch."""
    campaign = event.campaign and await deps.campaigns.get_campaign(uow.conn, event.campaign)
    if not campaign:
        return
    reached = step_for_activity(CampaignType(campaign["type"]), event.behaviour)
    await _reach(deps, uow, campaign, event.lead_id, reached, event.occurred_at, event.event_id, channel="activity")
    await _touched(deps, uow, [TouchRow(event.event_id, event.lead_id, campaign["campaign_id"], event.occurred_at,
                                        "activity")])


async def _touched(deps: NurtureDeps, uow: UnitOfWork, touches: Sequence[TouchRow]) -> None:
    """Record touches; one dated before a won deal's close arrived late: that deal's
    credits are recomputed with it."""
    new = await deps.campaigns.add_touches(uow.conn, touches)
    if not new:
        return
    won = await deps.campaigns.won_deals(uow.conn, list({t.lead_id for t in new}))
    earliest: dict[str, datetime] = {}
    for t in new:
        earliest[t.lead_id] = min(earliest.get(t.lead_id, t.at), t.at)
    late = [d for d in won if d["closed_at"] is not None and earliest[d["lead_id"]] <= d["closed_at"]]
    if late:
        await _attribute(deps, uow, late)


async def mark_no_shows(deps: NurtureDeps, uow: UnitOfWork, campaign_id: str, at: datetime,
                        cause: str) -> list[str]:
    """The webinar is over: every member still only registered did not attend and is a
    no-show now (``campaign-member-changed``; a track whose entry rule names ``no_show``
    takes them). Idempotent: run again, it finds nobody left at ``registered``; a late
    attendance report still moves a no-show to attended. ``cause`` names the run (the
    timer's id), so a re-run emits the same event ids. Returns the leads marked."""
    campaign = await _campaign(deps, uow.conn, campaign_id)
    marked = await deps.campaigns.lead_ids_at(uow.conn, campaign_id, MemberStatus.REGISTERED.value)
    for lead_id in marked:
        await _reach(deps, uow, campaign, lead_id, MemberStatus.NO_SHOW, at, cause)
    return marked


async def on_follow_up_recorded(deps: NurtureDeps, event: FollowUpRecorded, uow: UnitOfWork) -> None:
    """A rep followed up: in every campaign the lead is a member of, it is followed up,
    within the SLA or not."""
    for m in await deps.campaigns.members_of_lead(uow.conn, event.lead_id):
        campaign = await _campaign(deps, uow.conn, m["campaign_id"])
        await _reach(deps, uow, campaign, event.lead_id, MemberStatus.FOLLOWED_UP, event.occurred_at, event.event_id,
                     on_time=event.on_time)


_OUTCOME_STEP = {DealOutcomeKind.OPPORTUNITY_CREATED: MemberStatus.OPPORTUNITY,
                 DealOutcomeKind.STAGE_CHANGED: MemberStatus.OPPORTUNITY,
                 DealOutcomeKind.WON: MemberStatus.WON, DealOutcomeKind.LOST: MemberStatus.LOST}


def closed_at(event: DealOutcomeRecorded) -> datetime | None:
    """When a closed deal closed: the end of its close date (UTC), so that every touch
    of that day counts; else when the CRM said it closed."""
    if event.kind not in (DealOutcomeKind.WON, DealOutcomeKind.LOST):
        return None
    if event.close_date is None:
        return event.occurred_at
    return datetime.combine(event.close_date, time.max, UTC)


async def on_deal_outcome(deps: NurtureDeps, event: DealOutcomeRecorded, uow: UnitOfWork) -> None:
    """The CRM's word on a member's opportunity: the deal as it stands, each of the
    lead's memberships moved to opportunity / won / lost, and a won deal's revenue
    attributed to the campaigns that touched the lead."""
    status = {DealOutcomeKind.WON: "won", DealOutcomeKind.LOST: "lost"}.get(event.kind, "open")
    await deps.campaigns.save_deal(uow.conn, DealRow(
        event.opportunity_id, event.lead_id, status, event.stage, event.amount_minor, event.currency,
        event.occurred_at, closed_at(event), event.occurred_at))
    for m in await deps.campaigns.members_of_lead(uow.conn, event.lead_id):
        campaign = await _campaign(deps, uow.conn, m["campaign_id"])
        await _reach(deps, uow, campaign, event.lead_id, _OUTCOME_STEP[event.kind], event.occurred_at, event.event_id)
    if event.kind is DealOutcomeKind.WON:
        await _attribute(deps, uow, [d for d in await deps.campaigns.won_deals(uow.conn, [event.lead_id])
                                     if d["opportunity_id"] == event.opportunity_id])


async def _attribute(deps: NurtureDeps, uow: UnitOfWork, deals: Sequence[Row]) -> int:
    """(Re)compute these won deals' credits under every model, from the leads' touches."""
    touches = await deps.campaigns.touches_of(uow.conn, list({d["lead_id"] for d in deals}))
    credits = [c for d in deals for c in credit_all(
        touches.get(d["lead_id"], []), Deal(d["opportunity_id"], d["amount_minor"], d["closed_at"], d["opened_at"]),
        deps.half_life_days)]
    await deps.campaigns.replace_credits(uow.conn, [d["opportunity_id"] for d in deals], credits,
                                         {d["opportunity_id"]: (d["currency"], d["closed_at"]) for d in deals})
    return len(deals)


async def recompute_attribution(deps: NurtureDeps, uow: UnitOfWork) -> int:
    """Every won deal's credits from history (after the models' parameters changed,
    say). Returns how many deals."""
    return await _attribute(deps, uow, await deps.campaigns.won_deals(uow.conn))


async def refresh_campaign_gauges(deps: NurtureDeps, units: UnitOfWorkFactory) -> None:
    """Members by status per campaign and each campaign's closed revenue, for Prometheus."""
    async with units() as uow:
        counts = await deps.campaigns.status_counts(uow.conn)
        revenue = await deps.campaigns.closed_revenue(uow.conn)
    CAMPAIGN_MEMBERS.clear()
    for r in counts:
        CAMPAIGN_MEMBERS.labels(r["campaign_id"], r["status"]).set(r["members"])
    CAMPAIGN_CLOSED_REVENUE.clear()
    for r in revenue:
        CAMPAIGN_CLOSED_REVENUE.labels(r["campaign_id"], r["currency"]).set(
            float(from_minor(int(r["revenue_minor"]), r["currency"])))


# Each step's count in the report's row (a scan is counted as a visit: one column).
_STEP_FIGURES = {s: c.removesuffix("_at") for s, c in STEP_COLUMNS.items() if s is not MemberStatus.SCANNED}


async def campaign_report(deps: NurtureDeps, conn: Any, campaign_id: str, model: Model) -> dict[str, Any]:
    """The campaign's report (``domain.report``) from the database's aggregates.
    Raises :class:`UnknownCampaign`."""
    campaign = await _campaign(deps, conn, campaign_id)
    row = await deps.campaigns.report(conn, campaign_id, campaign["currency"])
    figures = Figures(
        members=row["members"], new_leads=row["new_leads"],
        grades={g: row[f"grade_{g.lower()}"] for g in GRADES},
        steps={s: row[column] for s, column in _STEP_FIGURES.items()},
        followed_up_on_time=row["followed_up_on_time"], opportunities=row["opportunities"],
        won_deals=row["won_deals"], lost_deals=row["lost_deals"],
        closed_revenue_minor=int(row["closed_revenue_minor"]), won_in_other_currencies=row["won_in_other_currencies"],
        credited_minor={k: int(v) for k, v in row["credited"].items()})
    return report_of(campaign, figures, model)


async def period_figures(deps: NurtureDeps, conn: Any, since: datetime, until: datetime,
                         model: Model) -> dict[str, list[dict[str, Any]]]:
    """Revenue credited to campaigns for deals closed in [since, until), by campaign type
    and channel, and by type beside the cost of its campaigns running then (with ROI)."""
    rows = list(await deps.campaigns.period(conn, since, until))
    costs = list(await deps.campaigns.period_costs(conn, since, until))
    return {"by_type_and_channel": period_report(rows, model), "by_type": period_by_type(rows, costs, model)}
