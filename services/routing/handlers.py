"""Routing's handlers: a scored lead, the SLA clock, follow-ups and configuration changes.

Each takes a :class:`~shared.handling.UnitOfWork`, loads what it needs through the
repository, lets the domain decide, saves and emits. Ids of everything made in response to
an event are derived from that event's id, so a re-run makes the same rows and events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import asyncpg

from services.routing import metrics
from services.routing.domain.config import ConfigInvalid, RoutingConfig, company_key, compile_config
from services.routing.domain.lifecycle import (
    Plan,
    plan_for_breach,
    plan_for_disqualified,
    plan_for_qualified,
    plan_for_scored,
    team_manages,
)
from services.routing.domain.router import LeadFacts, Router
from services.routing.repository import AssignmentRow, PendingWrites, RoutingRepository, active_from_row
from shared import metrics as shared_metrics
from shared.events import (
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
from shared.handling import UnitOfWork

log = logging.getLogger(__name__)

# How the assignment a plan replaces is closed, by what replaced it.
_CLOSED_AS = {"returned_from_nurture": "returned", "escalation": "missed", "qualified": "qualified",
              "disqualified": "disqualified"}


class NotFound(LookupError):
    pass


class Forbidden(PermissionError):
    pass


class Conflict(RuntimeError):
    pass


class Invalid(ValueError):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


class ConfigCache:
    """The live configuration, compiled once per version. Every unit of work asks for it
    with one cheap version query, so a change made through any replica takes effect on
    the next event everywhere, without a restart."""

    def __init__(self, repo: RoutingRepository) -> None:
        self._repo = repo
        self._router: Router | None = None

    async def router(self, conn: asyncpg.Connection, *, lock: bool = False) -> Router:
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
class Routing:
    """What routing's handlers share: the repository, the live configuration and a clock
    (replaceable so tests can move time)."""

    repo: RoutingRepository
    configs: ConfigCache
    clock: Callable[[], datetime] = utcnow
    timer_batch: int = 200
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_schema(cls, schema: str, timer_batch: int = 200) -> Routing:
        repo = RoutingRepository(schema)
        return cls(repo, ConfigCache(repo), timer_batch=timer_batch)


# --------------------------------------------------------------------------- making assignments


def _record(uow: UnitOfWork, writes: PendingWrites, plan: Plan, lead: LeadFacts, cause_id: str,
            now: datetime) -> AssignmentRow:
    """Turn a plan into an assignment row, a decision record and a ``LeadAssigned``."""
    d = plan.decision
    assignment_id = derive_event_id(cause_id, "assignment")
    previous = plan.previous.assignment_id if plan.previous else None
    if previous is not None:
        writes.close(previous, _CLOSED_AS.get(plan.trigger, "replaced"), plan.reason, now)
    row = AssignmentRow(
        assignment_id=assignment_id, lead_id=lead.lead_id, owner_kind=d.owner_kind, rep_id=d.rep_id, team=d.team,
        rule=d.rule, reason=d.reason, trigger=plan.trigger, attempt=plan.attempt, chain=list(plan.chain),
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


async def on_lead_scored(events: Sequence[LeadScored], uow: UnitOfWork, routing: Routing) -> None:
    """Route each scored lead that has no active owner, or that heated up in nurture.

    A batch is decided in order, in memory, and saved in a few statements: the same lead
    scored twice in one batch sees its first assignment and is not assigned again."""
    conn, repo = uow.conn, routing.repo
    router = await routing.configs.router(conn, lock=True)
    now = routing.clock()
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
        active[lead.lead_id] = row.as_active()
    await repo.flush(conn, writes)
    await repo.save_context(conn, ctx)


# --------------------------------------------------------------------------- the SLA clock


async def fire_due(uow: UnitOfWork, routing: Routing) -> int:
    """Handle open assignments whose clock ran out: mark missed, emit ``FollowUpMissed``,
    escalate. Rows are locked with SKIP LOCKED and changed in the caller's transaction
    with the emitted events, so each breach is handled exactly once, whoever runs the
    timer and whenever (timers that came due while routing was down fire on start)."""
    conn, repo = uow.conn, routing.repo
    now = routing.clock()
    rows = await repo.due(conn, now, routing.timer_batch)
    if not rows:
        return 0
    router = await routing.configs.router(conn)
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


async def fire_reminders(uow: UnitOfWork, routing: Routing) -> int:
    """Remind owners whose clock is nearly out (once each, same guarantees as breaches)."""
    conn, repo = uow.conn, routing.repo
    now = routing.clock()
    rows = await repo.reminders_due(conn, now, routing.timer_batch)
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


async def report_timer_backlog(uow: UnitOfWork, routing: Routing) -> None:
    """What the SLA clock left due (after a run, normally nothing): ``leadbridge_timers_due``
    and ``leadbridge_timers_oldest_overdue_seconds`` for breaches and reminders."""
    now = routing.clock()
    backlog = await routing.repo.timer_backlog(uow.conn, now)
    for timer, (due, oldest) in ((metrics.TIMER_DUE, backlog["due"]), (metrics.TIMER_REMINDER, backlog["reminder"])):
        shared_metrics.report_timer_backlog(metrics.SERVICE, timer, due, oldest, now)


# --------------------------------------------------------------------------- follow-ups


@dataclass(frozen=True)
class FollowUpResult:
    follow_up_id: str
    on_time: bool
    status: str
    next_assignment: AssignmentRow | None


async def record_follow_up(uow: UnitOfWork, routing: Routing, assignment_id: str, rep_id: str,
                           outcome: FollowUpOutcome, note: str) -> FollowUpResult:
    """A rep followed up. ``qualified`` from a qualifying team hands the lead to the
    ``stage: qualified`` rules (a field rep, on the field clock); ``disqualified`` (with a
    reason) sends it to nurture; any other outcome stops the clock and the rep keeps it."""
    conn, repo = uow.conn, routing.repo
    row = await repo.assignment(conn, assignment_id, for_update=True)
    if row is None:
        raise NotFound(f"no assignment '{assignment_id}'")
    if row["owner_kind"] != "rep" or row["rep_id"] != rep_id:
        raise Forbidden(f"assignment '{assignment_id}' belongs to "
                        f"{row['rep_id'] or 'the ' + str(row['team']) + ' queue'}, not to '{rep_id}'")
    if row["status"] not in ("open", "followed_up"):
        raise Conflict(f"assignment '{assignment_id}' is closed ({row['status']})")
    if outcome == FollowUpOutcome.DISQUALIFIED and not note.strip():
        raise Invalid("note", "say why the lead is disqualified")
    now = routing.clock()
    on_time = row["due_at"] is None or now <= row["due_at"] or row["status"] == "followed_up"
    follow_up_id = new_event_id()
    await repo.add_follow_up(conn, follow_up_id, assignment_id, row["lead_id"], rep_id, str(outcome), note,
                             on_time, now)
    uow.emit(FollowUpRecorded(event_id=follow_up_id, occurred_at=now, lead_id=row["lead_id"],
                              assignment_id=assignment_id, rep_id=rep_id, outcome=outcome, note=note,
                              on_time=on_time))
    metrics.FOLLOW_UPS.labels(row["team"] or "", str(outcome), str(on_time).lower()).inc()
    router = await routing.configs.router(conn)
    team = router.config.teams.get(row["team"] or "")
    hands_off = outcome == FollowUpOutcome.DISQUALIFIED or (
        outcome == FollowUpOutcome.QUALIFIED and team is not None and team.qualifies)
    if not hands_off:
        if row["status"] == "open":
            await repo.mark_followed_up(conn, assignment_id, now)
        return FollowUpResult(follow_up_id, on_time, "followed_up", None)
    lead_row = await repo.lead(conn, row["lead_id"])
    assert lead_row is not None, "an assignment always has its lead"
    lead = LeadFacts.from_dict(lead_row["facts"])
    await repo.lock_routing_state(conn)
    ctx = await repo.load_context(conn, [company_key(lead.company)])
    if outcome == FollowUpOutcome.QUALIFIED:
        plan = plan_for_qualified(router, lead, active_from_row(row), ctx, now)
    else:
        plan = plan_for_disqualified(router, active_from_row(row), ctx, now, note.strip())
    writes = PendingWrites()
    new = _record(uow, writes, plan, lead, follow_up_id, now)
    await repo.flush(conn, writes)
    await repo.save_context(conn, ctx)
    return FollowUpResult(follow_up_id, on_time, _CLOSED_AS[plan.trigger], new)


# --------------------------------------------------------------------------- configuration


async def change_config(uow: UnitOfWork, routing: Routing, kind: Literal["org", "rules"],
                        document: dict[str, Any], change: str, changed_by: str = "",
                        expected_version: int | None = None) -> RoutingConfig:
    """Replace the organisation or the rules, only if the result validates together with
    the other document. Emits ``RoutingConfigChanged``; every replica picks it up on its
    next unit of work. Raises :class:`ConfigInvalid` or :class:`Conflict`."""
    conn, repo = uow.conn, routing.repo
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
    metrics.CONFIG_CHANGES.labels(kind).inc()
    return config


async def seed_config(uow: UnitOfWork, routing: Routing, org_doc: dict[str, Any], rules_doc: dict[str, Any],
                      source: str) -> bool:
    """Store the seed organisation and rules if routing has none yet (True if it did)."""
    conn, repo = uow.conn, routing.repo
    await repo.lock_routing_state(conn)  # two replicas starting together seed once
    if await repo.config_versions(conn):
        return False
    compile_config(org_doc, rules_doc)  # an invalid seed stops the service with the reasons
    for kind, doc in (("org", org_doc), ("rules", rules_doc)):
        await repo.save_config(conn, kind, 1, doc, f"seeded from {source}", "seed")
        uow.emit(RoutingConfigChanged(kind=kind, version=1,  # type: ignore[arg-type]
                                      change=f"seeded from {source}", changed_by="seed", document=doc))
    return True


async def set_availability(uow: UnitOfWork, routing: Routing, rep_id: str, away: list[dict[str, Any]],
                           changed_by: str = "") -> RoutingConfig:
    """Replace a rep's away periods (an empty list: available). An org change like any
    other: validated, versioned, announced."""
    docs = await routing.repo.config_documents(uow.conn, for_update=True)
    org = dict(docs["org"][1])
    reps = [dict(r) for r in org.get("reps", [])]
    match = [r for r in reps if r.get("id") == rep_id]
    if not match:
        raise NotFound(f"no rep '{rep_id}'")
    match[0]["away"] = away
    org["reps"] = reps
    change = f"availability of {rep_id}: " + ("available" if not away else
                                              ", ".join(f"away {a['from']} to {a['to']}" for a in away))
    return await change_config(uow, routing, "org", org, change, changed_by or rep_id)
