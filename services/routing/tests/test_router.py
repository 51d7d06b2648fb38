"""Rules in order, account matching, weighted round robin, capacity and skips."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta

from services.routing.domain.config import compile_config
from services.routing.domain.router import (
    FALLBACK_RULE,
    SKIP_AWAY,
    SKIP_FULL,
    SKIP_HOURS,
    SKIP_SEGMENT,
    SKIP_TERRITORY,
    Router,
    RoutingContext,
)
from services.routing.tests.factory import WEDNESDAY, demo_config, demo_docs, lead, small_docs
from shared.events import NurtureReason

US_FIELD = {"us-am-1", "us-am-2", "us-am-3", "us-am-4"}
UK_FIELD = {"uk-am-1", "uk-am-2", "uk-am-3"}


def route(router: Router, facts, ctx: RoutingContext | None = None, **kw):  # type: ignore[no-untyped-def]
    return router.route(facts, ctx or RoutingContext(), WEDNESDAY, **kw)


# ------------------------------------------------------------------ each rule kind


def test_hot_intent_goes_to_a_field_rep_of_the_leads_territory() -> None:
    router = Router(demo_config())
    d = route(router, lead(grade="C", hot=True, country="GB", segment="smb-tech-uk"))
    assert (d.rule, d.owner_kind, d.team) == ("hot-intent-to-field", "rep", "field")
    assert d.rep_id in UK_FIELD
    skipped = {c.rep_id: c.skipped for c in d.candidates}
    assert all(skipped[r] == SKIP_TERRITORY for r in US_FIELD)


def test_grade_a_goes_to_field_by_territory_and_segment() -> None:
    router, ctx = Router(demo_config()), RoutingContext()
    chosen: Counter[str | None] = Counter()
    for i in range(20):
        d = route(router, lead(f"L{i}", grade="A", country="US", segment="smb-tech-na", company=f"C{i}"), ctx)
        assert d.rule == "a-to-field"
        chosen[d.rep_id] += 1
    # us-am-1 sells only to enterprise, us-am-2 to ent and mid: neither gets an smb lead.
    assert set(chosen) == {"us-am-3", "us-am-4"}
    d = route(router, lead("x", grade="A", country="US", segment="smb-tech-na", company="Other"))
    assert {c.rep_id: c.skipped for c in d.candidates}["us-am-1"] == SKIP_SEGMENT


def test_grade_b_goes_to_inside_sales() -> None:
    d = route(Router(demo_config()), lead(grade="B"))
    assert (d.rule, d.team) == ("b-to-inside-sales", "inside_sales")
    assert d.rep_id in {"is-1", "is-2", "is-3"}


def test_agency_source_and_agency_segment_go_to_the_agency_team() -> None:
    router = Router(demo_config())
    by_source = route(router, lead(grade="A", source="agency", country="US"))
    assert (by_source.rule, by_source.team) == ("agency-source-to-agency", "agency")
    by_segment = route(router, lead("L2", grade="B", segment="agencies", country="GB", company="Ad Co"))
    assert (by_segment.rule, by_segment.team) == ("agency-segment-to-agency", "agency")
    assert by_segment.rep_id in {"ag-3", "ag-4"}  # the agency reps who cover the UK


def test_c_and_d_go_to_nurture_and_disqualified_leads_too() -> None:
    router = Router(demo_config())
    for grade in ("C", "D"):
        d = route(router, lead(grade=grade))
        assert (d.rule, d.owner_kind, d.rep_id) == ("cd-to-nurture", "nurture", None)
    d = route(router, lead(grade="A", disqualified=True))
    assert (d.rule, d.owner_kind) == ("disqualified-to-nurture", "nurture")


def test_a_nurture_decision_says_why_as_a_field() -> None:
    router = Router(demo_config())
    assert route(router, lead(grade="C")).nurture_reason is NurtureReason.LOW_GRADE
    assert route(router, lead(grade="A", disqualified=True)).nurture_reason is NurtureReason.DISQUALIFIED
    assert route(router, lead(grade="B")).nurture_reason is None
    docs = demo_docs()
    docs[1]["rules"].insert(0, {"name": "campaign-kept", "when": {"campaigns": ["long-game"]}, "nurture": True})
    kept = route(Router(compile_config(*docs)), lead(grade="A", campaign="long-game"))
    assert (kept.owner_kind, kept.nurture_reason) == ("nurture", NurtureReason.KEPT_BY_RULE)


def test_segments_match_on_the_parts_scoring_sent_never_on_the_name_taken_apart() -> None:
    router = Router(demo_config())
    # A segment format that is not hyphen-joined: "smb" is still a part of this lead's segment.
    ctx, chosen = RoutingContext(), set()
    for i in range(6):
        d = route(router, lead(f"L{i}", grade="A", country="US", segment="na/tech/smb",
                               segment_parts=("na", "tech", "smb"), company=f"C{i}"), ctx)
        chosen.add(d.rep_id)
        assert {c.rep_id: c.skipped for c in d.candidates}["us-am-1"] == SKIP_SEGMENT
    assert chosen == {"us-am-3", "us-am-4"}  # us-am-3 sells to smb
    # A name that merely contains a part, without scoring saying so, is no match.
    named = lead("L2", grade="A", country="US", segment="ent-tech-na", segment_parts=("ent-tech-na",),
                 company="Other")
    assert {c.rep_id: c.skipped for c in route(router, named).candidates}["us-am-1"] == SKIP_SEGMENT


def test_first_matching_rule_wins() -> None:
    # A hot B lead matches both the hot rule and the B rule; the hot rule comes first.
    d = route(Router(demo_config()), lead(grade="B", hot=True, country="US"))
    assert d.rule == "hot-intent-to-field"


def test_country_and_campaign_conditions() -> None:
    org, rules = small_docs()
    org["teams"].append({"id": "webinar", "sla": {"business_hours": 1}, "hours": "mon-sun 00:00-24:00"})
    org["reps"].append({"id": "w1", "name": "W", "team": "webinar"})
    rules["rules"].insert(0, {"name": "webinar-uk", "when": {"campaigns": ["webinar-q3"], "countries": ["GB"]},
                              "team": "webinar"})
    router = Router(compile_config(org, rules))
    assert route(router, lead(campaign="webinar-q3", country="GB")).rep_id == "w1"
    assert route(router, lead(campaign="webinar-q3", country="US")).rule == "all"
    assert route(router, lead(campaign=None, country="GB")).rule == "all"


def test_no_rule_matches_queues_at_the_fallback_team() -> None:
    org, rules = demo_docs()
    rules["rules"] = [r for r in rules["rules"] if r["name"] != "cd-to-nurture"]
    d = route(Router(compile_config(org, rules)), lead(grade="D"))
    assert (d.rule, d.owner_kind, d.team, d.rep_id) == (FALLBACK_RULE, "queue", "inside_sales", None)


def test_qualified_stage_uses_its_own_rules() -> None:
    d = route(Router(demo_config()), lead(grade="B", country="GB", segment="ent-tech-uk"), stage="qualified")
    assert (d.rule, d.team) == ("qualified-to-field", "field")
    assert d.rep_id in {"uk-am-1", "uk-am-2", "uk-am-3"}


# ------------------------------------------------------------------ account matching


def test_a_company_owned_by_a_rep_goes_to_that_rep() -> None:
    router = Router(demo_config(accounts={"Globex Corporation": "uk-am-3"}))
    # Even a B lead (inside sales by rule) goes to the owner; company names are normalised.
    d = route(router, lead(grade="B", company="GLOBEX corp.", country="GB"))
    assert (d.rep_id, d.account_owner, d.team) == ("uk-am-3", "uk-am-3", "field")
    assert "account owner" in d.reason


def test_ownership_is_learned_from_field_assignments() -> None:
    router, ctx = Router(demo_config()), RoutingContext()
    first = route(router, lead("L1", grade="A", company="Initech", country="US", segment="mid-tech-na"), ctx)
    assert ctx.new_accounts == {"initech": first.rep_id}
    for i in range(5):
        again = route(router, lead(f"L{i + 2}", grade="A", company="Initech Inc", country="US",
                                   segment="mid-tech-na"), ctx)
        assert again.rep_id == first.rep_id


def test_an_away_account_owner_is_skipped_and_recorded() -> None:
    away = {"from": (WEDNESDAY - timedelta(days=1)).isoformat(), "to": (WEDNESDAY + timedelta(days=3)).isoformat(),
            "reason": "holiday"}
    org, rules = demo_docs()
    org["accounts"] = {"Globex": "uk-am-3"}
    next(r for r in org["reps"] if r["id"] == "uk-am-3")["away"] = [away]
    d = route(Router(compile_config(org, rules)), lead(grade="A", company="Globex", country="GB",
                                                      segment="mid-tech-uk"))
    assert d.rep_id in {"uk-am-2"}  # uk-am-1 sells enterprise only
    owner = d.candidates[0]
    assert (owner.rep_id, owner.skipped) == ("uk-am-3", SKIP_AWAY)
    assert "account owner" in owner.detail and "holiday" in owner.detail


# ------------------------------------------------------------------ weighted round robin, capacity, skips


def test_weighted_round_robin_shares_within_two_percent_over_10000_leads() -> None:
    router, ctx = Router(compile_config(*small_docs())), RoutingContext()
    counts: Counter[str] = Counter()
    for i in range(10_000):
        d = route(router, lead(f"L{i}", company=""), ctx)
        counts[d.rep_id] += 1
        ctx.release(d.rep_id)  # the rep works it off: capacity stays free, only weights matter
    for rep, weight in (("r1", 1), ("r2", 2), ("r3", 3)):
        assert abs(counts[rep] / 10_000 - weight / 6) < 0.02, counts


def test_weighted_round_robin_does_not_burst() -> None:
    router, ctx = Router(compile_config(*small_docs())), RoutingContext()
    picks = [route(router, lead(f"L{i}", company=""), ctx).rep_id for i in range(6)]
    assert Counter(picks) == {"r1": 1, "r2": 2, "r3": 3}
    assert all(a != b or a == "r3" for a, b in itertools.pairwise(picks))


def test_remaining_capacity_weighs_the_rotation_and_full_reps_are_skipped() -> None:
    org, rules = small_docs()
    for rep in org["reps"]:
        rep.update(capacity=10, weight=1)
    router = Router(compile_config(org, rules))
    ctx = RoutingContext(load={"r1": 9, "r2": 0, "r3": 10})
    counts: Counter[str] = Counter()
    for i in range(10):
        d = route(router, lead(f"L{i}", company=""), ctx)
        counts[d.rep_id or "queue"] += 1
        assert {c.rep_id: c.skipped for c in d.candidates}["r3"] == SKIP_FULL
    # r1 has 1 free place of 10, r2 has 10: r1 gets at most its one place.
    assert counts["r1"] <= 1 and counts["r2"] >= 9
    assert (ctx.load["r1"], ctx.load["r2"]) == (9 + counts["r1"], counts["r2"])  # load moved with each pick


def test_no_rep_fits_queues_with_every_skip_reason() -> None:
    org, rules = small_docs()
    for rep in org["reps"]:
        rep["capacity"] = 1
    router = Router(compile_config(org, rules))
    ctx = RoutingContext(load={"r1": 1, "r2": 1, "r3": 1})
    d = route(router, lead(company=""), ctx)
    assert (d.owner_kind, d.team, d.rep_id) == ("queue", "t", None)
    assert [c.skipped for c in d.candidates] == [SKIP_FULL] * 3
    assert "at_capacity" in d.reason


def test_away_reps_are_skipped_only_during_their_absence() -> None:
    org, rules = small_docs()
    org["reps"][2]["away"] = [{"from": WEDNESDAY.isoformat(), "to": (WEDNESDAY + timedelta(hours=2)).isoformat()}]
    router, ctx = Router(compile_config(org, rules)), RoutingContext()
    during = [router.route(lead(f"L{i}", company=""), ctx, WEDNESDAY + timedelta(minutes=i)).rep_id
              for i in range(30)]
    assert "r3" not in during
    after = [router.route(lead(f"M{i}", company=""), ctx, WEDNESDAY + timedelta(hours=3)).rep_id for i in range(6)]
    assert "r3" in after


def test_working_hours_skip_applies_only_to_rules_that_ask_for_it() -> None:
    org, rules = demo_docs()
    inside = next(r for r in rules["rules"] if r["name"] == "b-to-inside-sales")
    inside["respect_working_hours"] = True
    router = Router(compile_config(org, rules))
    # 21:00 UTC on a Wednesday: 17:00 in New York, 16:00 in Chicago, 21:00 in London.
    evening = WEDNESDAY.replace(hour=21)
    d = router.route(lead(grade="B"), RoutingContext(), evening)
    skipped = {c.rep_id: c.skipped for c in d.candidates}
    assert skipped == {"is-1": None, "is-2": None, "is-3": SKIP_HOURS}
    # The hot rule does not respect working hours: a UK rep gets it at 21:00 London time.
    hot = router.route(lead(grade="B", hot=True, country="GB"), RoutingContext(), evening)
    assert hot.rep_id in UK_FIELD
    # At 23:30 UTC nobody in inside sales works: the lead queues.
    night = router.route(lead("L9", grade="B"), RoutingContext(), WEDNESDAY.replace(hour=23, minute=30))
    assert (night.owner_kind, night.team) == ("queue", "inside_sales")


def test_every_decision_records_rule_candidates_and_winner() -> None:
    d = route(Router(demo_config()), lead(grade="A", country="GB", segment="ent-tech-uk"))
    record = d.as_dict()
    assert record["rule"] == "a-to-field"
    assert {c["rep_id"] for c in record["candidates"]} == US_FIELD | UK_FIELD
    assert record["rep_id"] in {c["rep_id"] for c in record["candidates"] if "skipped" not in c}
    assert all(c.get("skipped") for c in record["candidates"] if c["rep_id"] in US_FIELD)
