"""Routing's handlers: a scored lead, the SLA clock, follow-ups and configuration changes,
and the reads its HTTP edge serves.

:func:`registry` is the service's one registry (``lead-scored`` → :func:`on_lead_scored`,
the ``sla-timers`` job → :func:`run_timers`, the seeding of the organisation at start).
Every handler takes the one :class:`RoutingDeps` first, then its events or arguments and a
:class:`~shared.handling.UnitOfWork`; it loads what it needs through the repository, lets
the domain decide, saves and emits. Ids of everything made in response to an event are
derived from that event's id, so a re-run makes the same rows and events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from services.routing import metrics
from services.routing.documents import default_rules_path, read_org_file, read_rules_file
from services.routing.domain.calendar import parse_zone
from services.routing.domain.compliance import ClockEnded, TeamCompliance, period_starts
from services.routing.domain.compliance import team_compliance as compliance_of
from services.routing.domain.config import ConfigInvalid, RoutingConfig, Team, company_key, compile_config
from services.routing.domain.followup import AssignmentState, decide_follow_up, is_active
from services.routing.domain.lifecycle import (
    ActiveAssignment,
    Plan,
    plan_for_breach,
    plan_for_disqualified,
    plan_for_outcome,
    plan_for_qualified,
    plan_for_scored,
    plan_for_taken,
    team_manages,
)
from services.routing.domain.router import LeadFacts, Router, is_away
from services.routing.repository import PendingWrites, RoutingStore, Row, active_from_row
from shared import audit, privacy, timers, topics
from shared import metrics as shared_metrics
from shared.events import (
    DealOutcomeRecorded,
    FollowUpEscalated,
    FollowUpMissed,
    FollowUpOutcome,
    FollowUpRecorded,
    FollowUpReminderIssued,
    LeadAssigned,
    LeadScored,
    RoutingConfigChanged,
    derive_event_id,
    new_event_id,
    utcnow,
)
from shared.handling import Periodic, Registry, Subscription, UnitOfWork, UnitOfWorkFactory, bind
from shared.principal import Principal
from shared.privacy import SubjectData

log = logging.getLogger(__name__)

# How the assignment a plan replaces is closed, by what replaced it.
_CLOSED_AS = {"returned_from_nurture": "returned", "escalation": "missed", "qualified": "qualified",
              "disqualified": "disqualified", "hot": "handed_on", "taken": "taken"}

class NotFound(LookupError):
    """No such rep, assignment or lead; ``field`` names the input at fault."""

    def __init__(self, message: str, field_name: str = "") -> None:
        super().__init__(message)
        self.field = field_name


class EmptyQueue(LookupError):
    """Nothing waits in the team's queue."""


class NotInTeam(ValueError):
    """The rep named is not a member of the team named."""

    field = "rep_id"


class NotYours(PermissionError):
    """The caller may not see this rep's leads (a rep asked for another rep's, a manager
    for a rep outside their teams): 403. An assignment or a lead they may not see is a
    :class:`NotFound`, as if it did not exist."""

    def __init__(self, message: str, field_name: str = "rep_id") -> None:
        super().__init__(message)
        self.field = field_name


def _visible(viewer: Principal | None, row: Row | None) -> bool:
    """Whether ``viewer`` may see the lead of assignment ``row`` (``None``: an unscoped
    caller, the service itself)."""
    return row is not None and (viewer is None or viewer.may_see(rep_id=row["rep_id"], team=row["team"]))


def _check_rep(viewer: Principal | None, rep_id: str, team: str | None) -> None:
    if viewer is not None and not viewer.may_see(rep_id=rep_id, team=team):
        raise NotYours("a rep sees only their own leads, a manager their teams' reps"
                       if viewer.rep_id or viewer.teams else "this token names no rep (rep_id) and no teams")


class Conflict(RuntimeError):
    """The configuration changed since the caller read it."""


class ConfigCache:
    """The live configuration, compiled once per version. Every unit of work asks for it
    with one cheap version query, so a change made through any replica takes effect on
    the next event everywhere, without a restart."""

    def __init__(self, repo: RoutingStore) -> None:
        self._repo = repo
        self._router: Router | None = None

    async def router(self, conn: Any, *, lock: bool = False) -> Router:
        """The live router; with ``lock``, also takes the routing-state lock in the same
        round trip."""
        versions = await (self._repo.lock_and_config_versions(conn) if lock else self._repo.config_versions(conn))
        current = self._router
        if current is not None and versions == {"org": current.config.org_version,
                                                "rules": current.config.rules_version}:
            return current
        docs = await self._repo.config_documents(conn)
        if "org" not in docs or "rules" not in docs:
            raise RuntimeError("routing has no organisation or rules yet (seeding failed?)")
        (org_v, org), (rules_v, rules) = docs["org"], docs["rules"]
        # Only validated documents are stored, so this compiles; if a newer code version
        # rejects an old document, raising keeps the events undone rather than misrouted.
        self._router = Router(compile_config(org, rules, org_version=org_v, rules_version=rules_v))
        log.info("routing configuration loaded", extra={"org_version": org_v, "rules_version": rules_v})
        return self._router


