"""Routing's handlers on the fake unit of work and the in-memory tables, driven through
the registry the service runs (``lead-scored`` subscription, ``sla-timers`` job, the
seeding at start): the demo organisation, no broker, no database."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest

from services.routing import handlers
from services.routing.domain.followup import AssignmentClosed, NoteRequired, NotTheOwner
from services.routing.handlers import RoutingDeps, registry
from services.routing.tests.factory import DEMO_ORG, WEDNESDAY
from services.routing.tests.fakes import InMemoryRouting
from shared import testing, topics
from shared.audit import Actor
from shared.events import (
    AuditRecorded,
    DealOutcomeKind,
    DealOutcomeRecorded,
    FollowUpEscalated,
    FollowUpMissed,
    FollowUpOutcome,
    FollowUpRecorded,
    FollowUpReminderIssued,
    LeadAssigned,
    LeadProfile,
    LeadScored,
    NurtureReason,
    RoutingConfigChanged,
    derive_event_id,
)
from shared.principal import Principal, Role
from shared.testing import FakeUnitOfWork, FakeUnits

INSIDE = {"is-1", "is-2", "is-3"}
US_FIELD = {"us-am-1", "us-am-2", "us-am-3", "us-am-4"}


def scored(lead_id: str = "L1", grade: str = "B", *, event_id: str | None = None, country: str = "US",
           company: str | None = None, segment_parts: tuple[str, ...] = ("mid", "tech", "na"), hot: bool = False,
           disqualified: bool = False) -> LeadScored:
    return LeadScored(
        event_id=event_id or f"s-{lead_id}-{grade}", occurred_at=WEDNESDAY, lead_id=lead_id, cause_event_id="c",
        profile=LeadProfile(email=f"{lead_id.lower()}@acme.example", name="Ann", company=company or f"Co {lead_id}",
                            country=country),
        source="web_form", score=50, fit_score=30, engagement_score=20, grade=grade,  # type: ignore[arg-type]
        segment="-".join(segment_parts), segment_parts=segment_parts, hot=hot, disqualified=disqualified,
        rubric_version="v1")


class Routing:
    """The service's registry over in-memory tables, with a clock the test moves."""

    def __init__(self) -> None:
        self.repo = InMemoryRouting()
        self.now = WEDNESDAY
        self.deps = RoutingDeps(repo=self.repo, clock=lambda: self.now, org_file=DEMO_ORG)
        self.registry = registry(self.deps)

    async def start(self) -> FakeUnits:
        return await testing.start(self.registry)

    async def deliver(self, *events: LeadScored) -> FakeUnitOfWork:
        return await testing.deliver(self.registry, topics.LEAD_SCORED, events)

    async def timers(self) -> FakeUnits:
        return await testing.run_job(self.registry, "sla-timers")

    async def follow_up(self, assignment_id: str, rep_id: str, outcome: FollowUpOutcome,
                        note: str = "", key: str | None = None) -> tuple[handlers.FollowUpResult, FakeUnitOfWork]:
        uow = FakeUnitOfWork()
        result = await handlers.record_follow_up(self.deps, uow, assignment_id, rep_id, outcome, note, key)
        return result, uow

    def row(self, assignment_id: str) -> dict[str, Any]:
        return self.repo.assignments[assignment_id]


@pytest.fixture
async def routing() -> Routing:
    r = Routing()
    await r.start()
    return r


async def assign(routing: Routing, event: LeadScored) -> LeadAssigned:
    (assigned,) = (await routing.deliver(event)).of(LeadAssigned)
    return assigned


# --------------------------------------------------------------------------- start, assign, queue, nurture


async def test_start_seeds_the_organisation_once() -> None:
    r = Routing()
    first = await r.start()
    assert {e.kind for e in first.events() if isinstance(e, RoutingConfigChanged)} == {"org", "rules"}
    assert await r.repo.config_versions(None) == {"org": 1, "rules": 1}
    again = await r.start()
    assert again.events() == [] and await r.repo.config_versions(None) == {"org": 1, "rules": 1}


