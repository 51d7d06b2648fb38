"""Deciding who gets a lead: rules in order, account matching, weighted round robin.

The router is pure. What it needs to know about the world (open leads per rep, the
round-robin credits, learned account owners) is a :class:`RoutingContext` that the caller
loads, the router updates, and the caller saves; the same code therefore runs the live
service and the what-if replay.

Round robin is *smooth weighted round robin*: every eligible rep earns its effective weight
in credit, the richest is chosen and pays the total. Over any run the shares converge on
the weights, and a rep is never given a burst of consecutive leads. The effective weight
is ``weight × free share of capacity``, so a nearly full rep receives fewer new leads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.routing.domain.config import NEW, Rep, RoutingConfig, Rule, Stage, company_key
from shared.events import Grade, LeadScored, NurtureReason, OwnerKind, is_sales_grade

FALLBACK_RULE = "(no rule matched)"

# Why a rep was not chosen; stable codes so dashboards and tests can count them.
SKIP_INACTIVE = "inactive"
SKIP_EXCLUDED = "already_had_this_lead"
SKIP_TERRITORY = "outside_territory"
SKIP_SEGMENT = "other_segment"
SKIP_CHANNEL = "other_channel"
SKIP_AWAY = "away"
SKIP_HOURS = "outside_working_hours"
SKIP_FULL = "at_capacity"


@dataclass(frozen=True)
class LeadFacts:
    """What routing knows about a lead, taken from its latest ``LeadScored``."""

    lead_id: str
    grade: Grade
    segment: str
    segment_parts: tuple[str, ...] = ()
    hot: bool = False
    disqualified: bool = False
    country: str = ""
    company: str = ""
    source: str = ""
    campaign: str | None = None
    previous_grade: Grade | None = None

    @classmethod
    def from_scored(cls, event: LeadScored) -> LeadFacts:
        return cls(lead_id=event.lead_id, grade=event.grade, segment=event.segment,
                   segment_parts=event.segment_parts, hot=event.hot,
                   disqualified=event.disqualified, country=event.profile.country.upper(),
                   company=event.profile.company, source=str(event.source), campaign=event.campaign,
                   previous_grade=event.previous_grade)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LeadFacts:
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        fields["segment_parts"] = tuple(fields.get("segment_parts", ()))
        return cls(**fields)

    def in_segment(self, pattern: str) -> bool:
        """A segment pattern names the lead's whole segment (``ent-tech-na``) or one of the
        parts scoring says it is made of (``ent`` matches every enterprise segment)."""
        return pattern == self.segment or pattern in self.segment_parts


@dataclass
class RoutingContext:
    """The mutable state routing decisions read and change."""

    load: dict[str, int] = field(default_factory=dict)  # rep id → open leads
    credits: dict[str, dict[str, float]] = field(default_factory=dict)  # team → rep → round-robin credit
    accounts: dict[str, str] = field(default_factory=dict)  # company key → owning rep (learned)
    changed_teams: set[str] = field(default_factory=set)
    changed_reps: set[str] = field(default_factory=set)
    new_accounts: dict[str, str] = field(default_factory=dict)

    def take(self, rep_id: str) -> None:
        self.load[rep_id] = self.load.get(rep_id, 0) + 1
        self.changed_reps.add(rep_id)

    def release(self, rep_id: str | None) -> None:
        if rep_id is None:
            return
        self.load[rep_id] = max(0, self.load.get(rep_id, 0) - 1)
        self.changed_reps.add(rep_id)


@dataclass(frozen=True)
class Candidate:
    rep_id: str
    skipped: str | None = None  # None = eligible
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rep_id": self.rep_id}
        if self.skipped:
            out["skipped"] = self.skipped
            if self.detail:
                out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class Decision:
    """The outcome of routing one lead, and everything that explains it."""

    rule: str
    owner_kind: OwnerKind
    team: str | None
    rep_id: str | None
    reason: str
    candidates: tuple[Candidate, ...] = ()
    account_owner: str | None = None
    nurture_reason: NurtureReason | None = None  # set exactly when owner_kind is "nurture"

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "owner_kind": self.owner_kind, "team": self.team, "rep_id": self.rep_id,
                "reason": self.reason, "nurture_reason": self.nurture_reason, "account_owner": self.account_owner,
                "candidates": [c.as_dict() for c in self.candidates]}


def nurture_reason_for(lead: LeadFacts) -> NurtureReason:
    """Why a routing rule that nurtures a lead does: scoring disqualified it, it grades
    below what sales works, or the rule keeps a grade sales would work."""
    if lead.disqualified:
        return NurtureReason.DISQUALIFIED
    return NurtureReason.KEPT_BY_RULE if is_sales_grade(lead.grade) else NurtureReason.LOW_GRADE


def _rule_matches(rule: Rule, lead: LeadFacts, stage: Stage) -> bool:
    w = rule.when
    if w.stage != stage:
        return False
    if w.grades is not None and lead.grade not in w.grades:
        return False
    if w.hot is not None and lead.hot != w.hot:
        return False
    if w.disqualified is not None and lead.disqualified != w.disqualified:
        return False
    if w.sources is not None and lead.source not in {str(s) for s in w.sources}:
        return False
    if w.segments is not None and not any(lead.in_segment(s) for s in w.segments):
        return False
    if w.countries is not None and lead.country.upper() not in {c.upper() for c in w.countries}:
        return False
    return not (w.campaigns is not None and (lead.campaign or "") not in w.campaigns)


def away_reason(rep: Rep, now: datetime) -> str | None:
    """Why ``rep`` is away at ``now`` ("until ... (reason)"), or None if they are not."""
    for period in rep.away:
        if period.start <= now < period.end:
            return f"until {period.end.isoformat()}" + (f" ({period.reason})" if period.reason else "")
    return None


def is_away(rep: Rep, now: datetime) -> bool:
    """Whether ``rep`` is inside one of their away periods at ``now`` (the router skips them)."""
    return away_reason(rep, now) is not None


class Router:
    """Routes leads under one :class:`RoutingConfig`."""

    def __init__(self, config: RoutingConfig) -> None:
        self.config = config

    def match(self, lead: LeadFacts, stage: Stage = NEW) -> Rule | None:
        """The first rule that matches, or None (the lead then queues at the fallback team)."""
        return next((r for r in self.config.rules.rules if _rule_matches(r, lead, stage)), None)

    def route(self, lead: LeadFacts, ctx: RoutingContext, now: datetime, *, stage: Stage = NEW,
              exclude: Iterable[str] = ()) -> Decision:
        """Decide the owner of ``lead`` and update ``ctx`` accordingly."""
        rule = self.match(lead, stage)
        if rule is None:
            team = self.config.rules.fallback_team
            return Decision(FALLBACK_RULE, "queue", team, None, f"no rule matched; queued at {team}")
        if rule.nurture:
            return Decision(rule.name, "nurture", None, None, f"rule '{rule.name}': nurture",
                            nurture_reason=nurture_reason_for(lead))
        return self.route_in_team(lead, ctx, now, rule, rule.team or "", exclude=exclude)

    def route_in_team(self, lead: LeadFacts, ctx: RoutingContext, now: datetime, rule: Rule, team: str, *,
                      exclude: Iterable[str] = (), reason_prefix: str = "") -> Decision:
        """Pick a rep of ``team`` under ``rule``'s options (account owner first), else queue."""
        excluded = set(exclude)
        candidates: list[Candidate] = []
        prefix = reason_prefix or f"rule '{rule.name}'"
        owner = None
        if rule.account_match and lead.company:
            key = company_key(lead.company)
            owner = self.config.static_accounts.get(key) or ctx.accounts.get(key)
            owner_rep = self.config.reps.get(owner) if owner else None
            if owner_rep is not None:
                skip = self._skip_reason(owner_rep, lead, rule, ctx, now, excluded, check_fit=False)
                if skip is None:
                    self._assign(owner_rep, ctx, lead)
                    return Decision(rule.name, "rep", owner_rep.team, owner_rep.id,
                                    f"{prefix}: account owner of '{lead.company}'",
                                    (Candidate(owner_rep.id),), account_owner=owner_rep.id)
                candidates.append(Candidate(owner_rep.id, skip[0], "account owner; " + skip[1]))
        eligible: list[Rep] = []
        for rep in self.config.team_reps.get(team, ()):
            if owner is not None and rep.id == owner:
                continue
            skip = self._skip_reason(rep, lead, rule, ctx, now, excluded, check_fit=True)
            candidates.append(Candidate(rep.id, *skip) if skip else Candidate(rep.id))
            if skip is None:
                eligible.append(rep)
        chosen = self._weighted_pick(team, eligible, ctx)
        if chosen is None:
            skipped = sorted({c.skipped for c in candidates if c.skipped})
            why = ("no rep in team" if not candidates else "no rep fits (" + ", ".join(s for s in skipped if s) + ")")
            return Decision(rule.name, "queue", team, None, f"{prefix}: {why}; queued at {team}",
                            tuple(candidates), account_owner=owner)
        self._assign(chosen, ctx, lead)
        return Decision(rule.name, "rep", team, chosen.id,
                        f"{prefix}: weighted round robin among {len(eligible)} of {len(candidates)}",
                        tuple(candidates), account_owner=owner)

    def hand_to(self, rep: Rep, lead: LeadFacts, ctx: RoutingContext) -> None:
        """Give ``lead`` to ``rep`` outside the rules (taken from a queue by hand): their
        load counts it, and they become its account owner as the rules would make them."""
        self._assign(rep, ctx, lead)

    # ------------------------------------------------------------------ internals

    def _skip_reason(self, rep: Rep, lead: LeadFacts, rule: Rule, ctx: RoutingContext, now: datetime,
                     excluded: set[str], *, check_fit: bool) -> tuple[str, str] | None:
        if not rep.active:
            return SKIP_INACTIVE, ""
        if rep.id in excluded:
            return SKIP_EXCLUDED, "escalated away from them before"
        if check_fit:
            if rule.by_territory and lead.country.upper() not in self.config.territory(rep):
                return SKIP_TERRITORY, f"lead country '{lead.country or '?'}'"
            if rule.by_segment and rep.segments and not any(lead.in_segment(s) for s in rep.segments):
                return SKIP_SEGMENT, f"lead segment '{lead.segment}'"
            if rule.by_channel and rep.channels and lead.source not in {str(c) for c in rep.channels}:
                return SKIP_CHANNEL, f"lead source '{lead.source}'"
        away = away_reason(rep, now)
        if away:
            return SKIP_AWAY, away
        if rule.respect_working_hours and not self.config.calendar_of(rep.id, rep.team).is_working(now):
            return SKIP_HOURS, ""
        if ctx.load.get(rep.id, 0) >= rep.capacity:
            return SKIP_FULL, f"{ctx.load.get(rep.id, 0)}/{rep.capacity} open"
        return None

    def _weighted_pick(self, team: str, eligible: list[Rep], ctx: RoutingContext) -> Rep | None:
        if not eligible:
            return None
        credits = ctx.credits.setdefault(team, {})
        total = 0.0
        best: Rep | None = None
        for rep in eligible:
            free = (rep.capacity - ctx.load.get(rep.id, 0)) / rep.capacity
            effective = rep.weight * free
            total += effective
            credits[rep.id] = credits.get(rep.id, 0.0) + effective
            if best is None or credits[rep.id] > credits[best.id]:
                best = rep
        assert best is not None
        credits[best.id] -= total
        ctx.changed_teams.add(team)
        return best

    def _assign(self, rep: Rep, ctx: RoutingContext, lead: LeadFacts) -> None:
        ctx.take(rep.id)
        team = self.config.teams.get(rep.team)
        if team is not None and team.owns_accounts and lead.company:
            key = company_key(lead.company)
            if key not in ctx.accounts and key not in self.config.static_accounts:
                ctx.accounts[key] = rep.id
                ctx.new_accounts[key] = rep.id