@dataclass
class RoutingDeps:
    """What routing's handlers and routes share: the repository, the live configuration
    (compiled once per version), a clock (replaceable so tests can move time), how many
    timers one transaction handles, and the files that seed an empty database."""

    repo: RoutingStore
    clock: Callable[[], datetime] = utcnow
    timer_batch: int = 200
    timer_interval_s: float = 30.0
    org_file: Path | None = None
    rules_file: Path | None = None
    subjects: SubjectData | None = None  # what routing holds about a person (export, erasure)
    configs: ConfigCache = field(init=False)

    def __post_init__(self) -> None:
        self.configs = ConfigCache(self.repo)


def registry(deps: RoutingDeps) -> Registry:
    """Routing's subscriptions, clocked jobs and startup, bound to ``deps``."""
    return Registry(
        subscriptions=[Subscription(topics.LEAD_SCORED, batch_handler=bind(on_lead_scored, deps)),
                       Subscription(topics.DEAL_OUTCOME_RECORDED, handler=bind(on_deal_outcome_recorded, deps)),
                       *(privacy.subscriptions("routing", deps.subjects) if deps.subjects is not None else [])],
        periodic=[Periodic("sla-timers", deps.timer_interval_s, bind(run_timers, deps),
                           next_due_in=bind(next_timer_in, deps), wake_on=("assignments",))],
        startup=[bind(seed_from_files, deps)] if deps.org_file is not None else [])


# --------------------------------------------------------------------------- making assignments


def _record(uow: UnitOfWork, writes: PendingWrites, plan: Plan, lead: LeadFacts, cause_id: str,
            now: datetime) -> ActiveAssignment:
    """Turn a plan into an assignment row, a decision record and a ``LeadAssigned``."""
    d = plan.decision
    assignment_id = derive_event_id(cause_id, "assignment")
    previous = plan.previous.assignment_id if plan.previous else None
    if previous is not None:
        writes.close(previous, _CLOSED_AS.get(plan.trigger, "replaced"), plan.reason, now)
    row = ActiveAssignment(
        assignment_id=assignment_id, lead_id=lead.lead_id, owner_kind=d.owner_kind, rep_id=d.rep_id, team=d.team,
        rule=d.rule, reason=d.reason, trigger=plan.trigger, attempt=plan.attempt, chain=plan.chain,
        previous_assignment_id=previous, status="nurture" if d.owner_kind == "nurture" else "open",
        assigned_at=now, due_at=plan.clock.due_at if plan.clock else None,
        remind_at=plan.clock.remind_at if plan.clock else None)
    writes.assignments[assignment_id] = row
    writes.decisions.append((lead.lead_id, assignment_id, now, plan.trigger, cause_id, {
        **d.as_dict(), "trigger": plan.trigger, "attempt": plan.attempt, "previous_assignment_id": previous,
        "due_at": row.due_at.isoformat() if row.due_at else None,
        "lead": {"grade": lead.grade, "segment": lead.segment, "hot": lead.hot, "country": lead.country,
                 "company": lead.company, "source": lead.source}}))
    uow.emit(LeadAssigned(
        event_id=derive_event_id(cause_id, "lead-assigned"), occurred_at=now, lead_id=lead.lead_id,
        assignment_id=assignment_id, owner_kind=d.owner_kind, rep_id=d.rep_id, team=d.team, due_at=row.due_at,
        rule=d.rule, reason=d.reason, nurture_reason=d.nurture_reason, grade=lead.grade, segment=lead.segment,
        campaign=lead.campaign,
        attempt=plan.attempt, previous_assignment_id=previous))
    metrics.ASSIGNED.labels(d.owner_kind, d.team or "", plan.trigger).inc()
    if d.owner_kind == "queue":
        metrics.QUEUED.labels(d.team or "").inc()
        log.warning("lead queued: no rep fits", extra={"lead_id": lead.lead_id, "team": d.team, "reason": d.reason})
    return row


