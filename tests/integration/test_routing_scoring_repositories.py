"""Routing's and scoring's in-memory repositories answer as their PostgreSQL ones do:
the same scenarios run against both (one suite, two backends, as in
``test_repositories.py``), so the handlers' unit tests on the fakes say something about
the services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.routing.domain.lifecycle import ActiveAssignment
from services.routing.domain.router import LeadFacts, RoutingContext
from services.routing.repository import PendingWrites, RoutingRepository, RoutingStore
from services.routing.tests.fakes import InMemoryRouting
from services.scoring.domain.lead import LeadState, apply_events, evidence_from
from services.scoring.domain.lifecycle import activate, approve, bootstrap_active, new_draft
from services.scoring.domain.rubric import load_rubric
from services.scoring.repository import (
    GradedLeadRepository,
    GradedLeadStore,
    RubricRepository,
    RubricStore,
    VersionExists,
)
from services.scoring.settings import DEMO_RUBRIC
from services.scoring.tests.fakes import InMemoryGradedLeads, InMemoryRubrics
from shared.events import Behaviour, LeadCaptured, LeadEngaged, LeadProfile, LeadSource
from tests.integration.test_repositories import backend, pick, pool  # noqa: F401 - pool is a fixture

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["postgres", "memory"])
async def routing(request: pytest.FixtureRequest, pool: asyncpg.Pool) -> AsyncIterator[tuple[RoutingStore, Any]]:  # noqa: F811
    async for b in backend(request.param, pool, "routing", RoutingRepository, InMemoryRouting):
        yield b


@pytest.fixture(params=["postgres", "memory"])
async def graded(request: pytest.FixtureRequest, pool: asyncpg.Pool) -> AsyncIterator[tuple[GradedLeadStore, Any]]:  # noqa: F811
    async for b in backend(request.param, pool, "scoring", GradedLeadRepository, InMemoryGradedLeads):
        yield b


@pytest.fixture(params=["postgres", "memory"])
async def rubrics(request: pytest.FixtureRequest, pool: asyncpg.Pool) -> AsyncIterator[tuple[RubricStore, Any]]:  # noqa: F811
    async for b in backend(request.param, pool, "scoring", RubricRepository, InMemoryRubrics):
        yield b


# --------------------------------------------------------------------------- routing


def facts(lead_id: str, company: str = "Acme") -> LeadFacts:
    return LeadFacts(lead_id=lead_id, grade="B", segment="mid-tech-na", segment_parts=("mid", "tech", "na"),
                     country="US", company=company, source="web_form")


def assignment(assignment_id: str, lead_id: str, *, owner_kind: str = "rep", rep_id: str | None = "r1",
               team: str = "t", due: timedelta | None = timedelta(hours=4), at: datetime = T0) -> ActiveAssignment:
    return ActiveAssignment(
        assignment_id=assignment_id, lead_id=lead_id, owner_kind=owner_kind, rep_id=rep_id, team=team, rule="all",
        reason="because", trigger="scored", attempt=0, chain=(rep_id,) if rep_id else (), previous_assignment_id=None,
        status="nurture" if owner_kind == "nurture" else "open", assigned_at=at,
        due_at=at + due if due is not None else None, remind_at=at + due * 0.75 if due is not None else None)


async def write(store: RoutingStore, conn: Any, *rows: ActiveAssignment,
                closes: tuple[tuple[str, str], ...] = ()) -> None:
    writes = PendingWrites()
    for assignment_id, status in closes:
        writes.close(assignment_id, status, "replaced", T0 + timedelta(minutes=1))
    for row in rows:
        writes.assignments[row.assignment_id] = row
        writes.decisions.append((row.lead_id, row.assignment_id, row.assigned_at, row.trigger, f"cause-{row.lead_id}",
                                 {"rule": row.rule}))
    await store.flush(conn, writes)
    assert not writes.assignments and not writes.closes and not writes.decisions


async def test_routing_keeps_configuration_versions_and_lead_facts(routing: tuple[RoutingStore, Any]) -> None:
    store, conn = routing
    assert await store.config_versions(conn) == {}
    await store.save_config(conn, "org", 1, {"teams": [{"id": "t"}]}, "seed", "seed")
    await store.save_config(conn, "org", 2, {"teams": [{"id": "u"}]}, "edit", "ann")
    await store.save_config(conn, "rules", 1, {"rules": []}, "seed", "seed")
    assert await store.lock_and_config_versions(conn) == {"org": 2, "rules": 1}
    assert (await store.config_documents(conn))["org"] == (2, {"teams": [{"id": "u"}]})

    profile = {"email": "ann@acme.example", "name": "Ann"}
    await store.save_scored(conn, [("e1", facts("L1"), profile, T0), ("e2", facts("L1", "Acme Two"), profile, T0)])
    lead = await store.lead(conn, "L1")
    assert lead is not None and lead["profile"] == profile
    assert LeadFacts.from_dict(lead["facts"]) == facts("L1", "Acme Two")  # the batch's last scoring wins
    assert await store.lead(conn, "nobody") is None


async def test_routing_state_round_trips_with_only_the_asked_accounts(routing: tuple[RoutingStore, Any]) -> None:
    store, conn = routing
    ctx = RoutingContext()
    ctx.take("r1")
    ctx.take("r1")
    ctx.credits["t"] = {"r1": -1.5, "r2": 1.5}
    ctx.changed_teams.add("t")
    ctx.accounts["acme"] = ctx.new_accounts["acme"] = "r1"
    ctx.accounts["globex"] = ctx.new_accounts["globex"] = "r2"
    await store.save_context(conn, ctx)
    assert not (ctx.changed_reps or ctx.changed_teams or ctx.new_accounts)
    loaded = await store.load_context(conn, ["acme", ""])
    assert (loaded.load, loaded.credits, loaded.accounts) == ({"r1": 2}, {"t": {"r1": -1.5, "r2": 1.5}},
                                                              {"acme": "r1"})
    assert await store.rep_loads(conn) == {"r1": 2}


async def test_assignments_close_activate_and_read_back(routing: tuple[RoutingStore, Any]) -> None:
    store, conn = routing
    await store.save_scored(conn, [("e1", facts("L1"), {"name": "Ann"}, T0), ("e2", facts("L2"), {"name": "Bo"}, T0)])
    await write(store, conn, assignment("a1", "L1"), assignment("q1", "L2", owner_kind="queue", rep_id=None))
    await write(store, conn, assignment("a1", "L1"))  # the same id again: written once
    active = await store.active_for(conn, ["L1", "L2", "L3"])
    assert {k: (a.assignment_id, a.owner_kind, a.chain) for k, a in active.items()} == {
        "L1": ("a1", "rep", ("r1",)), "L2": ("q1", "queue", ())}
    await write(store, conn, assignment("a2", "L1", rep_id="r2", at=T0 + timedelta(minutes=1)),
                closes=(("a1", "missed"),))
    assert (await store.active_for(conn, ["L1"]))["L1"].assignment_id == "a2"
    closed = await store.assignment(conn, "a1")
    assert pick(closed, "status", "close_reason", "closed_at") == {
        "status": "missed", "close_reason": "replaced", "closed_at": T0 + timedelta(minutes=1)}
    assert [a["assignment_id"] for a in await store.lead_assignments(conn, "L1")] == ["a1", "a2"]
    # Decisions are a log: the assignment written twice above logged its decision twice.
    assert [d["assignment_id"] for d in await store.lead_decisions(conn, "L1")] == ["a1", "a1", "a2"]
    assert (await store.lead_decisions(conn, "L2"))[0]["detail"] == {"rule": "all"}
    assert [pick(q, "assignment_id", "team", "queued") for q in await store.queued(conn, 10)] == [
        {"assignment_id": "q1", "team": "t", "queued": 1}]
    mine = await store.rep_assignments(conn, "r2")
    assert [(r["assignment_id"], r["profile"]["name"], r["facts"]["lead_id"]) for r in mine] == [("a2", "Ann", "L1")]
    assert await store.assignment(conn, "nope") is None


async def test_timers_come_due_in_order_and_are_handled_once(routing: tuple[RoutingStore, Any]) -> None:
    store, conn = routing
    await store.save_scored(conn, [(f"e{i}", facts(f"L{i}"), {}, T0) for i in range(3)])
    await write(store, conn, assignment("late", "L0", due=timedelta(hours=2)),
                assignment("early", "L1", due=timedelta(hours=1)),
                assignment("nurtured", "L2", owner_kind="nurture", rep_id=None, due=None))
    now = T0 + timedelta(hours=1, minutes=40)  # early is due; late's reminder (at 1h30) is due
    assert [(r["assignment_id"], r["facts"]["lead_id"]) for r in await store.due(conn, now, 10)] == [("early", "L1")]
    assert [r["assignment_id"] for r in await store.reminders_due(conn, now, 10)] == ["late"]
    backlog = await store.timer_backlog(conn, now)
    assert backlog == {"due": (1, T0 + timedelta(hours=1)), "reminder": (1, T0 + timedelta(hours=1, minutes=30))}
    assert (next_due := await store.next_due(conn)) is not None and next_due <= T0 + timedelta(hours=1)
    await store.mark_reminded(conn, ["late"], now)
    await store.mark_followed_up(conn, "early", now)
    await store.add_follow_up(conn, "f1", "early", "L1", "r1", "contacted", "", False, now)
    assert await store.reminders_due(conn, now, 10) == [] and await store.due(conn, now, 10) == []
    assert await store.next_due(conn) == T0 + timedelta(hours=2)  # late's clock; its reminder is done
    assert await store.timer_backlog(conn, now) == {"due": (0, None), "reminder": (0, None)}
    assert [r["assignment_id"] for r in await store.due(conn, T0 + timedelta(days=1), 1)] == ["late"]
    assert [pick(f, "follow_up_id", "outcome", "on_time") for f in await store.lead_follow_ups(conn, "L1")] == [
        {"follow_up_id": "f1", "outcome": "contacted", "on_time": False}]
    assert pick(await store.assignment(conn, "early"), "status") == {"status": "followed_up"}


async def test_a_follow_up_is_found_by_its_idempotency_key(routing: tuple[RoutingStore, Any]) -> None:
    store, conn = routing
    await store.save_scored(conn, [("e1", facts("L1"), {}, T0)])
    await write(store, conn, assignment("a1", "L1", due=timedelta(hours=1)))
    await store.add_follow_up(conn, "f1", "a1", "L1", "r1", "called", "", True, T0, "key-1")
    await store.add_follow_up(conn, "f2", "a1", "L1", "r1", "emailed", "", True, T0)
    assert pick(await store.follow_up_by_key(conn, "key-1"), "follow_up_id", "assignment_id", "on_time") == {
        "follow_up_id": "f1", "assignment_id": "a1", "on_time": True}
    assert await store.follow_up_by_key(conn, "key-2") is None


# --------------------------------------------------------------------------- scoring


def captured(lead_id: str, event_id: str, *, campaign: str | None = "webinar") -> LeadCaptured:
    return LeadCaptured(event_id=event_id, occurred_at=T0, lead_id=lead_id, capture_id=event_id,
                        profile=LeadProfile(email=f"{lead_id.lower()}@acme.example", name="Ann", company="Acme",
                                            title="CTO", country="GB", company_size=500, industry="software"),
                        source=LeadSource.WEBINAR, campaign=campaign, consent=True)


def engaged(lead_id: str, event_id: str) -> LeadEngaged:
    return LeadEngaged(event_id=event_id, occurred_at=T0 + timedelta(hours=1), lead_id=lead_id,
                       activity_id=event_id, behaviour=Behaviour.WEBINAR_ATTENDED, campaign="webinar")


async def test_graded_leads_keep_facts_evidence_and_grade(graded: tuple[GradedLeadStore, Any]) -> None:
    store, conn = graded
    rubric = load_rubric(DEMO_RUBRIC.read_text())
    await store.lock(conn, ["L1", "L2"])
    assert await store.load(conn, ["L1"]) == {}
    await store.add_evidence(conn, [("L2", evidence_from(engaged("L2", "e0")), "webinar")])
    assert await store.has_evidence(conn, "L2") and not await store.has_evidence(conn, "L1")
    early = await store.load(conn, ["L2"])
    assert early["L2"].facts is None and set(early["L2"].evidence) == {"e0"}

    states: dict[str, LeadState] = {}
    results = apply_events(states, [captured("L1", "c1"), captured("L3", "c3", campaign=None)], rubric)
    await store.save(conn, [(g.lead, g.result, g.cause.event_id) for g in results])
    await store.add_evidence(conn, [("L1", evidence_from(engaged("L1", "e1")), "webinar")] * 2)  # once
    loaded = (await store.load(conn, ["L1"]))["L1"]
    assert loaded.facts == states["L1"].facts and loaded.grade == states["L1"].grade
    assert (loaded.campaign, loaded.source, set(loaded.evidence)) == ("webinar", LeadSource.WEBINAR, {"e1"})

    grade = states["L1"].grade
    assert grade is not None
    by_campaign = await store.grade_counts(conn, "campaign")
    assert {k: v[grade] for k, v in by_campaign.items()} == {"webinar": 1, None: 1}
    assert sum((await store.grade_counts(conn, None, campaign="webinar"))[None].values()) == 1
    view = await store.score_view(conn, "L1")
    assert pick(view, "grade", "segment", "campaign") == {"grade": grade, "segment": states["L1"].result.segment,  # type: ignore[union-attr]
                                                          "campaign": "webinar"}
    assert await store.score_view(conn, "L2") is None


async def test_rubric_versions_move_through_their_lifecycle(rubrics: tuple[RubricStore, Any]) -> None:
    store, conn = rubrics
    first = bootstrap_active("v1", T0, "startup")
    await store.insert(conn, first, "version: v1", "first")
    await store.record_activation(conn, first, None)
    draft = new_draft("v2", T0 + timedelta(minutes=1), "mia")
    await store.insert(conn, draft, "version: v2", "second")
    with pytest.raises(VersionExists):
        await store.insert(conn, draft, "version: v2", "again")
    approved = approve(approve(draft, "mia", "marketing", T0 + timedelta(minutes=2)), "sam", "sales",
                       T0 + timedelta(minutes=3))
    await store.save_state(conn, approved)
    stored = await store.get(conn, "v2")
    assert stored is not None and {(a.approver, a.side) for a in stored.meta.approvals} == {
        ("mia", "marketing"), ("sam", "sales")}
    active, retired = activate(approved, first, T0 + timedelta(minutes=4), "lead")
    assert retired is not None
    await store.save_state(conn, retired)
    await store.save_state(conn, active)
    await store.record_activation(conn, active, "v1")
    assert await store.active_version(conn) == "v2"
    current = await store.active(conn)
    assert current is not None and (current.document, current.description) == ("version: v2", "second")
    assert [(s.meta.version, s.meta.status) for s in await store.history(conn)] == [("v1", "retired"),
                                                                                    ("v2", "active")]
    assert [pick(a, "version", "previous_version") for a in await store.activations(conn)] == [
        {"version": "v1", "previous_version": None}, {"version": "v2", "previous_version": "v1"}]
    assert await store.get(conn, "v9") is None