async def test_a_b_lead_goes_to_an_inside_sales_rep_on_the_teams_clock(routing: Routing) -> None:
    assigned = await assign(routing, scored(grade="B"))
    assert (assigned.owner_kind, assigned.team, assigned.rule) == ("rep", "inside_sales", "b-to-inside-sales")
    assert assigned.rep_id in INSIDE and assigned.nurture_reason is None
    assert assigned.due_at is not None and assigned.due_at > WEDNESDAY
    assert assigned.event_id == derive_event_id("s-L1-B", "lead-assigned")
    row = routing.row(assigned.assignment_id)
    assert (row["status"], row["rep_id"], row["due_at"]) == ("open", assigned.rep_id, assigned.due_at)
    assert routing.repo.load[assigned.rep_id] == 1
    (decision,) = routing.repo.decisions
    assert decision["trigger"] == "scored" and decision["detail"]["rule"] == "b-to-inside-sales"


async def test_a_lead_scored_again_keeps_its_owner_even_in_the_same_batch(routing: Routing) -> None:
    uow = await routing.deliver(scored(grade="B", event_id="s1"), scored(grade="A", event_id="s2"))
    assert len(uow.of(LeadAssigned)) == 1
    assert (await routing.deliver(scored(grade="A", event_id="s3"))).of(LeadAssigned) == []
    assert len(routing.repo.assignments) == 1


async def test_an_a_lead_no_field_rep_covers_is_queued_at_the_field_team(routing: Routing) -> None:
    assigned = await assign(routing, scored(grade="A", country="DE"))
    assert (assigned.owner_kind, assigned.team, assigned.rep_id) == ("queue", "field", None)
    assert assigned.due_at is not None  # a queued lead's clock runs in its team's calendar
    uow = FakeUnitOfWork()
    teams, rows = await handlers.queues(routing.deps, uow, per_team=10)
    assert "field" in teams and [(r["team"], r["lead_id"], r["queued"]) for r in rows] == [("field", "L1", 1)]


async def test_low_grades_and_disqualified_leads_go_to_nurture_saying_why(routing: Routing) -> None:
    low = await assign(routing, scored("L1", grade="C"))
    assert (low.owner_kind, low.rule, low.nurture_reason, low.due_at) == (
        "nurture", "cd-to-nurture", NurtureReason.LOW_GRADE, None)
    out = await assign(routing, scored("L2", grade="D", disqualified=True))
    assert (out.rule, out.nurture_reason) == ("disqualified-to-nurture", NurtureReason.DISQUALIFIED)
    assert routing.row(low.assignment_id)["status"] == "nurture"


async def test_a_nurtured_lead_that_heats_up_to_a_sales_grade_returns_to_sales(routing: Routing) -> None:
    nurtured = await assign(routing, scored(grade="C", event_id="s1"))
    back = await assign(routing, scored(grade="B", event_id="s2"))
    assert (back.owner_kind, back.team, back.previous_assignment_id) == ("rep", "inside_sales",
                                                                        nurtured.assignment_id)
    assert routing.row(nurtured.assignment_id)["status"] == "returned"


# --------------------------------------------------------------------------- follow-ups


async def test_a_follow_up_before_the_due_time_is_on_time_and_stops_the_clock(routing: Routing) -> None:
    assigned = await assign(routing, scored(grade="B"))
    assert assigned.rep_id is not None and assigned.due_at is not None
    routing.now = assigned.due_at - timedelta(minutes=1)
    result, uow = await routing.follow_up(assigned.assignment_id, assigned.rep_id, FollowUpOutcome.CONTACTED)
    assert (result.on_time, result.status, result.next_assignment) == (True, "followed_up", None)
    (recorded,) = uow.of(FollowUpRecorded)
    assert (recorded.assignment_id, recorded.outcome, recorded.on_time) == (
        assigned.assignment_id, FollowUpOutcome.CONTACTED, True)
    assert routing.row(assigned.assignment_id)["status"] == "followed_up"
    assert [f["on_time"] for f in routing.repo.follow_ups] == [True]
    # The clock stopped: its due time passing later is no miss.
    routing.now = assigned.due_at + timedelta(days=3)
    assert (await routing.timers()).events() == []


async def test_a_follow_up_after_the_due_time_is_late(routing: Routing) -> None:
    assigned = await assign(routing, scored(grade="B"))
    assert assigned.rep_id is not None and assigned.due_at is not None
    routing.now = assigned.due_at + timedelta(seconds=1)
    result, uow = await routing.follow_up(assigned.assignment_id, assigned.rep_id, FollowUpOutcome.LEFT_MESSAGE)
    assert (result.on_time, result.status) == (False, "followed_up")
    assert [e.on_time for e in uow.of(FollowUpRecorded)] == [False]
    # A second follow-up on an assignment already followed up counts as on time (its clock stopped).
    again, _ = await routing.follow_up(assigned.assignment_id, assigned.rep_id, FollowUpOutcome.MEETING_BOOKED)
    assert again.on_time is True