# --------------------------------------------------------------------------- lead-scored


async def on_lead_scored(deps: RoutingDeps, events: Sequence[LeadScored], uow: UnitOfWork) -> None:
    """Route each scored lead that has no active owner, or that heated up in nurture.

    A batch is decided in order, in memory, and saved in a few statements: the same lead
    scored twice in one batch sees its first assignment and is not assigned again."""
    conn, repo = uow.conn, deps.repo
    router = await deps.configs.router(conn, lock=True)
    now = deps.clock()
    facts = [LeadFacts.from_scored(e) for e in events]
    await repo.save_scored(conn, [(e.event_id, f, e.profile.model_dump(mode="json"), e.occurred_at)
                                  for e, f in zip(events, facts, strict=True)])
    active = await repo.active_for(conn, list({f.lead_id for f in facts}))
    ctx = await repo.load_context(conn, [company_key(f.company) for f in facts])
    writes = PendingWrites()
    for event, lead in zip(events, facts, strict=True):
        plan = plan_for_scored(router, lead, active.get(lead.lead_id), ctx, now)
        if plan is None:
            metrics.KEPT.inc()
            continue
        row = _record(uow, writes, plan, lead, event.event_id, now)
        active[lead.lead_id] = row
    await repo.flush(conn, writes)
    await repo.save_context(conn, ctx)


# --------------------------------------------------------------------------- outcomes from the CRM


async def on_deal_outcome_recorded(deps: RoutingDeps, event: DealOutcomeRecorded, uow: UnitOfWork) -> None:
    """The CRM reported an opportunity for a lead (the rule:
    :func:`~services.routing.domain.lifecycle.plan_for_outcome`): its assignment closes as
    converted, its clock stops and its rep's capacity frees; won or lost, with the amount,
    is recorded on that assignment for reports."""
    conn, repo = uow.conn, deps.repo
    await repo.lock_routing_state(conn)
    active = (await repo.active_for(conn, [event.lead_id])).get(event.lead_id)
    previous = await repo.assignment(conn, active.assignment_id) if active is not None else None
    ctx = await repo.load_context(conn, [])
    plan = plan_for_outcome(active, event.kind, previous["deal_status"] if previous else None, ctx)
    if plan is None:
        metrics.OUTCOMES.labels(str(event.kind), "not_routed").inc()
        log.info("outcome for a lead routing never routed", extra={"lead_id": event.lead_id,
                                                                   "opportunity_id": event.opportunity_id})
        return
    now = deps.clock()
    if plan.convert:
        writes = PendingWrites()
        writes.close(plan.assignment_id, "converted",
                     f"opportunity {event.opportunity_id} in {event.source} ({event.kind})", now)
        await repo.flush(conn, writes)
    await repo.record_deal(conn, plan.assignment_id, event.opportunity_id, plan.deal_status, event.amount_minor,
                           event.currency, event.close_date, event.occurred_at)
    await repo.save_context(conn, ctx)
    metrics.OUTCOMES.labels(str(event.kind), "converted" if plan.convert else "recorded").inc()


# --------------------------------------------------------------------------- taking a lead from a queue


async def take_from_queue(deps: RoutingDeps, uow: UnitOfWork, team_id: str, rep_id: str,
                          taken_by: str = "", assignment_id: str | None = None,
                          viewer: Principal | None = None) -> ActiveAssignment:
    """A rep (or a manager for them) takes a lead from a team's queue by hand (the rule:
    :func:`~services.routing.domain.lifecycle.plan_for_taken`): the one ``assignment_id``
    names, or else the most urgent queued lead (the earliest due, then the longest
    waiting), recorded as a routing decision with its reason; it gets its clock. Raises
    :class:`NotFound` (team, rep, or a named lead no longer waiting there),
    :class:`NotInTeam`, :class:`NotYours` (``viewer`` is a rep taking for another, a
    manager for another team) or :class:`EmptyQueue`."""
    conn, repo = uow.conn, deps.repo
    _check_rep(viewer, rep_id, team_id)
    router = await deps.configs.router(conn, lock=True)
    config = router.config
    if team_id not in config.teams:
        raise NotFound(f"no team '{team_id}' (teams: {', '.join(config.teams)})", "team")
    rep = config.reps.get(rep_id)
    if rep is None:
        raise NotFound(f"no rep '{rep_id}'", "rep_id")
    if rep.team != team_id:
        raise NotInTeam(f"rep '{rep_id}' is in team '{rep.team}', not '{team_id}'")
    row = await repo.next_queued(conn, team_id, assignment_id)
    if row is None and assignment_id is not None:
        raise NotFound(f"assignment '{assignment_id}' is not waiting in the '{team_id}' queue "
                       "(taken already, or never queued there)", "assignment_id")
    if row is None:
        raise EmptyQueue(f"the '{team_id}' queue is empty")
    lead = LeadFacts.from_dict(row["facts"])
    now = deps.clock()
    ctx = await repo.load_context(conn, [company_key(lead.company)])
    plan = plan_for_taken(router, lead, active_from_row(row), rep, ctx, now, taken_by)
    writes = PendingWrites()
    new = _record(uow, writes, plan, lead, new_event_id(), now)
    await repo.flush(conn, writes)
    await repo.save_context(conn, ctx)
    metrics.TAKEN.labels(team_id).inc()
    return new


