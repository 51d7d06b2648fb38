"""What happens to a lead's assignment over time: routed when scored, returned from
nurture when it heats up, taken from a queue or inside sales to a field rep at once when
it turns hot, taken from a queue by hand, escalated when its clock runs out, handed to a
field rep when qualified, sent to nurture when disqualified or when escalations are
exhausted, and closed as converted when the CRM reports its opportunity.

Each function returns a :class:`Plan` (or None for "leave it as it is"); the handler turns a
plan into rows and events. A lead has at most one active assignment: every plan that makes
a new one names the one it replaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.routing.domain.config import QUALIFIED, Rep, RoutingConfig, Rule
from services.routing.domain.followup import WORKED_STATUSES
from services.routing.domain.router import Decision, LeadFacts, Router, RoutingContext
from services.routing.domain.sla import Clock, start_clock
from shared.events import DealOutcomeKind, NurtureReason, is_sales_grade

ESCALATION_EXHAUSTED = "escalations-exhausted"
DISQUALIFIED_RULE = "disqualified-by-rep"
TAKEN_FROM_QUEUE = "taken-from-queue"


@dataclass(frozen=True)
class ActiveAssignment:
    """A lead's assignment (its current owner) as routing stores it: the one definition, which
    the repository writes and maps its rows into. The rules read the owner, rule, attempt,
    chain, clock and status; the rest is the record of how it was made."""

    assignment_id: str
    lead_id: str
    owner_kind: str
    rep_id: str | None
    team: str | None
    rule: str
    attempt: int
    chain: tuple[str, ...] = ()  # reps who held the lead since its last fresh routing
    due_at: datetime | None = None
    status: str = "open"
    reason: str = ""
    trigger: str = ""
    previous_assignment_id: str | None = None
    assigned_at: datetime | None = None
    remind_at: datetime | None = None


@dataclass(frozen=True)
class Plan:
    """A new assignment to make, replacing ``previous`` (if any)."""

    trigger: str
    decision: Decision
    attempt: int
    chain: tuple[str, ...]
    clock: Clock | None
    previous: ActiveAssignment | None = None

    @property
    def reason(self) -> str:
        return self.decision.reason


def clock_for(config: RoutingConfig, decision: Decision, now: datetime) -> Clock | None:
    """The follow-up clock of a decision, in the owner's calendar: the team's policy, or
    the policy of the rule that routed it when that one comes due sooner (a hot-lead SLA:
    a rule's clock only ever shortens the team's)."""
    if decision.owner_kind == "nurture" or decision.team is None:
        return None
    team = config.teams.get(decision.team)
    if team is None:
        return None
    calendar = config.calendar_of(decision.rep_id, decision.team)
    clock = start_clock(team.sla, calendar, now)
    rule = config.rules_by_name.get(decision.rule)
    if rule is not None and rule.sla is not None:
        faster = start_clock(rule.sla, calendar, now)
        if faster.due_at < clock.due_at:
            return faster
    return clock


def _plan(config: RoutingConfig, trigger: str, decision: Decision, now: datetime, attempt: int,
          chain: tuple[str, ...], previous: ActiveAssignment | None) -> Plan:
    if decision.rep_id and decision.rep_id not in chain:
        chain = (*chain, decision.rep_id)
    return Plan(trigger, decision, attempt, chain, clock_for(config, decision, now), previous)


def plan_for_scored(router: Router, lead: LeadFacts, active: ActiveAssignment | None, ctx: RoutingContext,
                    now: datetime) -> Plan | None:
    """A lead was (re-)scored. Route it if nobody owns it; bring it back from nurture when it
    heats up to a grade sales works (``shared.events.SALES_GRADES``) and the rules send it to
    sales; take it at once to the rep the rules name when it turns hot while it waits in a
    queue or sits with a team that qualifies leads (:func:`plan_for_hot`); otherwise leave
    its owner alone (a page view must not take a lead from the rep working it). A converted
    lead is the CRM's: it is never routed again."""
    if active is None:
        return _plan(router.config, "scored", router.route(lead, ctx, now), now, 0, (), None)
    if active.status not in (*WORKED_STATUSES, "nurture"):
        return None
    if active.owner_kind != "nurture":
        return plan_for_hot(router, lead, active, ctx, now)
    if not is_sales_grade(lead.grade):
        return None
    rule = router.match(lead)
    if rule is not None and rule.nurture:
        return None
    decision = router.route(lead, ctx, now)
    return _plan(router.config, "returned_from_nurture", decision, now, 0, (), active)


def plan_for_hot(router: Router, lead: LeadFacts, active: ActiveAssignment, ctx: RoutingContext,
                 now: datetime) -> Plan | None:
    """A hot lead is contacted at once (the brief): when a lead is hot while it waits in a
    queue, or while a rep of a team that qualifies leads (inside sales) holds it, and the
    rules route a hot lead to another owner, it goes there now, on the clock of that rule
    (a short hot-lead SLA), not when its current clock runs out. It moves only to a rep who
    can take it (a full team leaves it where it is, to be tried again on its next scoring),
    and never away from a rep of a team that works leads to the end (field, agency): a page
    view must not take a lead from the rep working it."""
    if not lead.hot or lead.disqualified:
        return None
    config = router.config
    if active.owner_kind == "rep":
        holder = config.teams.get(active.team or "")
        if holder is None or not holder.qualifies:
            return None
    rule = router.match(lead)
    if rule is None or rule.team is None:
        return None
    if active.owner_kind == "rep" and rule.team == active.team:
        return None  # moving it between inside-sales reps gains nothing
    decision = router.route(lead, ctx, now)
    if decision.owner_kind != "rep":
        return None  # a queue or nurture decision took nothing from ctx
    ctx.release(active.rep_id if active.owner_kind == "rep" else None)
    return _plan(config, "hot", decision, now, 0, (), active)