async def test_only_the_rep_holding_the_assignment_records_on_it(routing: Routing) -> None:
    assigned = await assign(routing, scored(grade="B"))
    other = next(iter(INSIDE - {assigned.rep_id}))
    with pytest.raises(NotTheOwner) as refused:
        await routing.follow_up(assigned.assignment_id, other, FollowUpOutcome.CONTACTED)
    assert refused.value.field == "rep_id" and str(assigned.rep_id) in refused.value.reason
    with pytest.raises(handlers.NotFound):
        await routing.follow_up("nope", other, FollowUpOutcome.CONTACTED)
    assert routing.repo.follow_ups == []


async def test_disqualifying_needs_a_note_saying_why(routing: Routing) -> None:
    assigned = await assign(routing, scored(grade="B"))
    assert assigned.rep_id is not None
    with pytest.raises(NoteRequired) as refused:
        await routing.follow_up(assigned.assignment_id, assigned.rep_id, FollowUpOutcome.DISQUALIFIED, "  ")
    assert refused.value.field == "note"
    assert routing.repo.follow_ups == [] and routing.row(assigned.assignment_id)["status"] == "open"


async def test_qualified_by_inside_sales_hands_the_lead_to_a_field_rep(routing: Routing) -> None:
    inside = await assign(routing, scored(grade="B", company="Big Co"))
    assert inside.rep_id is not None
    result, uow = await routing.follow_up(inside.assignment_id, inside.rep_id, FollowUpOutcome.QUALIFIED)
    assert result.status == "qualified" and result.next_assignment is not None
    (field,) = uow.of(LeadAssigned)
    assert (field.owner_kind, field.team, field.rule) == ("rep", "field", "qualified-to-field")
    assert field.rep_id in US_FIELD and field.previous_assignment_id == inside.assignment_id
    assert field.assignment_id == result.next_assignment.assignment_id
    assert routing.row(inside.assignment_id)["status"] == "qualified"
    assert routing.repo.load[inside.rep_id] == 0 and routing.repo.load[field.rep_id] == 1
    # The closed assignment takes no more follow-ups.
    with pytest.raises(AssignmentClosed) as refused:
        await routing.follow_up(inside.assignment_id, inside.rep_id, FollowUpOutcome.CONTACTED)
    assert refused.value.field == "assignment_id" and "qualified" in refused.value.reason


async def test_qualified_from_a_field_rep_keeps_the_lead_with_them(routing: Routing) -> None:
    field = await assign(routing, scored(grade="A", segment_parts=("smb", "tech", "na")))
    assert field.team == "field" and field.rep_id is not None
    result, uow = await routing.follow_up(field.assignment_id, field.rep_id, FollowUpOutcome.QUALIFIED)
    assert (result.status, result.next_assignment, uow.of(LeadAssigned)) == ("followed_up", None, [])


async def test_disqualified_by_the_rep_goes_to_nurture_with_the_reason(routing: Routing) -> None:
    inside = await assign(routing, scored(grade="B"))
    assert inside.rep_id is not None
    result, uow = await routing.follow_up(inside.assignment_id, inside.rep_id, FollowUpOutcome.DISQUALIFIED,
                                          "student project, no budget")
    (out,) = uow.of(LeadAssigned)
    assert (out.owner_kind, out.nurture_reason) == ("nurture", NurtureReason.DISQUALIFIED)
    assert "no budget" in out.reason and result.status == "disqualified"
    assert routing.row(inside.assignment_id)["status"] == "disqualified"