# --------------------------------------------------------------------------- the SLA clock


async def fire_due(deps: RoutingDeps, uow: UnitOfWork) -> int:
    """Handle open assignments whose clock ran out: mark missed, emit ``FollowUpMissed``,
    escalate. Rows are locked with SKIP LOCKED and changed in the caller's transaction
    with the emitted events, so each breach is handled exactly once, whoever runs the
    timer and whenever (timers that came due while routing was down fire on start)."""
    conn, repo = uow.conn, deps.repo
    now = deps.clock()
    rows = await repo.due(conn, now, deps.timer_batch)
    if not rows:
        return 0
    router = await deps.configs.router(conn)
    await repo.lock_routing_state(conn)
    facts = {r["assignment_id"]: LeadFacts.from_dict(r["facts"]) for r in rows}
    ctx = await repo.load_context(conn, [company_key(f.company) for f in facts.values()])
    writes = PendingWrites()
    for r in rows:
        missed, lead = active_from_row(r), facts[r["assignment_id"]]
        plan = plan_for_breach(router, lead, missed, ctx, now)
        cause = derive_event_id(missed.assignment_id, "breach")
        new = _record(uow, writes, plan, lead, cause, now)
        next_action: Literal["reassign", "nurture"] = "nurture" if new.owner_kind == "nurture" else "reassign"
        uow.emit(FollowUpMissed(
            event_id=derive_event_id(missed.assignment_id, "follow-up-missed"), occurred_at=now,
            lead_id=lead.lead_id, assignment_id=missed.assignment_id, rep_id=missed.rep_id, team=missed.team,
            due_at=r["due_at"], escalation=plan.attempt, next_action=next_action, grade=lead.grade,
            segment=lead.segment, campaign=lead.campaign))
        manager_name, manager_email = team_manages(router.config, missed.team)
        uow.emit(FollowUpEscalated(
            event_id=derive_event_id(missed.assignment_id, "follow-up-escalated"), occurred_at=now,
            lead_id=lead.lead_id, missed_assignment_id=missed.assignment_id, missed_rep_id=missed.rep_id,
            assignment_id=new.assignment_id, owner_kind=new.owner_kind, rep_id=new.rep_id,  # type: ignore[arg-type]
            team=new.team, escalation=plan.attempt, manager_name=manager_name, manager_email=manager_email))
        metrics.MISSED.labels(missed.team or "", next_action).inc()
        shared_metrics.observe_timer_fired(metrics.SERVICE, metrics.TIMER_DUE, r["due_at"], now)
    await repo.flush(conn, writes)
    await repo.save_context(conn, ctx)
    return len(rows)


async def fire_reminders(deps: RoutingDeps, uow: UnitOfWork) -> int:
    """Remind owners whose clock is nearly out (once each, same guarantees as breaches)."""
    conn, repo = uow.conn, deps.repo
    now = deps.clock()
    rows = await repo.reminders_due(conn, now, deps.timer_batch)
    for r in rows:
        facts = LeadFacts.from_dict(r["facts"])
        uow.emit(FollowUpReminderIssued(
            event_id=derive_event_id(r["assignment_id"], "reminder"), occurred_at=now, lead_id=r["lead_id"],
            assignment_id=r["assignment_id"], owner_kind=r["owner_kind"], rep_id=r["rep_id"], team=r["team"],
            due_at=r["due_at"], grade=facts.grade, segment=facts.segment))
        metrics.REMINDED.labels(r["team"] or "").inc()
        shared_metrics.observe_timer_fired(metrics.SERVICE, metrics.TIMER_REMINDER, r["remind_at"], now)
    if rows:
        await repo.mark_reminded(conn, [r["assignment_id"] for r in rows], now)
    return len(rows)


