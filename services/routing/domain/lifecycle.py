"""What happens to a lead's assignment over time: routed when scored, returned from
nurture when it heats up, escalated when its clock runs out, handed to a field rep when
qualified, sent to nurture when disqualified or when escalations are exhausted.

Each function returns a :class:`Plan` (or None for "leave it as it is"); the handler turns a
plan into rows and events. A lead has at most one active assignment: every plan that makes
a new one names the one it replaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.routing.domain.config import QUALIFIED, RoutingConfig, Rule
from services.routing.domain.router import Decision, LeadFacts, Router, RoutingContext
from services.routing.domain.sla import Clock, start_clock
from shared.events import NurtureReason, is_sales_grade

ESCALATION_EXHAUSTED = "escalations-exhausted"
DISQUALIFIED_RULE = "disqualified-by-rep"


@dataclass(frozen=True)
class ActiveAssignment:
    """A lead's current owner as routing stored it."""

    assignment_id: str
    lead_id: str
    owner_kind: str
    rep_id: str | None
    team: str | None
    rule: str
    attempt: int
    chain: tuple[str, ...] = ()  # reps who held the lead since its last fresh routing
    due_at: datetime | None = None


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
    """The follow-up clock of a decision: the team's policy in the owner's calendar."""
    if decision.owner_kind == "nurture" or decision.team is None:
        return None
    team = config.teams.get(decision.team)
    if team is None:
        return None
    return start_clock(team.sla, config.calendar_of(decision.rep_id, decision.team), now)


def _plan(config: RoutingConfig, trigger: str, decision: Decision, now: datetime, attempt: int,
          chain: tuple[str, ...], previous: ActiveAssignment | None) -> Plan:
    if decision.rep_id and decision.rep_id not in chain:
        chain = (*chain, decision.rep_id)
    return Plan(trigger, decision, attempt, chain, clock_for(config, decision, now), previous)


def plan_for_scored(router: Router, lead: LeadFacts, active: ActiveAssignment | None, ctx: RoutingContext,
                    now: datetime) -> Plan | None:
    """A lead was (re-)scored. Route it if nobody owns it; bring it back from nurture when it
    heats up to a grade sales works (``shared.events.SALES_GRADES``) and the rules send it to
    sales; otherwise leave its owner alone (a page view must not take a lead from the rep
    working it)."""
    if active is None:
        return _plan(router.config, "scored", router.route(lead, ctx, now), now, 0, (), None)
    if active.owner_kind != "nurture" or not is_sales_grade(lead.grade):
        return None
    rule = router.match(lead)
    if rule is not None and rule.nurture:
        return None
    decision = router.route(lead, ctx, now)
    return _plan(router.config, "returned_from_nurture", decision, now, 0, (), active)


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