async def test_a_follow_up_retried_with_its_idempotency_key_is_recorded_once(routing: Routing) -> None:
    inside = await assign(routing, scored(grade="B", company="Big Co"))
    assert inside.rep_id is not None
    first, uow = await routing.follow_up(inside.assignment_id, inside.rep_id, FollowUpOutcome.QUALIFIED, key="k1")
    assert first.repeat is False and len(uow.of(FollowUpRecorded)) == 1 and first.next_assignment is not None
    # The phone lost the answer and sends the same tap again: nothing new, the first answer.
    again, uow = await routing.follow_up(inside.assignment_id, inside.rep_id, FollowUpOutcome.QUALIFIED, key="k1")
    assert uow.events() == [] and again.repeat is True
    assert (again.follow_up_id, again.on_time, again.status) == (first.follow_up_id, True, "qualified")
    assert again.next_assignment is not None
    assert again.next_assignment.assignment_id == first.next_assignment.assignment_id
    assert [f["follow_up_id"] for f in routing.repo.follow_ups] == [first.follow_up_id]
    # A new tap (a new key) on the now closed assignment is refused as before.
    with pytest.raises(AssignmentClosed):
        await routing.follow_up(inside.assignment_id, inside.rep_id, FollowUpOutcome.CONTACTED, key="k2")


async def test_an_idempotency_key_cannot_record_on_another_assignment(routing: Routing) -> None:
    one = await assign(routing, scored("L1", grade="B"))
    two = await assign(routing, scored("L2", grade="B"))
    assert one.rep_id is not None and two.rep_id is not None
    await routing.follow_up(one.assignment_id, one.rep_id, FollowUpOutcome.CALLED, key="same")
    with pytest.raises(handlers.KeyReused):
        await routing.follow_up(two.assignment_id, two.rep_id, FollowUpOutcome.CALLED, key="same")
    assert routing.row(two.assignment_id)["status"] == "open"


# --------------------------------------------------------------------------- the SLA timer job


async def test_the_timer_job_reminds_then_fires_a_missed_follow_up_and_reassigns(routing: Routing) -> None:
    first = await assign(routing, scored(grade="B"))
    row = routing.row(first.assignment_id)
    assert row["remind_at"] is not None and first.due_at is not None

    routing.now = row["remind_at"]
    (reminder,) = (await routing.timers()).events()
    assert isinstance(reminder, FollowUpReminderIssued) and reminder.rep_id == first.rep_id
    assert (await routing.timers()).events() == []  # once

    routing.now = first.due_at + timedelta(seconds=5)
    fired = await routing.timers()
    (missed,) = [e for e in fired.events() if isinstance(e, FollowUpMissed)]
    assert (missed.assignment_id, missed.rep_id, missed.escalation, missed.next_action) == (
        first.assignment_id, first.rep_id, 1, "reassign")
    (escalated,) = [e for e in fired.events() if isinstance(e, FollowUpEscalated)]
    (second,) = [e for e in fired.events() if isinstance(e, LeadAssigned)]
    assert second.rep_id in INSIDE - {first.rep_id} and second.attempt == 1
    assert second.previous_assignment_id == first.assignment_id
    assert (escalated.assignment_id, escalated.manager_name) == (second.assignment_id, "Priya Shah")
    assert routing.row(first.assignment_id)["status"] == "missed"
    assert (await routing.timers()).events() == []  # each breach fires once


async def test_escalations_run_out_into_nurture_as_a_missed_follow_up(routing: Routing) -> None:
    current = await assign(routing, scored(grade="B"))
    holders = {current.rep_id}
    last: list[Any] = []
    for _ in range(3):  # inside sales allows two escalations; the third miss hands it to nurture
        assert current.due_at is not None
        routing.now = current.due_at + timedelta(seconds=1)
        last = (await routing.timers()).events()
        current = next(e for e in last if isinstance(e, LeadAssigned))
        holders.add(current.rep_id)
    (missed,) = [e for e in last if isinstance(e, FollowUpMissed)]
    assert (missed.escalation, missed.next_action) == (3, "nurture")
    assert (current.owner_kind, current.nurture_reason) == ("nurture", NurtureReason.MISSED_FOLLOW_UP)
    assert holders - {None} == INSIDE
    assert all(routing.repo.load.get(r, 0) == 0 for r in INSIDE)


# --------------------------------------------------------------------------- configuration and reads


async def test_an_away_rep_gets_no_lead_and_reads_as_away(routing: Routing) -> None:
    away = [{"from": (WEDNESDAY - timedelta(days=1)).isoformat(), "to": (WEDNESDAY + timedelta(days=1)).isoformat()}]
    uow = FakeUnitOfWork()
    for rep in ("is-1", "is-2"):
        await handlers.set_availability(routing.deps, uow, rep, away, "manager")
    assert [e.version for e in uow.of(RoutingConfigChanged)] == [2, 3]
    for i in range(3):
        assert (await assign(routing, scored(f"L{i}", grade="B"))).rep_id == "is-3"
    statuses = {s.rep_id: s for s in await handlers.rep_statuses(routing.deps, FakeUnitOfWork())}
    assert (statuses["is-1"].away, statuses["is-3"].away, statuses["is-3"].open) == (True, False, 3)
    with pytest.raises(handlers.NotFound):
        await handlers.set_availability(routing.deps, FakeUnitOfWork(), "nobody", [], "manager")