async def report_timer_backlog(deps: RoutingDeps, uow: UnitOfWork) -> None:
    """What the SLA clock left due (after a run, normally nothing): ``leadbridge_timers_due``
    and ``leadbridge_timers_oldest_overdue_seconds`` for breaches and reminders."""
    now = deps.clock()
    backlog = await deps.repo.timer_backlog(uow.conn, now)
    for timer, (due, oldest) in ((metrics.TIMER_DUE, backlog["due"]), (metrics.TIMER_REMINDER, backlog["reminder"])):
        shared_metrics.report_timer_backlog(metrics.SERVICE, timer, due, oldest, now)


async def run_timers(deps: RoutingDeps, units: UnitOfWorkFactory) -> int:
    """The ``sla-timers`` job: fire every due breach, then every due reminder, one
    transaction per chunk of ``timer_batch``, until none is due; then report what is
    left due. Returns the breaches."""
    fired = await timers.drain(units, bind(fire_due, deps), deps.timer_batch)
    await timers.drain(units, bind(fire_reminders, deps), deps.timer_batch)
    async with units() as uow:
        await report_timer_backlog(deps, uow)
    return fired


async def next_timer_in(deps: RoutingDeps, units: UnitOfWorkFactory) -> float | None:
    """Seconds until the next clock or reminder is due: the ``sla-timers`` job sleeps
    until then (a new assignment due sooner wakes it, see shared.wakeups)."""
    async with units() as uow:
        return timers.seconds_until(await deps.repo.next_due(uow.conn), deps.clock())


# --------------------------------------------------------------------------- follow-ups


@dataclass(frozen=True)
class FollowUpResult:
    follow_up_id: str
    on_time: bool
    status: str
    next_assignment: ActiveAssignment | None
    repeat: bool = False


class KeyReused(ValueError):
    """An idempotency key already recorded a follow-up on another assignment."""

    field = "idempotency-key"


async def _repeated(deps: RoutingDeps, uow: UnitOfWork, row: Row, earlier: Row) -> FollowUpResult:
    """The answer to a retried follow-up: the one recorded first, the assignment's status
    now, and the lead's owner now when the follow-up handed it on."""
    if earlier["assignment_id"] != row["assignment_id"]:
        raise KeyReused(f"this idempotency key recorded a follow-up on assignment '{earlier['assignment_id']}'")
    active = (await deps.repo.active_for(uow.conn, [row["lead_id"]])).get(row["lead_id"])
    handed_on = active is not None and active.assignment_id != row["assignment_id"]
    return FollowUpResult(earlier["follow_up_id"], earlier["on_time"], row["status"], active if handed_on else None,
                          repeat=True)


def _state_of(row: Row) -> AssignmentState:
    return AssignmentState(row["assignment_id"], row["owner_kind"], row["rep_id"], row["team"], row["status"],
                           row["due_at"])


