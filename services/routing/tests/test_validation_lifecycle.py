"""Precise configuration errors, and what happens to an assignment over time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.routing.domain.config import ConfigInvalid, compile_config
from services.routing.domain.lifecycle import (
    ESCALATION_EXHAUSTED,
    ActiveAssignment,
    plan_for_breach,
    plan_for_disqualified,
    plan_for_qualified,
    plan_for_scored,
)
from services.routing.domain.router import SKIP_EXCLUDED, Router, RoutingContext
from services.routing.tests.factory import WEDNESDAY, demo_config, demo_docs, lead
from shared.events import NurtureReason


def errors_of(org: dict[str, Any], rules: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigInvalid) as info:
        compile_config(org, rules)
    return {e.field: e.reason for e in info.value.errors}


def rep(org: dict[str, Any], rep_id: str) -> dict[str, Any]:
    return next(r for r in org["reps"] if r["id"] == rep_id)


# ------------------------------------------------------------------ validation


def test_the_demo_organisation_is_valid() -> None:
    config = demo_config()
    teams = {t: len(reps) for t, reps in config.team_reps.items()}
    assert teams == {"field": 7, "inside_sales": 3, "agency": 4}


def test_unknown_team_of_a_rep_and_of_a_rule() -> None:
    org, rules = demo_docs()
    rep(org, "is-2")["team"] = "insde_sales"
    rules["rules"][5]["team"] = "nowhere"
    errs = errors_of(org, rules)
    assert errs["org.reps[12].team"].startswith("unknown team 'insde_sales'")
    assert errs["rules.rules[5].team"] == "unknown team 'nowhere'"


def test_unknown_rep_in_accounts_and_unknown_region() -> None:
    org, rules = demo_docs()
    org["accounts"] = {"Acme": "us-am-9"}
    rep(org, "ag-1")["regions"] = ["latam"]
    errs = errors_of(org, rules)
    assert errs == {"org.accounts.Acme": "unknown rep 'us-am-9'", "org.reps[7].regions": "unknown region 'latam'"}


def test_a_rule_shadowed_by_an_earlier_one_can_never_match() -> None:
    org, rules = demo_docs()
    rules["rules"].insert(0, {"name": "all-a-and-b", "when": {"grades": ["A", "B"]}, "team": "inside_sales"})
    errs = errors_of(org, rules)
    assert "rule 'a-to-field' can never match: every lead it matches is taken first by rule 'all-a-and-b'" \
        in errs["rules.rules[5]"]
    assert "rules.rules[6]" in errs  # b-to-inside-sales too


def test_a_rule_with_an_empty_condition_can_never_match() -> None:
    org, rules = demo_docs()
    rules["rules"][4]["when"]["grades"] = []
    assert errors_of(org, rules) == {
        "rules.rules[4].when.grades": "rule 'a-to-field' can never match: an empty grades list matches no lead"}


def test_a_rule_for_countries_no_rep_covers_can_never_reach_a_rep() -> None:
    org, rules = demo_docs()
    rules["rules"].insert(1, {"name": "germany", "when": {"countries": ["DE"]}, "team": "field",
                              "by_territory": True})
    assert "no rep of team 'field' covers DE" in errors_of(org, rules)["rules.rules[1].when.countries"]


def test_territories_name_assigned_iso_countries_only() -> None:
    org, rules = demo_docs()
    org["regions"]["uk_ireland"] = ["UK", "IE"]  # the United Kingdom's code is GB
    org["reps"][0]["countries"] = ["ZZ"]
    errors = errors_of(org, rules)
    assert "'UK'" in errors["org.regions.uk_ireland"] and "ISO 3166-1" in errors["org.regions.uk_ireland"]
    assert "'ZZ'" in errors["org.reps[0].countries"]


def test_the_only_candidate_with_zero_capacity() -> None:
    org, rules = demo_docs()
    org["teams"].append({"id": "partners", "sla": {"business_days": 1}})
    org["reps"].append({"id": "p-1", "name": "Pat", "team": "partners", "capacity": 0})
    rules["rules"].insert(0, {"name": "referrals", "when": {"sources": ["referral"]}, "team": "partners"})
    assert errors_of(org, rules) == {
        "rules.rules[0].team": "the only candidate of rule 'referrals' (p-1) has zero capacity"}


def test_working_hours_and_time_zones_that_do_not_parse() -> None:
    org, rules = demo_docs()
    rep(org, "us-am-2")["hours"] = "weekdays 9 to 5"
    rep(org, "us-am-3")["timezone"] = "America/Denverr"
    org["teams"][0]["hours"] = "mon-fri 18:00-09:00"
    errs = errors_of(org, rules)
    assert "'weekdays 9 to 5' does not parse" in errs["org.reps[1].hours"]
    assert "'America/Denverr' is not an IANA time zone" in errs["org.reps[2].timezone"]
    assert "ends (09:00) before it starts (18:00)" in errs["org.teams[0].hours"]


def test_structural_errors_name_the_field() -> None:
    org, rules = demo_docs()
    org["teams"][1]["sla"] = {"business_hours": 4, "seconds": 10}
    rep(org, "is-1")["capacity"] = -1
    rules["rules"][0]["when"]["grades"] = ["E"]
    errs = errors_of(org, rules)
    assert "exactly one of business_hours, business_days or seconds" in errs["org.teams[1].sla"]
    assert "greater than or equal to 0" in errs["org.reps[11].capacity"]
    assert "rules.rules[0].when.grades[0]" in errs


def test_a_qualifying_team_needs_a_qualified_rule_and_a_fallback_team_must_exist() -> None:
    org, rules = demo_docs()
    rules["rules"] = [r for r in rules["rules"] if r["name"] != "qualified-to-field"]
    rules["fallback_team"] = "queue-of-nobody"
    errs = errors_of(org, rules)
    assert errs["rules.fallback_team"] == "unknown team 'queue-of-nobody'"
    assert "no rule has when.stage: qualified" in errs["rules.rules"]


# ------------------------------------------------------------------ lifecycle


def active_of(plan: Any, lead_id: str = "L1") -> ActiveAssignment:
    d = plan.decision
    return ActiveAssignment(f"a-{lead_id}-{plan.attempt}", lead_id, d.owner_kind, d.rep_id, d.team, d.rule,
                            plan.attempt, plan.chain, plan.clock.due_at if plan.clock else None)


def test_a_scored_lead_without_owner_is_routed_once_and_an_owned_lead_is_kept() -> None:
    router, ctx = Router(demo_config()), RoutingContext()
    plan = plan_for_scored(router, lead(grade="B"), None, ctx, WEDNESDAY)
    assert plan is not None and plan.decision.team == "inside_sales" and plan.clock is not None
    # A page view later re-scores it as A: the inside-sales rep keeps it.
    assert plan_for_scored(router, lead(grade="A"), active_of(plan), ctx, WEDNESDAY) is None


def test_a_nurtured_lead_that_heats_up_returns_to_sales() -> None:
    router, ctx = Router(demo_config()), RoutingContext()
    nurtured = plan_for_scored(router, lead(grade="C"), None, ctx, WEDNESDAY)
    assert nurtured is not None and nurtured.decision.owner_kind == "nurture" and nurtured.clock is None
    assert plan_for_scored(router, lead(grade="D"), active_of(nurtured), ctx, WEDNESDAY) is None
    back = plan_for_scored(router, lead(grade="B"), active_of(nurtured), ctx, WEDNESDAY)
    assert back is not None and back.trigger == "returned_from_nurture"
    assert back.decision.team == "inside_sales" and back.previous == active_of(nurtured)


def test_only_a_grade_sales_works_takes_a_lead_back_from_nurture() -> None:
    # Even rules that would route a C lead to sales do not pull it out of nurture: sales
    # works A and B (shared.events.SALES_GRADES), below that marketing keeps it.
    org, rules = demo_docs()
    rules["rules"] = [r for r in rules["rules"] if r["name"] != "cd-to-nurture"]
    router, ctx = Router(compile_config(org, rules)), RoutingContext()
    nurtured = plan_for_disqualified(router, active_of(plan_for_scored(router, lead(grade="B"), None, ctx,
                                                                       WEDNESDAY)), ctx, WEDNESDAY, "no budget")
    assert plan_for_scored(router, lead(grade="C"), active_of(nurtured), ctx, WEDNESDAY) is None
    assert plan_for_scored(router, lead(grade="B"), active_of(nurtured), ctx, WEDNESDAY) is not None


def test_missed_follow_ups_escalate_to_the_next_rep_then_nurture() -> None:
    router, ctx = Router(demo_config()), RoutingContext()
    facts = lead(grade="A", hot=True, country="GB", segment="mid-tech-uk")
    plan = plan_for_scored(router, facts, None, ctx, WEDNESDAY)
    assert plan is not None
    holders = [plan.decision.rep_id]
    for escalation in (1, 2):
        plan = plan_for_breach(router, facts, active_of(plan), ctx, WEDNESDAY + timedelta(days=escalation))
        assert (plan.attempt, plan.decision.owner_kind, plan.trigger) == (escalation, "rep", "escalation")
        assert plan.decision.rep_id not in holders
        assert all(c.skipped == SKIP_EXCLUDED for c in plan.decision.candidates if c.rep_id in holders)
        holders.append(plan.decision.rep_id)
    assert set(holders) == {"uk-am-1", "uk-am-2", "uk-am-3"}
    final = plan_for_breach(router, facts, active_of(plan), ctx, WEDNESDAY + timedelta(days=3))
    assert (final.decision.owner_kind, final.decision.rule, final.attempt) == ("nurture", ESCALATION_EXHAUSTED, 3)
    assert final.decision.nurture_reason is NurtureReason.MISSED_FOLLOW_UP
    assert sum(ctx.load.values()) == 0  # every rep who missed it was released


def test_qualified_lead_goes_to_a_field_rep_on_the_two_day_clock() -> None:
    router, ctx = Router(demo_config()), RoutingContext()
    facts = lead(grade="B", country="US", segment="ent-tech-na")
    inside = plan_for_scored(router, facts, None, ctx, WEDNESDAY)
    assert inside is not None and inside.decision.team == "inside_sales"
    field = plan_for_qualified(router, facts, active_of(inside), ctx, WEDNESDAY)
    assert (field.decision.team, field.decision.rule, field.attempt) == ("field", "qualified-to-field", 0)
    assert field.decision.rep_id in {"us-am-1", "us-am-2", "us-am-4"}
    assert field.clock is not None
    # Wednesday 15:00 UTC + 2 business days in the rep's calendar: Friday, same local time.
    assert (field.clock.due_at - WEDNESDAY) == timedelta(days=2)
    assert ctx.load.get(inside.decision.rep_id or "") == 0


def test_disqualified_lead_goes_to_nurture_with_the_reason() -> None:
    router, ctx = Router(demo_config()), RoutingContext()
    inside = plan_for_scored(router, lead(grade="B"), None, ctx, WEDNESDAY)
    assert inside is not None
    out = plan_for_disqualified(router, active_of(inside), ctx, WEDNESDAY, "student project, no budget")
    assert out.decision.owner_kind == "nurture" and "no budget" in out.reason
    assert out.decision.nurture_reason is NurtureReason.DISQUALIFIED