async def test_a_configuration_change_is_audited_as_its_caller_place_by_place(routing: Routing) -> None:
    version, org = await handlers.live_document(routing.deps, FakeUnitOfWork(), "org")
    reps = [dict(r, capacity=r["capacity"] + 1) if r["id"] == "is-1" else r for r in org["reps"]]
    uow = FakeUnitOfWork()
    await handlers.change_config(routing.deps, uow, "org", org | {"reps": reps}, "more for is-1", "Olga",
                                 who=Actor("ops-1", "Olga", ("operator",)))
    [entry] = uow.of(AuditRecorded)
    assert (entry.action, entry.subject_id, entry.actor, entry.actor_name) == ("org.changed", "org", "ops-1", "Olga")
    [change] = entry.changes
    index = [r["id"] for r in org["reps"]].index("is-1")
    assert (change.path, change.after - change.before) == (f"reps.{index}.capacity", 1)
    assert entry.details == {"version": version + 1, "change": "more for is-1"}


async def test_a_stale_configuration_change_is_refused(routing: Routing) -> None:
    version, org = await handlers.live_document(routing.deps, FakeUnitOfWork(), "org")
    with pytest.raises(handlers.Conflict):
        await handlers.change_config(routing.deps, FakeUnitOfWork(), "org", org, "edit", "m", version + 5)


async def test_a_leads_routing_history_names_its_current_owner(routing: Routing) -> None:
    inside = await assign(routing, scored(grade="B"))
    assert inside.rep_id is not None
    result, _ = await routing.follow_up(inside.assignment_id, inside.rep_id, FollowUpOutcome.QUALIFIED)
    history = await handlers.lead_routing(routing.deps, FakeUnitOfWork(), "L1")
    assert result.next_assignment is not None and history.owner is not None
    assert history.owner["assignment_id"] == result.next_assignment.assignment_id
    assert [a["status"] for a in history.assignments] == ["qualified", "open"]
    assert [f["outcome"] for f in history.follow_ups] == ["qualified"]
    assert [d["trigger"] for d in history.decisions] == ["scored", "qualified"]
    with pytest.raises(handlers.NotFound):
        await handlers.lead_routing(routing.deps, FakeUnitOfWork(), "unknown")