async def record_follow_up(deps: RoutingDeps, uow: UnitOfWork, assignment_id: str, rep_id: str,
                           outcome: FollowUpOutcome, note: str, idempotency_key: str | None = None,
                           viewer: Principal | None = None) -> FollowUpResult:
    """A rep followed up (the rules: :func:`~services.routing.domain.followup.decide_follow_up`).
    Records it and emits ``FollowUpRecorded``; a hand-off makes the lead's next assignment
    (a field rep for ``qualified``, nurture for ``disqualified``), otherwise the clock stops
    and the rep keeps the lead. Raises :class:`NotFound` or a ``FollowUpRefused``.

    With an ``idempotency_key``, a retry of the same request (a phone that lost the
    answer) records nothing and answers what the first one recorded (``repeat``); the
    key used for another assignment raises :class:`KeyReused`."""
    conn, repo = uow.conn, deps.repo
    row = await repo.assignment(conn, assignment_id, for_update=True)
    if row is None or not _visible(viewer, row):  # one ``viewer`` may not see: as if there were none
        raise NotFound(f"no assignment '{assignment_id}'")
    if idempotency_key is not None:
        # The assignment's lock is held: a concurrent retry waits here and then sees the first one.
        earlier = await repo.follow_up_by_key(conn, idempotency_key)
        if earlier is not None:
            return await _repeated(deps, uow, row, earlier)
    router = await deps.configs.router(conn)
    now = deps.clock()
    decision = decide_follow_up(router.config, _state_of(row), rep_id, outcome, note, now)
    follow_up_id = new_event_id()
    await repo.add_follow_up(conn, follow_up_id, assignment_id, row["lead_id"], rep_id, str(outcome), note,
                             decision.on_time, now, idempotency_key)
    uow.emit(FollowUpRecorded(event_id=follow_up_id, occurred_at=now, lead_id=row["lead_id"],
                              assignment_id=assignment_id, rep_id=rep_id, outcome=outcome, note=note,
                              on_time=decision.on_time))
    metrics.FOLLOW_UPS.labels(row["team"] or "", str(outcome), str(decision.on_time).lower()).inc()
    if decision.hand_off is None:
        if row["status"] == "open":
            await repo.mark_followed_up(conn, assignment_id, now)
        return FollowUpResult(follow_up_id, decision.on_time, "followed_up", None)
    lead_row = await repo.lead(conn, row["lead_id"])
    assert lead_row is not None, "an assignment always has its lead"
    lead = LeadFacts.from_dict(lead_row["facts"])
    await repo.lock_routing_state(conn)
    ctx = await repo.load_context(conn, [company_key(lead.company)])
    if decision.hand_off == "qualified":
        plan = plan_for_qualified(router, lead, active_from_row(row), ctx, now)
    else:
        plan = plan_for_disqualified(router, active_from_row(row), ctx, now, note.strip())
    writes = PendingWrites()
    new = _record(uow, writes, plan, lead, follow_up_id, now)
    await repo.flush(conn, writes)
    await repo.save_context(conn, ctx)
    return FollowUpResult(follow_up_id, decision.on_time, _CLOSED_AS[plan.trigger], new)


# --------------------------------------------------------------------------- configuration


async def change_config(deps: RoutingDeps, uow: UnitOfWork, kind: Literal["org", "rules"],
                        document: dict[str, Any], change: str, changed_by: str = "",
                        expected_version: int | None = None, *, who: audit.Who | None = None) -> RoutingConfig:
    """Replace the organisation or the rules, only if the result validates together with
    the other document. Emits ``RoutingConfigChanged`` and records the change, place by
    place, in the audit trail as ``who`` (a route's caller; without one, ``changed_by``
    as given); every replica picks it up on its next unit of work. Raises
    :class:`ConfigInvalid` or :class:`Conflict`."""
    conn, repo = uow.conn, deps.repo
    docs = await repo.config_documents(conn, for_update=True)
    version = docs[kind][0] if kind in docs else 0
    if expected_version is not None and expected_version != version:
        raise Conflict(f"{kind} is at version {version}, not {expected_version}: reload and retry")
    org_doc = document if kind == "org" else docs["org"][1]
    rules_doc = document if kind == "rules" else docs["rules"][1]
    try:
        config = compile_config(org_doc, rules_doc)
    except ConfigInvalid:
        metrics.CONFIG_REJECTED.labels(kind).inc()
        raise
    await repo.save_config(conn, kind, version + 1, document, change, changed_by)
    uow.emit(RoutingConfigChanged(kind=kind, version=version + 1, change=change, changed_by=changed_by,
                                  document=document))
    audit.record(uow, who or audit.Actor(changed_by or "unknown", changed_by), f"{kind}.changed", kind, kind,
                 before=docs[kind][1] if kind in docs else None, after=document,
                 details={"version": version + 1, "change": change})
    metrics.CONFIG_CHANGES.labels(kind).inc()
    return config


async def seed_config(deps: RoutingDeps, uow: UnitOfWork, org_doc: dict[str, Any], rules_doc: dict[str, Any],
                      source: str) -> bool:
    """Store the seed organisation and rules if routing has none yet (True if it did)."""
    conn, repo = uow.conn, deps.repo
    await repo.lock_routing_state(conn)  # two replicas starting together seed once
    if await repo.config_versions(conn):
        return False
    compile_config(org_doc, rules_doc)  # an invalid seed stops the service with the reasons
    for kind, doc in (("org", org_doc), ("rules", rules_doc)):
        await repo.save_config(conn, kind, 1, doc, f"seeded from {source}", "seed")
        uow.emit(RoutingConfigChanged(kind=kind, version=1,  # type: ignore[arg-type]
                                      change=f"seeded from {source}", changed_by="seed", document=doc))
        audit.record(uow, audit.system("seed"), f"{kind}.seeded", kind, kind, after=doc,
                     details={"version": 1, "source": source})
    return True