def plan_for_taken(router: Router, lead: LeadFacts, queued: ActiveAssignment, rep: Rep, ctx: RoutingContext,
                   now: datetime, taken_by: str) -> Plan:
    """A rep (or their manager for them) took the next lead from their team's queue by
    hand: it is theirs now, on the clock of the rule that queued it (or the team's),
    started now. Capacity is counted but does not refuse a lead taken by hand."""
    router.hand_to(rep, lead, ctx)
    by = "" if taken_by in ("", rep.id) else f" by {taken_by}"
    decision = Decision(queued.rule or TAKEN_FROM_QUEUE, "rep", rep.team, rep.id,
                        f"taken from the {rep.team} queue{by} for {rep.id}", ())
    return _plan(router.config, "taken", decision, now, queued.attempt, queued.chain, queued)


@dataclass(frozen=True)
class OutcomePlan:
    """What a CRM outcome does to the lead's assignment: ``convert`` closes it as
    converted (its clock stops, its rep's capacity frees); ``deal_status`` is what the
    assignment records for reports (``opportunity``, ``won``, ``lost``)."""

    assignment_id: str
    convert: bool
    deal_status: str


_FINAL_DEAL = ("won", "lost")


def plan_for_outcome(active: ActiveAssignment | None, kind: DealOutcomeKind, recorded_status: str | None,
                     ctx: RoutingContext) -> OutcomePlan | None:
    """The CRM reports an opportunity for a lead (created, stage changed, won or lost: each
    says an opportunity exists). The lead has converted: its current assignment, if it is
    still being worked or nurtured, closes as ``converted``, its clock stops and its rep's
    capacity frees; a converted lead is never routed again. Won and lost are recorded on
    that assignment; a later stage change does not undo them. None: routing never routed
    the lead, so there is nothing to close."""
    if active is None:
        return None
    convert = active.status in (*WORKED_STATUSES, "nurture")
    if convert:
        ctx.release(active.rep_id if active.owner_kind == "rep" and active.status in WORKED_STATUSES else None)
    if kind in (DealOutcomeKind.WON, DealOutcomeKind.LOST):
        status = str(kind)
    elif recorded_status in _FINAL_DEAL:
        status = recorded_status or "opportunity"
    else:
        status = "opportunity"
    return OutcomePlan(active.assignment_id, convert, status)


def _escalation_rule(config: RoutingConfig, active: ActiveAssignment, team: str) -> Rule:
    rule = config.rules_by_name.get(active.rule)
    if rule is not None and rule.team is not None:
        return rule
    return Rule(name=active.rule or "escalation", team=team)


def plan_for_breach(router: Router, lead: LeadFacts, active: ActiveAssignment, ctx: RoutingContext,
                    now: datetime) -> Plan:
    """The follow-up clock ran out: reassign to the next rep of the team, up to the team's
    ``max_escalations``, then hand to nurture. A queued lead escalates the same way."""
    config = router.config
    escalation = active.attempt + 1
    team_id = active.team if active.team in config.teams else config.rules.fallback_team
    team = config.teams[team_id]
    ctx.release(active.rep_id if active.owner_kind == "rep" else None)
    if escalation > team.max_escalations:
        decision = Decision(ESCALATION_EXHAUSTED, "nurture", None, None,
                            f"follow-up missed {escalation} time(s); team '{team_id}' allows "
                            f"{team.max_escalations} escalation(s); handed to nurture",
                            nurture_reason=NurtureReason.MISSED_FOLLOW_UP)
        return _plan(config, "escalation", decision, now, escalation, active.chain, active)
    rule = _escalation_rule(config, active, team_id)
    decision = router.route_in_team(lead, ctx, now, rule, team_id, exclude=active.chain,
                                    reason_prefix=f"escalation {escalation} of {team.max_escalations} "
                                                  f"after missed follow-up")
    return _plan(config, "escalation", decision, now, escalation, active.chain, active)


def plan_for_qualified(router: Router, lead: LeadFacts, active: ActiveAssignment, ctx: RoutingContext,
                       now: datetime) -> Plan:
    """An inside-sales rep qualified the lead: route it with the ``stage: qualified`` rules
    (typically to a field rep, on the field team's clock). A fresh chain starts."""
    ctx.release(active.rep_id if active.owner_kind == "rep" else None)
    decision = router.route(lead, ctx, now, stage=QUALIFIED)
    return _plan(router.config, "qualified", decision, now, 0, (), active)


def plan_for_disqualified(router: Router, active: ActiveAssignment, ctx: RoutingContext, now: datetime,
                          reason: str) -> Plan:
    """A rep disqualified the lead: it goes to marketing's nurture pool, with the reason."""
    ctx.release(active.rep_id if active.owner_kind == "rep" else None)
    decision = Decision(DISQUALIFIED_RULE, "nurture", None, None,
                        f"disqualified by {active.rep_id}: {reason}", nurture_reason=NurtureReason.DISQUALIFIED)
    return _plan(router.config, "disqualified", decision, now, 0, (), active)


def team_manages(config: RoutingConfig, team_id: str | None) -> tuple[str | None, str | None]:
    """The manager (name, email) to tell about an escalation in ``team_id``."""
    team = config.teams.get(team_id or "")
    if team is None or team.manager is None:
        return None, None
    return team.manager.name, team.manager.email or None