def test_the_handlers_load_without_a_broker_or_database_client() -> None:
    # A fresh interpreter: this test process may have imported the drivers for other tests.
    code = ("import sys, services.routing.handlers; "
            "print(sorted(m for m in ('aiokafka', 'asyncpg', 'fastapi') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- issue 10: hot leads, queues, outcomes


def outcome(lead_id: str, kind: DealOutcomeKind, *, amount_minor: int | None = None,
            opportunity_id: str = "opp-1") -> DealOutcomeRecorded:
    won = kind is DealOutcomeKind.WON
    return DealOutcomeRecorded(
        event_id=f"o-{lead_id}-{kind}", occurred_at=WEDNESDAY, lead_id=lead_id, outcome_id=f"out-{kind}",
        matched_by="lead_id", source="salesforce", opportunity_id=opportunity_id, kind=kind,
        amount_minor=amount_minor, currency="USD" if amount_minor is not None else None,
        close_date=WEDNESDAY.date() if won else None)


async def deliver_outcome(routing: Routing, event: DealOutcomeRecorded) -> FakeUnitOfWork:
    return await testing.deliver(routing.registry, topics.DEAL_OUTCOME_RECORDED, [event])


async def test_a_lead_turning_hot_at_inside_sales_goes_to_a_field_rep_at_once(routing: Routing) -> None:
    inside = await assign(routing, scored(grade="B", event_id="s1", segment_parts=("ent", "tech", "na")))
    assert inside.team == "inside_sales" and inside.rep_id is not None
    routing.now = WEDNESDAY + timedelta(minutes=3)
    hot = await assign(routing, scored(grade="A", event_id="s2", hot=True, segment_parts=("ent", "tech", "na")))
    assert (hot.owner_kind, hot.team, hot.rule, hot.previous_assignment_id) == (
        "rep", "field", "hot-intent-to-field", inside.assignment_id)
    assert hot.rep_id in US_FIELD and hot.due_at == routing.now + timedelta(hours=1)
    assert routing.row(inside.assignment_id)["status"] == "handed_on"
    assert routing.repo.load[inside.rep_id] == 0 and routing.repo.load[hot.rep_id] == 1
    assert routing.repo.decisions[-1]["trigger"] == "hot"


async def test_an_opportunity_converts_the_assignment_stops_its_clock_and_frees_the_rep(routing: Routing) -> None:
    routing.repo.load.update({"us-am-1": 25, "us-am-2": 25, "us-am-4": 24})
    first = await assign(routing, scored("L1", grade="A", segment_parts=("ent", "tech", "na")))
    assert (first.owner_kind, first.rep_id) == ("rep", "us-am-4")
    queued = await assign(routing, scored("L2", grade="A", segment_parts=("ent", "tech", "na")))
    assert queued.owner_kind == "queue"  # every rep who sells to it is full
    uow = await deliver_outcome(routing, outcome("L1", DealOutcomeKind.OPPORTUNITY_CREATED))
    assert uow.events() == []
    row = routing.row(first.assignment_id)
    assert (row["status"], row["deal_status"], row["opportunity_id"]) == ("converted", "opportunity", "opp-1")
    assert routing.repo.load["us-am-4"] == 24
    nxt = await assign(routing, scored("L3", grade="A", segment_parts=("ent", "tech", "na")))
    assert (nxt.owner_kind, nxt.rep_id) == ("rep", "us-am-4")
    # Its clock stopped: nothing fires when it would have come due.
    routing.now = WEDNESDAY + timedelta(days=5)
    timers = await routing.timers()
    missed = {e.lead_id for e in timers.events() if isinstance(e, FollowUpMissed)}
    assert "L3" in missed and "L1" not in missed
    # A re-scored converted lead is the CRM's: routing leaves it alone.
    assert (await routing.deliver(scored("L1", grade="A", event_id="again", hot=True))).of(LeadAssigned) == []


async def test_won_is_recorded_on_the_converted_assignment_with_its_amount(routing: Routing) -> None:
    first = await assign(routing, scored("L1", grade="A", segment_parts=("ent", "tech", "na")))
    await deliver_outcome(routing, outcome("L1", DealOutcomeKind.OPPORTUNITY_CREATED))
    await deliver_outcome(routing, outcome("L1", DealOutcomeKind.WON, amount_minor=4_200_000))
    row = routing.row(first.assignment_id)
    assert (row["status"], row["deal_status"], row["deal_amount_minor"], row["deal_currency"],
            row["deal_closed_on"]) == ("converted", "won", 4_200_000, "USD", WEDNESDAY.date())
    assert routing.repo.load[first.rep_id or ""] == 0  # freed once, not twice
    # An outcome for a lead routing never saw changes nothing.
    assert (await deliver_outcome(routing, outcome("nobody", DealOutcomeKind.WON, amount_minor=1))).events() == []


async def test_a_rep_takes_the_next_lead_from_their_teams_queue(routing: Routing) -> None:
    routing.repo.load.update({"is-1": 60, "is-2": 60, "is-3": 60})
    older = await assign(routing, scored("L1", grade="B"))
    await assign(routing, scored("L2", grade="B"))
    assert older.owner_kind == "queue"
    routing.now = WEDNESDAY + timedelta(minutes=10)
    uow = FakeUnitOfWork()
    row = await handlers.take_from_queue(routing.deps, uow, "inside_sales", "is-1", "Priya Shah")
    (assigned,) = uow.of(LeadAssigned)
    assert (row.lead_id, assigned.rep_id, assigned.previous_assignment_id) == ("L1", "is-1", older.assignment_id)
    assert assigned.due_at == routing.now + timedelta(hours=4)
    assert routing.row(older.assignment_id)["status"] == "taken"
    assert routing.repo.decisions[-1]["trigger"] == "taken"
    assert "by Priya Shah" in routing.repo.decisions[-1]["detail"]["reason"]
    assert routing.repo.load["is-1"] == 61


async def test_taking_from_a_queue_refuses_bad_input_naming_it(routing: Routing) -> None:
    with pytest.raises(handlers.NotFound) as unknown_team:
        await handlers.take_from_queue(routing.deps, FakeUnitOfWork(), "nowhere", "is-1")
    assert unknown_team.value.field == "team"
    with pytest.raises(handlers.NotFound) as unknown_rep:
        await handlers.take_from_queue(routing.deps, FakeUnitOfWork(), "inside_sales", "nobody")
    assert unknown_rep.value.field == "rep_id"
    with pytest.raises(handlers.NotInTeam) as other_team:
        await handlers.take_from_queue(routing.deps, FakeUnitOfWork(), "inside_sales", "us-am-1")
    assert other_team.value.field == "rep_id" and "is in team 'field'" in str(other_team.value)
    with pytest.raises(handlers.EmptyQueue, match="'inside_sales' queue is empty"):
        await handlers.take_from_queue(routing.deps, FakeUnitOfWork(), "inside_sales", "is-1")


# --------------------------------------------------------------------------- who sees which leads


def rep_token(rep_id: str) -> Principal:
    return Principal(subject=rep_id, roles=frozenset({Role.rep}), rep_id=rep_id)


def manager_of(*teams: str) -> Principal:
    return Principal(subject="boss", roles=frozenset({Role.manager}), teams=frozenset(teams))


async def test_a_rep_sees_their_own_leads_and_no_other_reps(routing: Routing) -> None:
    mine = await assign(routing, scored("L1", grade="B"))
    theirs = await assign(routing, scored("L2", grade="B"))
    assert mine.rep_id and theirs.rep_id and mine.rep_id != theirs.rep_id
    me, uow = rep_token(mine.rep_id), FakeUnitOfWork()
    _, rows = await handlers.rep_open_assignments(routing.deps, uow, mine.rep_id, me)
    assert [r["lead_id"] for r in rows] == ["L1"]
    assert (await handlers.assignment(routing.deps, uow, mine.assignment_id, me))["lead_id"] == "L1"
    assert (await handlers.lead_routing(routing.deps, uow, "L1", me)).owner is not None
    with pytest.raises(handlers.NotYours):  # another rep's list: 403, whether or not the rep exists
        await handlers.rep_open_assignments(routing.deps, uow, theirs.rep_id, me)
    with pytest.raises(handlers.NotYours):
        await handlers.rep_open_assignments(routing.deps, uow, "no-such-rep", me)
    with pytest.raises(handlers.NotFound):  # another rep's assignment or lead: as if it did not exist
        await handlers.assignment(routing.deps, uow, theirs.assignment_id, me)
    with pytest.raises(handlers.NotFound):
        await handlers.lead_routing(routing.deps, uow, "L2", me)
    with pytest.raises(handlers.NotFound):
        await handlers.record_follow_up(routing.deps, uow, theirs.assignment_id, mine.rep_id,
                                        FollowUpOutcome.CONTACTED, "", viewer=me)


async def test_a_manager_sees_their_teams_reps_leads_and_queues_only(routing: Routing) -> None:
    inside = await assign(routing, scored("L1", grade="B"))
    assert inside.team == "inside_sales" and inside.rep_id
    inside_boss, field_boss, uow = manager_of("inside_sales"), manager_of("field"), FakeUnitOfWork()
    assert (await handlers.assignment(routing.deps, uow, inside.assignment_id, inside_boss))["lead_id"] == "L1"
    with pytest.raises(handlers.NotFound):
        await handlers.assignment(routing.deps, uow, inside.assignment_id, field_boss)
    with pytest.raises(handlers.NotYours):
        await handlers.rep_open_assignments(routing.deps, uow, inside.rep_id, field_boss)
    assert {r.team for r in await handlers.rep_statuses(routing.deps, uow, field_boss)} == {"field"}
    teams, _ = await handlers.queues(routing.deps, uow, 20, inside_boss)
    assert teams == ["inside_sales"]
    with pytest.raises(handlers.NotYours):  # a manager takes for their own teams only
        await handlers.take_from_queue(routing.deps, uow, "inside_sales", "is-1", "boss", viewer=field_boss)
    everyone = Principal(subject="ops", roles=frozenset({Role.operator, Role.rep}))
    assert len(await handlers.rep_statuses(routing.deps, uow, everyone)) == len(await handlers.rep_statuses(
        routing.deps, uow))