async def _change_rep(deps: RoutingDeps, uow: UnitOfWork, rep_id: str, changes: dict[str, Any], change: str,
                      changed_by: str, teams: frozenset[str] | None = None,
                      who: audit.Who | None = None) -> RoutingConfig:
    """Set fields of one rep in the live organisation: an org change like any other
    (validated, versioned, announced). With ``teams``, only a rep of one of them. Raises
    :class:`NotFound`, :class:`NotInTeam` or :class:`ConfigInvalid`."""
    docs = await deps.repo.config_documents(uow.conn, for_update=True)
    org = dict(docs["org"][1])
    reps = [dict(r) for r in org.get("reps", [])]
    match = [r for r in reps if r.get("id") == rep_id]
    if not match:
        raise NotFound(f"no rep '{rep_id}'")
    if teams is not None and match[0].get("team") not in teams:
        raise NotInTeam(f"rep '{rep_id}' is in team '{match[0].get('team')}', not one of "
                        f"{', '.join(sorted(teams)) or 'no team'}")
    match[0].update(changes)
    org["reps"] = reps
    return await change_config(deps, uow, "org", org, change, changed_by or rep_id, who=who)


async def set_availability(deps: RoutingDeps, uow: UnitOfWork, rep_id: str, away: list[dict[str, Any]],
                           changed_by: str = "", teams: frozenset[str] | None = None,
                           who: audit.Who | None = None) -> RoutingConfig:
    """Replace a rep's away periods (an empty list: available); with ``teams``, only a
    rep of one of them."""
    change = f"availability of {rep_id}: " + ("available" if not away else
                                              ", ".join(f"away {a['from']} to {a['to']}" for a in away))
    return await _change_rep(deps, uow, rep_id, {"away": away}, change, changed_by, teams, who)


async def set_capacity(deps: RoutingDeps, uow: UnitOfWork, rep_id: str, capacity: int,
                       changed_by: str = "", teams: frozenset[str] | None = None,
                       who: audit.Who | None = None) -> RoutingConfig:
    """Change how many open leads a rep holds at most (the organisation's rules apply:
    a rule's only team keeps some capacity); with ``teams``, only a rep of one of them."""
    return await _change_rep(deps, uow, rep_id, {"capacity": capacity}, f"capacity of {rep_id}: {capacity}",
                             changed_by, teams, who)


async def seed_from_files(deps: RoutingDeps, units: UnitOfWorkFactory) -> None:
    """At start: seed the organisation and rules from ``deps.org_file`` (and its rules, or
    ``deps.rules_file``) if routing has none yet."""
    org_file = deps.org_file
    assert org_file is not None, "registry() adds this job only with an org file"
    org, rules = read_org_file(org_file)
    if rules is None:
        rules = read_rules_file(deps.rules_file or default_rules_path(org_file))
    elif deps.rules_file is not None:
        rules = read_rules_file(deps.rules_file)
    async with units() as uow:
        seeded = await seed_config(deps, uow, org, rules, str(org_file))
    log.info("routing configuration " + ("seeded" if seeded else "already present"),
             extra={"org_file": str(org_file)})


# --------------------------------------------------------------------------- reads for the HTTP edge


async def live_document(deps: RoutingDeps, uow: UnitOfWork,
                        kind: Literal["org", "rules"]) -> tuple[int, dict[str, Any]]:
    """The live organisation or rules document and its version."""
    docs = await deps.repo.config_documents(uow.conn)
    return docs[kind]


@dataclass(frozen=True)
class RepStatus:
    rep_id: str
    name: str
    team: str
    open: int
    capacity: int
    weight: float
    away: bool
    working: bool


async def rep_statuses(deps: RoutingDeps, uow: UnitOfWork, viewer: Principal | None = None) -> list[RepStatus]:
    """Every rep ``viewer`` may see (a manager: their teams') with team, open leads against
    capacity, and whether away or working now (the router's own rules)."""
    config = (await deps.configs.router(uow.conn)).config
    load = await deps.repo.rep_loads(uow.conn)
    now = deps.clock()
    return [RepStatus(r.id, r.name, r.team, load.get(r.id, 0), r.capacity, r.weight, is_away(r, now),
                      config.calendar_of(r.id, r.team).is_working(now)) for r in config.org.reps
            if viewer is None or viewer.may_see(rep_id=r.id, team=r.team)]


