"""The app's pure rules: which accounts a seed file makes, how a refresh token is judged,
the order of a rep's leads and how their clocks and reasons read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.app.domain.accounts import RefreshState, RefreshVerdict, SeedInvalid, decide_refresh, seeds_from
from services.app.domain.leads import by_clock, reason_label, time_left, top_reasons

ORG = {"org": {"teams": [{"id": "field", "manager": {"name": "Morgan"}}, {"id": "agency", "name": "Agency"}],
               "reps": [{"id": "r1", "name": "Rae", "team": "field"}]}}
PASSWORDS = {"rep": "rp", "manager": "mp"}


def test_a_seed_makes_the_orgs_reps_a_manager_per_team_and_the_listed_people() -> None:
    seeds = seeds_from({"passwords": PASSWORDS, "accounts": [
        {"id": "m1", "username": "Maya", "name": "Maya", "roles": ["marketing", "sales_approver"], "password": "x"}]},
        ORG)
    assert [(s.account_id, s.roles, s.rep_id, s.teams, s.name) for s in seeds] == [
        ("mgr-field", ("manager",), None, ("field",), "Morgan"),
        ("mgr-agency", ("manager",), None, ("agency",), "Agency manager"),
        ("r1", ("rep",), "r1", (), "Rae"),
        ("m1", ("marketing", "sales_approver"), None, (), "Maya")]


@pytest.mark.parametrize(("accounts", "says"), [
    ([{"id": "x", "username": "x", "name": "X", "roles": ["boss"], "password": "p"}], "unknown role"),
    ([{"id": "x", "username": "x", "name": "X", "roles": ["rep"], "password": "p"}], "rep_id"),
    ([{"id": "r1", "username": "other", "name": "X", "roles": ["operator"], "password": "p"}], "appears twice"),
    ([{"id": "y", "username": "R1", "name": "X", "roles": ["operator"], "password": "p"}], "username 'R1'"),
    ([{"id": "y", "username": "y", "name": "X", "roles": [], "password": "p"}], "at least one role"),
    ([{"id": "y", "username": "y", "name": "X", "roles": ["operator"]}], "'password'"),
])
def test_a_wrong_seed_is_refused_saying_where(accounts: list[dict[str, object]], says: str) -> None:
    with pytest.raises(SeedInvalid, match=says):
        seeds_from({"passwords": PASSWORDS, "accounts": accounts}, ORG)


def test_a_refresh_token_is_good_once_before_it_expires() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = now + timedelta(hours=1)
    assert decide_refresh(RefreshState(later, None, None), now) is RefreshVerdict.ROTATE
    assert decide_refresh(RefreshState(later, now, None), now) is RefreshVerdict.REUSED
    assert decide_refresh(RefreshState(now, now, None), later) is RefreshVerdict.REUSED  # reuse beats expiry
    assert decide_refresh(RefreshState(now, None, None), later) is RefreshVerdict.EXPIRED
    assert decide_refresh(RefreshState(later, None, now), now) is RefreshVerdict.REVOKED


def test_leads_come_most_urgent_first_overdue_on_top_stopped_clocks_last() -> None:
    leads = [{"id": "stopped", "seconds_left": None}, {"id": "later", "seconds_left": 600},
             {"id": "overdue", "seconds_left": -30}, {"id": "soon", "seconds_left": 20},
             {"id": "very-overdue", "seconds_left": -3600}]
    assert [a["id"] for a in by_clock(leads)] == ["very-overdue", "overdue", "soon", "later", "stopped"]


def test_the_clock_reads_in_words() -> None:
    assert [time_left(s) for s in (None, 7, -65, 3 * 3600 + 300, -2 * 86_400 - 7200)] == [
        "clock stopped", "7 s left", "overdue 1 min", "3 h 5 min left", "overdue 2 d 2 h"]


def test_the_grades_top_reasons_are_the_biggest_contributions_in_words() -> None:
    ledger = [{"rule": "fit.country.US", "points": 10}, {"rule": "engagement.web_visit", "points": 2},
              {"rule": "fit.title.seniority.executive", "points": 20}, {"rule": "decay", "points": -15},
              {"rule": "nothing", "points": 0}]
    assert [r["rule"] for r in top_reasons(ledger)] == ["fit.title.seniority.executive", "decay", "fit.country.US"]
    assert reason_label("fit.title.seniority.executive") == "title: seniority executive (fit)"
