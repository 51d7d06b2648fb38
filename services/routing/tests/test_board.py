"""What a manager's board reads and changes in routing: the team's open leads on the
clock, SLA compliance today and this week, escalations with their reasons, a chosen lead
taken from the queue for a rep, and a rep's capacity; on the demo organisation, in memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.routing import handlers
from services.routing.domain.compliance import ClockEnded, Compliance, period_starts, team_compliance
from services.routing.domain.config import ConfigInvalid
from services.routing.tests.factory import WEDNESDAY
from services.routing.tests.test_handlers import Routing, assign, scored
from shared.events import FollowUpOutcome, LeadAssigned
from shared.testing import FakeUnitOfWork

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
async def routing() -> Routing:
    r = Routing()
    await r.start()
    return r


# --------------------------------------------------------------------------- the rule


def test_today_and_this_week_begin_at_midnight_and_monday_in_the_teams_zone() -> None:
    # 02:00 UTC on Thursday is still Wednesday evening in New York
    starts = period_starts(datetime(2025, 3, 13, 2, 0, tzinfo=UTC), NEW_YORK)
    assert starts["today"] == datetime(2025, 3, 12, 0, 0, tzinfo=NEW_YORK)
    assert starts["week"] == datetime(2025, 3, 10, 0, 0, tzinfo=NEW_YORK)


def test_a_clock_ended_today_counts_for_the_week_and_earlier_ones_only_for_the_week() -> None:
    starts = period_starts(WEDNESDAY, NEW_YORK)
    ended = [ClockEnded("a1", "r1", WEDNESDAY - timedelta(hours=1), True),
             ClockEnded("a2", "r1", WEDNESDAY - timedelta(days=1), False),
             ClockEnded("a3", None, WEDNESDAY - timedelta(minutes=5), False),   # ran out in the queue
             ClockEnded("a4", "gone", WEDNESDAY - timedelta(days=9), False)]    # last week: not counted
    result = team_compliance(ended, starts, ["r1", "r2"])
    assert result.team == {"today": Compliance(met=1, missed=1), "week": Compliance(met=1, missed=2)}
    assert result.reps["r1"] == {"today": Compliance(1, 0), "week": Compliance(1, 1)}
    assert result.reps["r2"]["week"].rate is None  # nothing ended: no figure, not 100%
    assert "gone" not in result.reps
    assert result.team["week"].rate == pytest.approx(1 / 3)


# --------------------------------------------------------------------------- the handlers


async def test_compliance_counts_on_time_follow_ups_against_clocks_that_ran_out(routing: Routing) -> None:
    kept = await assign(routing, scored("L1", grade="B"))
    lost = await assign(routing, scored("L2", grade="B"))
    await routing.follow_up(kept.assignment_id, kept.rep_id or "", FollowUpOutcome.CONTACTED)
    routing.now = WEDNESDAY + timedelta(hours=6)  # past inside sales' 4 business hours
    await routing.timers()
    assert routing.row(lost.assignment_id)["status"] == "missed"

    result = await handlers.team_compliance(routing.deps, FakeUnitOfWork(), "inside_sales")
    assert result.team["today"] == Compliance(met=1, missed=1)
    assert result.reps[kept.rep_id or ""]["today"].met == 1
    assert result.reps[lost.rep_id or ""]["today"].missed == 1
    assert set(result.reps) >= {"is-1", "is-2", "is-3"}


async def test_escalations_say_whose_clock_ran_out_and_where_the_lead_went(routing: Routing) -> None:
    lost = await assign(routing, scored("L2", grade="B"))
    routing.now = WEDNESDAY + timedelta(hours=6)
    await routing.timers()
    (row,) = await handlers.team_escalations(routing.deps, FakeUnitOfWork(), "inside_sales",
                                             WEDNESDAY - timedelta(days=1), 10)
    assert (row["missed_assignment_id"], row["missed_rep_id"], row["attempt"]) == (
        lost.assignment_id, lost.rep_id, 1)
    assert row["owner_kind"] == "rep" and row["rep_id"] != lost.rep_id
    assert "escalation 1 of 2 after missed follow-up" in row["reason"]
    assert await handlers.team_escalations(routing.deps, FakeUnitOfWork(), "field", WEDNESDAY, 10) == []


async def test_a_teams_open_leads_are_listed_earliest_due_first(routing: Routing) -> None:
    first = await assign(routing, scored("L1", grade="B"))
    routing.now = WEDNESDAY + timedelta(minutes=30)
    await assign(routing, scored("L2", grade="B"))
    _, rows = await handlers.team_open(routing.deps, FakeUnitOfWork(), "inside_sales", 10)
    assert [r["lead_id"] for r in rows] == ["L1", "L2"] and rows[0]["assignment_id"] == first.assignment_id
    assert rows[0]["profile"]["name"] == "Ann"
    with pytest.raises(handlers.NotFound) as unknown:
        await handlers.team_open(routing.deps, FakeUnitOfWork(), "nowhere", 10)
    assert unknown.value.field == "team"


async def test_a_manager_gives_a_chosen_queued_lead_to_a_rep(routing: Routing) -> None:
    routing.repo.load.update({"is-1": 60, "is-2": 60, "is-3": 60})
    await assign(routing, scored("L1", grade="B"))
    chosen = await assign(routing, scored("L2", grade="B"))
    uow = FakeUnitOfWork()
    row = await handlers.take_from_queue(routing.deps, uow, "inside_sales", "is-2", "Priya Shah",
                                         chosen.assignment_id)
    assert (row.lead_id, row.rep_id) == ("L2", "is-2")  # not the older L1
    assert uow.of(LeadAssigned)[0].previous_assignment_id == chosen.assignment_id
    with pytest.raises(handlers.NotFound) as gone:
        await handlers.take_from_queue(routing.deps, FakeUnitOfWork(), "inside_sales", "is-1", "",
                                       chosen.assignment_id)
    assert gone.value.field == "assignment_id" and "not waiting" in str(gone.value)


async def test_a_changed_capacity_takes_effect_on_the_next_lead(routing: Routing) -> None:
    for rep in ("is-1", "is-2"):
        await handlers.set_capacity(routing.deps, FakeUnitOfWork(), rep, 0, "Priya Shah")
    assigned = await assign(routing, scored("L1", grade="B"))
    assert assigned.rep_id == "is-3"
    org = routing.repo.config["org"][1]
    assert {r["id"]: r["capacity"] for r in org["reps"] if r["team"] == "inside_sales"} == {
        "is-1": 0, "is-2": 0, "is-3": 60}
    assert routing.repo.config_history[-1][2:] == ("capacity of is-2: 0", "Priya Shah")
    with pytest.raises(handlers.NotFound):
        await handlers.set_capacity(routing.deps, FakeUnitOfWork(), "nobody", 3)


async def test_capacity_that_leaves_a_rule_with_nobody_is_refused(routing: Routing) -> None:
    for rep in ("is-1", "is-2"):
        await handlers.set_capacity(routing.deps, FakeUnitOfWork(), rep, 0)
    with pytest.raises(ConfigInvalid):
        await handlers.set_capacity(routing.deps, FakeUnitOfWork(), "is-3", 0)


async def test_a_manager_changes_capacity_only_in_a_team_they_manage(routing: Routing) -> None:
    with pytest.raises(handlers.NotInTeam, match="is in team 'field'"):
        await handlers.set_capacity(routing.deps, FakeUnitOfWork(), "us-am-1", 3, "Priya Shah",
                                    teams=frozenset({"inside_sales"}))
    await handlers.set_capacity(routing.deps, FakeUnitOfWork(), "is-1", 3, "Priya Shah",
                                teams=frozenset({"inside_sales"}))
    assert next(r for r in routing.repo.config["org"][1]["reps"] if r["id"] == "is-1")["capacity"] == 3