async def rep_open_assignments(deps: RoutingDeps, uow: UnitOfWork, rep_id: str,
                               viewer: Principal | None = None) -> tuple[RoutingConfig, list[Row]]:
    """A rep's worked assignments, most urgent first, with the live configuration (for
    the time left on each clock). Raises :class:`NotYours` if ``viewer`` may not see the
    rep's leads (before :class:`NotFound` for an unknown rep: a rep cannot probe ids)."""
    config = (await deps.configs.router(uow.conn)).config
    known = config.reps.get(rep_id)
    _check_rep(viewer, rep_id, known.team if known else None)
    if known is None:
        raise NotFound(f"no rep '{rep_id}'")
    return config, await deps.repo.rep_assignments(uow.conn, rep_id)


async def assignment(deps: RoutingDeps, uow: UnitOfWork, assignment_id: str,
                     viewer: Principal | None = None) -> Row:
    """One assignment. Raises :class:`NotFound` (for one ``viewer`` may not see too)."""
    row = await deps.repo.assignment(uow.conn, assignment_id)
    if row is None or not _visible(viewer, row):
        raise NotFound(f"no assignment '{assignment_id}'")
    return row


@dataclass(frozen=True)
class LeadRouting:
    owner: Row | None
    assignments: list[Row]
    decisions: list[Row]
    follow_ups: list[Row]


async def lead_routing(deps: RoutingDeps, uow: UnitOfWork, lead_id: str,
                       viewer: Principal | None = None) -> LeadRouting:
    """Every routing decision, assignment and follow-up of a lead, and its current owner.
    Raises :class:`NotFound` if routing never saw the lead, or if ``viewer`` may not see
    it: a lead is visible by its current assignment (or, once closed, its latest one)."""
    conn, repo = uow.conn, deps.repo
    assignments = await repo.lead_assignments(conn, lead_id)
    current = next((a for a in assignments if is_active(a["status"])), None)
    if not assignments or not _visible(viewer, current or assignments[-1]):
        raise NotFound(f"routing has no lead '{lead_id}'")
    return LeadRouting(current, assignments, await repo.lead_decisions(conn, lead_id),
                       await repo.lead_follow_ups(conn, lead_id))


async def queues(deps: RoutingDeps, uow: UnitOfWork, per_team: int,
                 viewer: Principal | None = None) -> tuple[list[str], list[Row]]:
    """Every team's id ``viewer`` may see (a manager: their teams), and the oldest
    ``per_team`` leads queued at each (no rep could take them)."""
    config = (await deps.configs.router(uow.conn)).config
    teams = [t.id for t in config.org.teams if viewer is None or viewer.may_see(rep_id=None, team=t.id)]
    rows = await deps.repo.queued(uow.conn, per_team)
    return teams, [r for r in rows if viewer is None or viewer.may_see(rep_id=None, team=r["team"])]


# --------------------------------------------------------------------------- a team's board


def _team(config: RoutingConfig, team_id: str) -> Team:
    team = config.teams.get(team_id)
    if team is None:
        raise NotFound(f"no team '{team_id}' (teams: {', '.join(config.teams)})", "team")
    return team


async def team_open(deps: RoutingDeps, uow: UnitOfWork, team_id: str,
                    limit: int) -> tuple[RoutingConfig, list[Row]]:
    """A team's open assignments on the clock (its reps' and its queue's), earliest due
    first, with the live configuration (for the time left). Raises :class:`NotFound`."""
    config = (await deps.configs.router(uow.conn)).config
    _team(config, team_id)
    return config, await deps.repo.team_open(uow.conn, team_id, limit)


async def team_compliance(deps: RoutingDeps, uow: UnitOfWork, team_id: str) -> TeamCompliance:
    """A team's SLA compliance today and this week (its own time zone), overall and per
    rep (the rule: :mod:`~services.routing.domain.compliance`). Raises :class:`NotFound`."""
    config = (await deps.configs.router(uow.conn)).config
    team = _team(config, team_id)
    starts = period_starts(deps.clock(), parse_zone(team.timezone))
    rows = await deps.repo.clocks_ended(uow.conn, team_id, min(starts.values()))
    ended = [ClockEnded(r["assignment_id"], r["rep_id"], r["ended_at"], r["on_time"]) for r in rows]
    return compliance_of(ended, starts, [r.id for r in config.team_reps.get(team_id, ())])


async def team_escalations(deps: RoutingDeps, uow: UnitOfWork, team_id: str, since: datetime,
                           limit: int) -> list[Row]:
    """A team's missed follow-ups since ``since``, latest first, each with where the lead
    went and why. Raises :class:`NotFound`."""
    config = (await deps.configs.router(uow.conn)).config
    _team(config, team_id)
    return await deps.repo.escalations(uow.conn, team_id, since, limit)
