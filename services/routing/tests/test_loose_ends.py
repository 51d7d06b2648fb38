"""The routing rules the funnel depends on (issue 10): a lead that turns hot in a queue
or at inside sales goes to a field rep at once on the hot-lead clock, a lead taken from a
queue by hand, and an opportunity from the CRM that converts the lead and frees its rep."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from services.routing.domain.config import ConfigInvalid, compile_config
from services.routing.domain.lifecycle import (
    ActiveAssignment,
    Plan,
    plan_for_outcome,
    plan_for_scored,
    plan_for_taken,
)
from services.routing.domain.router import Router, RoutingContext
from services.routing.tests.factory import WEDNESDAY, demo_config, demo_docs, lead
from shared.events import DealOutcomeKind

US_FIELD = {"us-am-1", "us-am-2", "us-am-3", "us-am-4"}
# CEO of a 5,000-person US software company: B on fit, routed to inside sales.
CEO = dict(grade="B", country="US", segment="ent-tech-na", company="Bigsoft")


def active_of(plan: Plan | None, lead_id: str = "L1", status: str = "open") -> ActiveAssignment:
    assert plan is not None
    d = plan.decision
    return ActiveAssignment(f"a-{lead_id}-{plan.trigger}", lead_id, d.owner_kind, d.rep_id, d.team, d.rule,
                            plan.attempt, plan.chain, plan.clock.due_at if plan.clock else None, status)


# ------------------------------------------------------------------ turning hot


def test_a_lead_that_turns_hot_at_inside_sales_goes_to_a_field_rep_at_once_on_the_hot_clock() -> None:
    router, ctx = Router(demo_config()), RoutingContext()
    inside = plan_for_scored(router, lead(**CEO), None, ctx, WEDNESDAY)  # type: ignore[arg-type]
    assert inside is not None and inside.decision.team == "inside_sales"
    later = WEDNESDAY + timedelta(minutes=5)
    hot = plan_for_scored(router, lead(**{**CEO, "grade": "A"}, hot=True), active_of(inside), ctx,  # type: ignore[arg-type]
                          later)
    assert hot is not None and hot.trigger == "hot" and hot.previous == active_of(inside)
    assert (hot.decision.team, hot.decision.rule) == ("field", "hot-intent-to-field")
    assert hot.decision.rep_id in US_FIELD
    # The hot-lead SLA (1 business hour), not the field team's two days.
    assert hot.clock is not None and hot.clock.due_at - later == timedelta(hours=1)
    assert ctx.load.get(inside.decision.rep_id or "") == 0 and ctx.load[hot.decision.rep_id or ""] == 1


def test_a_hot_lead_waiting_in_a_queue_goes_to_a_rep_once_one_can_take_it() -> None:
    router = Router(demo_config())
    full = RoutingContext(load={r: 25 for r in US_FIELD})
    queued = plan_for_scored(router, lead(grade="A", hot=True), None, full, WEDNESDAY)
    assert queued is not None and (queued.decision.owner_kind, queued.decision.team) == ("queue", "field")
    # Still full: it stays queued (and nothing was taken from the context).
    assert plan_for_scored(router, lead(grade="A", hot=True), active_of(queued), full, WEDNESDAY) is None
    assert all(full.load[r] == 25 for r in US_FIELD)
    full.release("us-am-2")
    taken = plan_for_scored(router, lead(grade="A", hot=True), active_of(queued), full, WEDNESDAY)
    assert taken is not None and (taken.trigger, taken.decision.rep_id) == ("hot", "us-am-2")


def test_a_lead_in_the_inside_sales_queue_that_turns_hot_goes_to_a_field_rep() -> None:
    router = Router(demo_config())
    ctx = RoutingContext(load={"is-1": 60, "is-2": 60, "is-3": 60})
    queued = plan_for_scored(router, lead(grade="B"), None, ctx, WEDNESDAY)
    assert queued is not None and (queued.decision.owner_kind, queued.decision.team) == ("queue", "inside_sales")
    hot = plan_for_scored(router, lead(grade="A", hot=True), active_of(queued), ctx, WEDNESDAY)
    assert hot is not None and hot.decision.team == "field" and hot.decision.rep_id in US_FIELD


def test_a_page_view_never_takes_a_lead_from_the_field_rep_working_it() -> None:
    router, ctx = Router(demo_config()), RoutingContext()
    field = plan_for_scored(router, lead(grade="A"), None, ctx, WEDNESDAY)
    assert field is not None and field.decision.team == "field"
    assert plan_for_scored(router, lead(grade="A", hot=True), active_of(field), ctx, WEDNESDAY) is None
    assert plan_for_scored(router, lead(grade="A", hot=True), active_of(field, status="followed_up"), ctx,
                           WEDNESDAY) is None
    # Not hot, at inside sales: the inside-sales rep keeps it.
    inside = plan_for_scored(router, lead("L2", grade="B"), None, ctx, WEDNESDAY)
    assert plan_for_scored(router, lead("L2", grade="A"), active_of(inside, "L2"), ctx, WEDNESDAY) is None


def test_a_hot_lead_stays_at_inside_sales_when_the_hot_rule_sends_it_there() -> None:
    org, rules = demo_docs()
    for rule in rules["rules"]:
        if rule["name"] == "hot-intent-to-field":
            rule["team"] = "inside_sales"
    router, ctx = Router(compile_config(org, rules)), RoutingContext()
    inside = plan_for_scored(router, lead(grade="B"), None, ctx, WEDNESDAY)
    before = dict(ctx.load)
    assert plan_for_scored(router, lead(grade="A", hot=True), active_of(inside), ctx, WEDNESDAY) is None
    assert ctx.load == before


def test_a_nurture_rule_cannot_have_a_follow_up_clock() -> None:
    org, rules = demo_docs()
    rules["rules"][0]["sla"] = {"business_hours": 1}
    with pytest.raises(ConfigInvalid) as info:
        compile_config(org, rules)
    assert {e.field for e in info.value.errors} == {"rules.rules[0].sla"}


# ------------------------------------------------------------------ taking from a queue


def test_a_lead_taken_from_a_queue_is_the_reps_on_a_fresh_clock_and_counts_on_their_load() -> None:
    router = Router(demo_config())
    config = router.config
    ctx = RoutingContext(load={"is-1": 60, "is-2": 60, "is-3": 60})
    queued = plan_for_scored(router, lead(grade="B"), None, ctx, WEDNESDAY)
    later = WEDNESDAY + timedelta(hours=1)
    taken = plan_for_taken(router, lead(grade="B"), active_of(queued), config.reps["is-2"], ctx, later,
                           "Priya Shah")
    assert (taken.trigger, taken.decision.owner_kind, taken.decision.rep_id, taken.decision.team) == (
        "taken", "rep", "is-2", "inside_sales")
    assert taken.reason == "taken from the inside_sales queue by Priya Shah for is-2"
    assert taken.clock is not None and taken.clock.due_at - later == timedelta(hours=4)
    assert ctx.load["is-2"] == 61 and taken.chain == ("is-2",)


# ------------------------------------------------------------------ outcomes from the CRM


def test_an_opportunity_converts_the_lead_and_frees_its_rep() -> None:
    router, ctx = Router(demo_config()), RoutingContext()
    field = plan_for_scored(router, lead(grade="A"), None, ctx, WEDNESDAY)
    assert field is not None and field.decision.rep_id is not None
    rep = field.decision.rep_id
    assert ctx.load[rep] == 1
    for status in ("open", "followed_up"):
        ctx.load[rep] = 1
        plan = plan_for_outcome(active_of(field, status=status), DealOutcomeKind.OPPORTUNITY_CREATED, None, ctx)
        assert plan is not None and (plan.convert, plan.deal_status) == (True, "opportunity")
        assert ctx.load[rep] == 0


def test_won_and_lost_are_recorded_and_a_converted_lead_is_not_converted_twice() -> None:
    router, ctx = Router(demo_config()), RoutingContext()
    field = plan_for_scored(router, lead(grade="A"), None, ctx, WEDNESDAY)
    converted = active_of(field, status="converted")
    rep = field.decision.rep_id if field else None
    ctx.load[rep or ""] = 0
    won = plan_for_outcome(converted, DealOutcomeKind.WON, "opportunity", ctx)
    assert won is not None and (won.convert, won.deal_status) == (False, "won")
    assert ctx.load[rep or ""] == 0  # released once, at conversion
    late = plan_for_outcome(converted, DealOutcomeKind.STAGE_CHANGED, "won", ctx)
    assert late is not None and late.deal_status == "won"  # a late stage change does not undo a close
    assert plan_for_outcome(converted, DealOutcomeKind.LOST, "opportunity", ctx).deal_status == "lost"  # type: ignore[union-attr]


def test_a_won_deal_for_a_lead_still_with_its_rep_converts_it_too_and_unknown_leads_change_nothing() -> None:
    router, ctx = Router(demo_config()), RoutingContext()
    field = plan_for_scored(router, lead(grade="A"), None, ctx, WEDNESDAY)
    plan = plan_for_outcome(active_of(field), DealOutcomeKind.WON, None, ctx)
    assert plan is not None and (plan.convert, plan.deal_status) == (True, "won")
    assert plan_for_outcome(None, DealOutcomeKind.OPPORTUNITY_CREATED, None, ctx) is None


def test_a_converted_lead_is_never_routed_again() -> None:
    router, ctx = Router(demo_config()), RoutingContext()
    field = plan_for_scored(router, lead(grade="B"), None, ctx, WEDNESDAY)
    converted = active_of(field, status="converted")
    assert plan_for_scored(router, lead(grade="A", hot=True), converted, ctx, WEDNESDAY) is None
    nurtured = dataclasses.replace(converted, owner_kind="nurture", rep_id=None, team=None)
    assert plan_for_scored(router, lead(grade="A"), nurtured, ctx, WEDNESDAY) is None


def test_a_rules_clock_only_ever_shortens_the_teams() -> None:
    org, rules = demo_docs()
    org["teams"][0]["sla"] = {"seconds": 3}  # the field team's own clock is already shorter
    router, ctx = Router(compile_config(org, rules)), RoutingContext()
    plan = plan_for_scored(router, lead(grade="A", hot=True), None, ctx, WEDNESDAY)
    assert plan is not None and plan.decision.rule == "hot-intent-to-field"
    assert plan.clock is not None and plan.clock.due_at - WEDNESDAY == timedelta(seconds=3)
