"""Each in-memory repository the handlers' unit tests use answers as the PostgreSQL
one does: the same scenarios run against both (one suite, two backends), so a handler
test on a fake says something about the service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.capture.domain.imports import RawRow
from services.capture.domain.leads import TimelineEntry
from services.capture.repository import Captured, ImportRepository, ImportStore, LeadRepository, LeadStore
from services.capture.tests.fakes import InMemoryImports, InMemoryLeads
from services.content.domain.effectiveness import Deal as ContentDeal
from services.content.repository import CollateralStore, ContentRepository
from services.content.tests.fakes import InMemoryCollateral, InMemoryUse
from services.content.use_repository import UseRepository
from services.nurture.domain.attribution import MODELS, Deal, credit_all
from services.nurture.repository import (
    CampaignRepository,
    CampaignStore,
    DealRow,
    MemberChange,
    PoolRepository,
    PoolStore,
    ProgramRepository,
    ProgramStore,
    TouchRow,
)
from services.nurture.tests.fakes import InMemoryCampaigns, InMemoryPool, InMemoryPrograms
from shared.db import create_pool, migrate
from shared.events import CampaignDefined, CrmOutcomeReported, LeadProfile
from tests import harness

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def pool(private_namespace: harness.Namespace) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(private_namespace.database_url, min_size=1, max_size=2)
    yield pool
    await pool.close()


Backend = tuple[Any, Any]  # (store, conn)


async def backend(kind: str, pool: asyncpg.Pool, service: str, real: Callable[[str], Any],
                  fake: Callable[[], Any]) -> AsyncIterator[Backend]:
    if kind == "memory":
        yield fake(), None
        return
    await migrate(pool, service, ROOT / "services" / service / "migrations")
    async with pool.acquire() as conn:
        yield real(service), conn


@pytest.fixture(params=["postgres", "memory"])
async def leads(request: pytest.FixtureRequest, pool: asyncpg.Pool) -> AsyncIterator[tuple[LeadStore, Any]]:
    async for b in backend(request.param, pool, "capture", LeadRepository, InMemoryLeads):
        yield b


@pytest.fixture(params=["postgres", "memory"])
async def imports(request: pytest.FixtureRequest, pool: asyncpg.Pool) -> AsyncIterator[tuple[ImportStore, Any]]:
    async for b in backend(request.param, pool, "capture", ImportRepository, InMemoryImports):
        yield b


@pytest.fixture(params=["postgres", "memory"])
async def nurture_pool(request: pytest.FixtureRequest, pool: asyncpg.Pool) -> AsyncIterator[tuple[PoolStore, Any]]:
    async for b in backend(request.param, pool, "nurture", PoolRepository, InMemoryPool):
        yield b


@pytest.fixture(params=["postgres", "memory"])
async def collateral(request: pytest.FixtureRequest,
                     pool: asyncpg.Pool) -> AsyncIterator[tuple[CollateralStore, Any]]:
    async for b in backend(request.param, pool, "content", ContentRepository,
                           lambda: InMemoryCollateral(clock=lambda: datetime.now(UTC))):
        yield b


def pick(row: Any, *keys: str) -> dict[str, Any]:
    assert row is not None
    return {k: row[k] for k in keys}


PROFILE = LeadProfile(email="ann@acme.com", name="Ann", company="Acme", country="GB", company_size=500)


async def test_leads_one_per_email_and_repeats_add_sources_and_campaigns(leads: tuple[LeadStore, Any]) -> None:
    store, conn = leads
    assert await store.lock_by_email(conn, "ann@acme.com") is None
    assert await store.insert_lead(conn, "L1", "ann@acme.com", PROFILE, True, "web_form", None, T0)
    assert not await store.insert_lead(conn, "L2", "ann@acme.com", PROFILE, True, "badge_scan", "expo", T0)
    assert (await store.lock_by_email(conn, "ann@acme.com"))["lead_id"] == "L1"  # type: ignore[index]
    merged = PROFILE.model_copy(update={"phone": "+44 1"})
    await store.record_repeat(conn, "L1", merged, False, "badge_scan", "expo", T0 + timedelta(hours=1))
    await store.record_repeat(conn, "L1", merged, False, "badge_scan", "expo", T0 - timedelta(hours=1))
    row = await store.find_by_email(conn, "ann@acme.com")
    assert pick(row, "lead_id", "consent", "first_source", "first_campaign", "sources", "campaigns",
                "capture_count", "first_captured_at", "last_captured_at", "status", "grade") == {
        "lead_id": "L1", "consent": False, "first_source": "web_form", "first_campaign": None,
        "sources": ["web_form", "badge_scan"], "campaigns": ["expo"], "capture_count": 3,
        "first_captured_at": T0, "last_captured_at": T0 + timedelta(hours=1), "status": "captured", "grade": None}
    assert LeadProfile.model_validate(row["profile"]) == merged  # type: ignore[index]
    assert await store.exists(conn, "L1") and not await store.exists(conn, "L2")
    assert await store.get(conn, "L2") is None


async def test_captures_and_activities_are_found_by_key(leads: tuple[LeadStore, Any]) -> None:
    store, conn = leads
    await store.insert_lead(conn, "L1", "ann@acme.com", PROFILE, True, "web_form", None, T0)
    await store.insert_capture(conn, "C1", "k1", "L1", "web_form", None, T0)
    await store.insert_capture(conn, "C2", None, "L1", "web_form", None, T0)
    await store.insert_activity(conn, "X1", "a1", "L1", "page_visit", T0)
    assert pick(await store.capture_by_key(conn, "k1"), "capture_id", "lead_id") == {"capture_id": "C1",
                                                                                      "lead_id": "L1"}
    assert pick(await store.activity_by_key(conn, "a1"), "activity_id", "lead_id") == {"activity_id": "X1",
                                                                                        "lead_id": "L1"}
    assert await store.capture_by_key(conn, "k2") is None and await store.activity_by_key(conn, "a2") is None


async def test_timeline_keeps_one_entry_per_event_in_time_order(leads: tuple[LeadStore, Any]) -> None:
    store, conn = leads
    await store.add_timeline(conn, [("e2", "L1", TimelineEntry("scored", {"grade": "B"}), T0 + timedelta(1)),
                                    ("e1", "L1", TimelineEntry("captured", {"source": "web_form"}), T0)])
    await store.add_timeline(conn, [("e2", "L1", TimelineEntry("changed", {}), T0),
                                    ("e3", "L9", TimelineEntry("captured", {}), T0)])
    entries = [pick(t, "event_id", "type", "occurred_at", "summary") for t in await store.timeline(conn, "L1")]
    assert entries == [{"event_id": "e1", "type": "captured", "occurred_at": T0, "summary": {"source": "web_form"}},
                       {"event_id": "e2", "type": "scored", "occurred_at": T0 + timedelta(1),
                        "summary": {"grade": "B"}}]


async def test_the_view_takes_the_newest_assignment_and_only_its_follow_ups(leads: tuple[LeadStore, Any]) -> None:
    store, conn = leads
    await store.insert_lead(conn, "L1", "ann@acme.com", PROFILE, True, "web_form", None, T0)
    await store.update_view(conn, "L1", {"grade": "B", "score": 60.0})
    await store.update_view(conn, "L1", {"assignment_id": "A2", "rep_id": "r2", "status": "assigned"},
                            assigned_at=T0 + timedelta(hours=2))
    await store.update_view(conn, "L1", {"assignment_id": "A1", "rep_id": "r1", "status": "assigned"},
                            assigned_at=T0 + timedelta(hours=1))
    await store.update_view(conn, "L1", {"status": "followed-up"}, assignment_id="A1")
    assert pick(await store.get(conn, "L1"), "grade", "score", "assignment_id", "rep_id", "status") == {
        "grade": "B", "score": 60.0, "assignment_id": "A2", "rep_id": "r2", "status": "assigned"}
    await store.update_view(conn, "L1", {"status": "followed-up", "due_at": None}, assignment_id="A2")
    assert pick(await store.get(conn, "L1"), "status", "assigned_at") == {"status": "followed-up",
                                                                          "assigned_at": T0 + timedelta(hours=2)}


async def test_a_batch_of_captures_and_of_view_changes_does_what_one_at_a_time_does(
        leads: tuple[LeadStore, Any]) -> None:
    store, conn = leads
    ann = Captured("L1", "ann@acme.com", PROFILE, True, "web_form", None, T0)
    bo = Captured("L2", "bo@beta.com", PROFILE.model_copy(update={"email": "bo@beta.com"}), False, "badge_scan",
                  "expo", T0)
    assert await store.insert_leads(conn, [ann, bo]) == {"ann@acme.com", "bo@beta.com"}
    assert await store.insert_leads(conn, [ann]) == set()
    assert set(await store.lock_people(conn, ["bo@beta.com", "cy@x.com", "ann@acme.com"])) == {
        "ann@acme.com", "bo@beta.com"}
    later = T0 + timedelta(hours=1)
    await store.record_repeats(conn, [Captured("L1", "ann@acme.com", PROFILE.model_copy(update={"title": "CTO"}),
                                               False, "list_import", "expo", later)])
    assert pick(await store.get(conn, "L1"), "capture_count", "consent", "sources", "campaigns",
                "last_captured_at") == {"capture_count": 2, "consent": False, "sources": ["web_form", "list_import"],
                                        "campaigns": ["expo"], "last_captured_at": later}
    assert (await store.get(conn, "L1") or {})["profile"]["title"] == "CTO"
    await store.insert_captures(conn, [("c1", "k1", ann), ("c2", None, bo)])
    assert set(await store.captures_by_keys(conn, ["k1", "k9"])) == {"k1"}
    assert await store.captures_known(conn, ["c1", "c2", "c3"]) == {"c1", "c2"}
    await store.update_views(conn, [("L1", {"grade": "A", "score": 80.0, "top_reasons": [{"why": "x"}]}),
                                    ("L2", {"grade": "C", "score": 20.0, "top_reasons": []})])
    assert pick(await store.get(conn, "L1"), "grade", "score", "top_reasons") == {
        "grade": "A", "score": 80.0, "top_reasons": [{"why": "x"}]}
    assigned = {"owner_kind": "rep", "rep_id": "r1", "team": "t", "assignment_id": "A2", "due_at": later,
                "status": "assigned"}
    await store.update_views(conn, [("L1", assigned)], assigned_at=[later])
    await store.update_views(conn, [("L1", {**assigned, "assignment_id": "A1"}), ("L2", assigned)],
                             assigned_at=[T0, T0])  # older than L1's: L1 keeps A2
    assert pick(await store.get(conn, "L1"), "assignment_id", "due_at") == {"assignment_id": "A2", "due_at": later}
    assert pick(await store.get(conn, "L2"), "assignment_id", "status") == {"assignment_id": "A2",
                                                                            "status": "assigned"}


async def test_the_pool_counts_entries_and_notes_every_move(nurture_pool: tuple[PoolStore, Any]) -> None:
    store, conn = nurture_pool
    await store.enter(conn, "L1", "long-term", "low-grade", "C", "smb", "webinar", T0, None)
    await store.enter(conn, "L1", "re-engage", "missed-follow-up", "C", None, None, T0 + timedelta(1), "r7")
    assert await store.set_status(conn, "L1", "ready-for-sales", T0 + timedelta(2), grade="B")
    assert not await store.set_status(conn, "L9", "ready-for-sales", T0, grade="B")
    await store.update_grade(conn, "L1", "B", 71.5, "smb-tech")
    await store.set_status(conn, "L1", "returned-to-sales", T0 + timedelta(3), last_rep_id="r1")
    await store.enter(conn, "L1", "cold", "low-grade", "D", None, None, T0 + timedelta(9), None)
    row = await store.get(conn, "L1")
    assert pick(row, "status", "track", "reason", "grade", "score", "segment", "campaign", "entered_at",
                "updated_at", "times_entered", "last_rep_id") == {
        "status": "nurturing", "track": "cold", "reason": "low-grade", "grade": "D", "score": 71.5,
        "segment": "smb-tech", "campaign": "webinar", "entered_at": T0 + timedelta(9),
        "updated_at": T0 + timedelta(9), "times_entered": 2, "last_rep_id": "r1"}
    assert [(h["status"], h.get("track"), h.get("grade"), h.get("last_rep_id")) for h in row["history"]] == [  # type: ignore[index]
        ("nurturing", "long-term", None, None), ("nurturing", "re-engage", None, None),
        ("ready-for-sales", None, "B", None), ("returned-to-sales", None, None, "r1"),
        ("nurturing", "cold", None, None)]
    assert await store.get(conn, "L9") is None


async def test_the_pool_lists_newest_first_and_counts_by_status_and_track(nurture_pool: tuple[PoolStore, Any]) -> None:
    store, conn = nurture_pool
    for i, (track, status) in enumerate([("long-term", None), ("cold", None), ("long-term", "ready-for-sales")]):
        await store.enter(conn, f"L{i}", track, "low-grade", "C", None, None, T0 + timedelta(hours=i), None)
        if status:
            await store.set_status(conn, f"L{i}", status, T0 + timedelta(hours=9))
    assert [r["lead_id"] for r in await store.list_pool(conn, None, None, 10, 0)] == ["L2", "L1", "L0"]
    assert [r["lead_id"] for r in await store.list_pool(conn, "nurturing", "long-term", 10, 0)] == ["L0"]
    assert [r["lead_id"] for r in await store.list_pool(conn, None, None, 1, 1)] == ["L1"]
    assert [(c["status"], c["track"], c["leads"]) for c in await store.counts(conn)] == [
        ("nurturing", "cold", 1), ("nurturing", "long-term", 1), ("ready-for-sales", "long-term", 1)]


def new_item(item_id: str, title: str, kind: str, segments: list[str], stages: list[str], **kw: Any) -> dict[str, Any]:
    return {"item_id": item_id, "title": title, "kind": kind, "url": None, "summary": kw.pop("summary", ""),
            "segments": segments, "stages": stages, "products": kw.pop("products", []),
            "personas": kw.pop("personas", []), "owner": "m@x.example", "status": "draft", "created_at": T0,
            "updated_at": T0, **kw}


async def test_collateral_is_stored_as_drafts_and_filtered_by_tags(collateral: tuple[CollateralStore, Any]) -> None:
    store, conn = collateral
    row = await store.create(conn, new_item("I1", "Case", "case_study", ["agency"], ["decision"],
                                            products=["router"], personas=["cto"]))
    assert pick(row, "item_id", "status", "segments", "stages", "owner", "current_version", "effectiveness") == {
        "item_id": "I1", "status": "draft", "segments": ["agency"], "stages": ["decision"], "owner": "m@x.example",
        "current_version": None, "effectiveness": 0}
    await store.create(conn, new_item("I2", "Deck", "deck", [], []))
    assert pick(await store.get(conn, "I2"), "title", "kind", "url") == {"title": "Deck", "kind": "deck", "url": None}
    assert await store.get(conn, "I9") is None
    assert {r["item_id"] for r in await store.list_items(conn, "draft", "agency", "decision")} == {"I1", "I2"}
    assert {r["item_id"] for r in await store.list_items(conn, None, "enterprise", None)} == {"I2"}
    assert {r["item_id"] for r in await store.list_items(conn, None, None, "awareness")} == {"I2"}
    assert {r["item_id"] for r in await store.list_items(conn, None, None, None, kind="deck")} == {"I2"}
    assert {r["item_id"] for r in await store.list_items(conn, None, None, None, product="switch")} == {"I2"}
    assert {r["item_id"] for r in await store.list_items(conn, None, None, None, persona="cto")} == {"I1", "I2"}
    assert await store.list_items(conn, "published", None, None) == []
    with pytest.raises(ValueError):
        await store.update(conn, "I1", {"owner": "someone else"})


async def test_collateral_text_is_searchable_and_live_items_found_for_a_lead(
        collateral: tuple[CollateralStore, Any]) -> None:
    store, conn = collateral
    await store.create(conn, new_item("I1", "Agency case study", "case_study", ["agency"], [],
                                      summary="How a media agency won"))
    await store.create(conn, new_item("I2", "Pricing deck", "deck", [], ["decision"]))
    await store.update(conn, "I1", {"body_text": "The onboarding playbooks for agencies"})
    assert [r["item_id"] for r in await store.list_items(conn, None, None, None, "playbooks onboarding")] == ["I1"]
    assert [r["item_id"] for r in await store.list_items(conn, None, None, None, "pricing")] == ["I2"]
    assert await store.list_items(conn, None, None, None, "webinar") == []
    assert await store.for_lead(conn, "agency", None) == []  # nothing published
    for item_id, effectiveness in (("I1", 0.2), ("I2", 0.9)):
        await store.update(conn, item_id, {"status": "published", "published_version": 1, "published_at": T0,
                                           "retire_at": T0 + timedelta(days=365), "effectiveness": effectiveness})
    assert [r["item_id"] for r in await store.for_lead(conn, "agency", None)] == ["I2", "I1"]
    assert [r["item_id"] for r in await store.for_lead(conn, "agency", "awareness")] == ["I1"]
    await store.update(conn, "I2", {"status": "retired"})
    assert [r["item_id"] for r in await store.for_lead(conn, "smb", None)] == []


async def test_collateral_versions_reviews_history_shares_and_usage(collateral: tuple[CollateralStore, Any]) -> None:
    from services.content.domain.lifecycle import Review
    store, conn = collateral
    await store.create(conn, new_item("I1", "Case", "case_study", [], []))
    for n in (1, 2):
        await store.add_version(conn, {"item_id": "I1", "version": n, "filename": f"v{n}.pdf",
                                       "content_type": "application/pdf", "size_bytes": 10 * n, "sha256": f"h{n}",
                                       "storage_key": f"k{n}", "text_chars": 0, "created_by": "mia",
                                       "created_at": T0})
    assert [v["version"] for v in await store.versions(conn, "I1")] == [1, 2]
    assert pick(await store.version(conn, "I1", 2), "sha256", "size_bytes") == {"sha256": "h2", "size_bytes": 20}
    assert await store.version(conn, "I1", 3) is None
    await store.add_review(conn, "I1", Review("sam", "sales_manager", 1, "changes_requested", "fix", T0))
    await store.add_review(conn, "I1", Review("rex", "field_rep", 2, "approved", "", T0))
    assert [(r["reviewer"], r["version"], r["decision"]) for r in await store.reviews(conn, "I1")] == [
        ("sam", 1, "changes_requested"), ("rex", 2, "approved")]
    await store.add_history(conn, "I1", {"action": "create", "from_status": None, "to_status": "draft",
                                         "version": None, "actor_id": "mia", "actor_role": "marketing",
                                         "comment": "", "at": T0})
    assert [pick(h, "action", "to_status", "actor_id") for h in await store.history(conn, "I1")] == [
        {"action": "create", "to_status": "draft", "actor_id": "mia"}]
    share = {"share_id": "S1", "token": "tok1", "item_id": "I1", "version": 2, "lead_id": "L1", "rep_id": "rex",
             "copy_key": None, "copy_sha256": None, "created_at": T0}
    assert (await store.add_share(conn, share))["share_id"] == "S1"
    assert (await store.add_share(conn, {**share, "share_id": "S2", "token": "tok2"}))["share_id"] == "S1"
    assert pick(await store.share_by_token(conn, "tok1"), "share_id", "status", "successor_id") == {
        "share_id": "S1", "status": "draft", "successor_id": None}
    assert await store.share_by_token(conn, "tok2") is None
    await store.add_usage(conn, "S1", "shared", "I1", 2, "S1", "L1", "rex", T0)
    for usage_id in ("V1", "V2", "V2"):
        await store.add_usage(conn, usage_id, "viewed", "I1", 2, "S1", "L1", "rex", T0)
    assert await store.usage_counts(conn, "I1") == {"shared": 1, "viewed": 2}


async def test_collateral_timers_find_due_retirements_and_warnings(collateral: tuple[CollateralStore, Any]) -> None:
    store, conn = collateral
    retire_at = T0 + timedelta(days=365)
    for item_id, warned in (("I1", None), ("I2", 4), ("I3", 2)):
        await store.create(conn, new_item(item_id, "Case", "case_study", [], []))
        await store.update(conn, item_id, {"status": "published", "published_version": 1, "published_at": T0,
                                           "retire_at": retire_at, "warned_weeks": warned})
    four_weeks = timedelta(weeks=4).total_seconds()
    now = retire_at - timedelta(weeks=3)
    assert [r["item_id"] for r in await store.warnings_due(conn, now, four_weeks, 2, 10)] == ["I1", "I2"]
    assert await store.warnings_due(conn, retire_at - timedelta(weeks=5), four_weeks, 2, 10) == []
    assert await store.retirements_due(conn, now, 10) == []
    assert [r["item_id"] for r in await store.retirements_due(conn, retire_at, 2)] == ["I1", "I2"]
    assert await store.timer_backlog(conn, retire_at) == (3, retire_at)
    g = await store.gauges(conn, now, timedelta(days=30).total_seconds())
    assert (g["by_status"], g["retiring_soon"], g["reviews_waiting"]) == ({"published": 3}, 3, 0)
    await store.update(conn, "I3", {"status": "withdrawn"})
    assert await store.timer_backlog(conn, retire_at) == (2, retire_at)


async def test_collateral_retirement_rows_held_by_one_replica_are_skipped_by_another(pool: asyncpg.Pool) -> None:
    await migrate(pool, "content", ROOT / "services" / "content" / "migrations")
    store = ContentRepository("content")
    retire_at = T0 + timedelta(days=365)
    async with pool.acquire() as conn:
        for item_id in ("R1", "R2"):
            await store.create(conn, new_item(item_id, "Case", "case_study", [], []))
            await store.update(conn, item_id, {"status": "published", "published_version": 1, "published_at": T0,
                                               "retire_at": retire_at})
    async with pool.acquire() as a, pool.acquire() as b, a.transaction(), b.transaction():
        first = [r["item_id"] for r in await store.retirements_due(a, retire_at, 1)]
        second = [r["item_id"] for r in await store.retirements_due(b, retire_at, 10)]
    assert first == ["R1"] and second == ["R2"]


async def test_a_leads_segment_is_its_latest_grading(collateral: tuple[CollateralStore, Any]) -> None:
    store, conn = collateral
    assert await store.segment_of(conn, "L1") is None
    await store.remember_segment(conn, "L1", "agency", "B", T0 + timedelta(hours=1))
    await store.remember_segment(conn, "L1", "smb", "C", T0)  # older, delivered later
    assert await store.segment_of(conn, "L1") == "agency"
    await store.remember_segment(conn, "L1", "enterprise", "A", T0 + timedelta(hours=2), "Ann", "Acme")
    assert await store.segment_of(conn, "L1") == "enterprise"
    assert pick(await store.lead(conn, "L1"), "segment", "name", "company") == {
        "segment": "enterprise", "name": "Ann", "company": "Acme"}
    assert await store.lead(conn, "L9") is None
    assert await store.known_segments(conn, ["agency", "smb", "enterprise", "martians"]) == {"agency", "smb",
                                                                                           "enterprise"}


@pytest.fixture(params=["postgres", "memory"])
async def campaigns(request: pytest.FixtureRequest, pool: asyncpg.Pool) -> AsyncIterator[tuple[CampaignStore, Any]]:
    async for b in backend(request.param, pool, "nurture", CampaignRepository, InMemoryCampaigns):
        yield b


async def test_campaign_members_move_and_the_report_aggregates_them(campaigns: tuple[CampaignStore, Any]) -> None:
    store, conn = campaigns
    for cid, ctype in (("web", "webinar"), ("ads", "ad")):
        await store.save_campaign(conn, CampaignDefined(campaign_id=cid, version=1, name=cid, type=ctype, owner="mo",
                                                        starts_at=T0, cost_minor=1000))
    await store.remember_leads(conn, [(f"L{i}", f"l{i}@x.example", True, T0) for i in range(3)])
    await store.set_grades(conn, [("L0", "A"), ("L1", "C"), ("L0", "B")])
    assert await store.lead_ids_by_email(conn, ["l1@x.example", "nobody@x.example"]) == {"l1@x.example": "L1"}
    assert await store.known_leads(conn, ["L2", "L9"]) == {"L2"}
    for i in range(3):
        await store.apply(conn, MemberChange("web", f"L{i}", T0, "invited", ("invited_at",), channel="list",
                                             new_lead=i == 0))
    await store.apply(conn, MemberChange("web", "L0", T0 + timedelta(1), "no_show", ("no_show_at",)))
    await store.apply(conn, MemberChange("web", "L0", T0 + timedelta(2), "attended", ("attended_at",),
                                         clear="no_show_at"))
    await store.apply(conn, MemberChange("web", "L0", T0 + timedelta(3), "followed_up", ("followed_up_at",),
                                         on_time=True))
    await store.apply(conn, MemberChange("ads", "L0", T0 + timedelta(3), None, ()))
    member = await store.member(conn, "web", "L0")
    assert pick(member, "status", "grade", "new_lead", "channel", "no_show_at", "followed_up_on_time") == {
        "status": "followed_up", "grade": "B", "new_lead": True, "channel": "list", "no_show_at": None,
        "followed_up_on_time": True}
    assert [(m["campaign_id"], m["status"], m["campaign_type"]) for m in await store.members_of_lead(conn, "L0")] == [
        ("ads", "joined", "ad"), ("web", "followed_up", "webinar")]
    new = await store.add_touches(conn, [TouchRow("t1", "L0", "web", T0, "list"),
                                         TouchRow("t2", "L0", "ads", T0 + timedelta(3), "activity")])
    assert [t.touch_id for t in await store.add_touches(conn, [*new, TouchRow("t3", "L1", "web", T0, "list")])] == [
        "t3"]
    assert sorted(t.campaign_id for t in (await store.touches_of(conn, ["L0"]))["L0"]) == ["ads", "web"]
    await store.save_deal(conn, DealRow("O1", "L0", "open", "discovery", None, None, T0 + timedelta(4), None,
                                        T0 + timedelta(4)))
    closed = T0 + timedelta(9)
    await store.save_deal(conn, DealRow("O1", "L0", "won", None, 7777, "USD", T0 + timedelta(8), closed, closed))
    await store.save_deal(conn, DealRow("O1", "L0", "lost", None, None, None, None, None, closed))  # won stays won
    [deal] = await store.won_deals(conn, ["L0"])
    assert pick(deal, "status", "stage", "amount_minor", "opened_at", "closed_at") == {
        "status": "won", "stage": "discovery", "amount_minor": 7777, "opened_at": T0 + timedelta(4),
        "closed_at": closed}
    credits = credit_all((await store.touches_of(conn, ["L0"]))["L0"], Deal("O1", 7777, closed))
    await store.replace_credits(conn, ["O1"], credits, {"O1": ("USD", closed)})
    await store.replace_credits(conn, ["O1"], credits, {"O1": ("USD", closed)})  # replaced, not added
    row = await store.report(conn, "web", "USD")
    assert pick(row, "members", "new_leads", "grade_a", "grade_b", "grade_c", "invited", "attended", "no_show",
                "followed_up", "followed_up_on_time", "opportunities", "won_deals", "closed_revenue_minor") == {
        "members": 3, "new_leads": 1, "grade_a": 0, "grade_b": 1, "grade_c": 1, "invited": 3, "attended": 1,
        "no_show": 0, "followed_up": 1, "followed_up_on_time": 1, "opportunities": 1, "won_deals": 1,
        "closed_revenue_minor": 7777}
    ads = await store.report(conn, "ads", "USD")
    assert {m: int(row["credited"].get(m, 0)) + int(ads["credited"].get(m, 0)) for m in MODELS} == dict.fromkeys(
        MODELS, 7777)
    period = await store.period(conn, T0, T0 + timedelta(30))
    assert sum(int(r["credited_minor"]) for r in period if r["model"] == "linear") == 7777
    assert [(c["campaign_type"], c["currency"], int(c["cost_minor"]), c["campaigns"])
            for c in await store.period_costs(conn, T0, T0 + timedelta(30))] == [("ad", "USD", 1000, 1),
                                                                                 ("webinar", "USD", 1000, 1)]
    assert {(r["campaign_id"], r["status"], r["members"]) for r in await store.status_counts(conn)} == {
        ("web", "invited", 2), ("web", "followed_up", 1), ("ads", "joined", 1)}
    assert {(r["campaign_id"], r["currency"], int(r["revenue_minor"])) for r in await store.closed_revenue(conn)} == {
        ("web", "USD", 7777), ("ads", "USD", 7777)}


async def test_capture_keeps_campaigns_and_outcomes_until_matched(leads: tuple[LeadStore, Any]) -> None:
    store, conn = leads
    await store.save_campaign(conn, CampaignDefined(campaign_id="expo", version=2, name="Expo", type="trade_show",
                                                    owner="mo", starts_at=T0))
    await store.save_campaign(conn, CampaignDefined(campaign_id="expo", version=1, name="old", type="trade_show",
                                                    owner="mo", starts_at=T0))
    assert (await store.known_campaign(conn, "expo"), await store.known_campaign(conn, "nope")) == (True, False)
    assert [(c["campaign_id"], c["name"], c["version"]) for c in await store.list_campaigns(conn)] == [
        ("expo", "Expo", 2)]
    await store.insert_lead(conn, "L1", "ann@acme.com", PROFILE, True, "web_form", None, T0)
    await store.insert_lead(conn, "L2", "bo@acme.com", PROFILE.model_copy(update={"email": "bo@acme.com"}), True,
                            "web_form", None, T0 + timedelta(1))
    assert (await store.lead_by_domain(conn, "acme.com") or {})["lead_id"] == "L2"  # the most recently captured
    o = CrmOutcomeReported(source="crm", opportunity_id="O1", kind="opportunity_created", email="cy@globex.example",
                           occurred_at=T0)
    assert await store.add_outcome(conn, "X1", o, "cy@globex.example", None)
    assert not await store.add_outcome(conn, "X1", o, "cy@globex.example", None)
    assert await store.add_outcome(conn, "X2", o.model_copy(update={"email": None, "account_domain": "globex.example"}),
                                   None, "globex.example")
    assert await store.count_unmatched(conn) == 2
    assert [w["outcome_id"] for w in await store.waiting_outcomes(conn, "cy@globex.example", "globex.example")] == [
        "X1", "X2"]
    await store.match_outcome(conn, "X1", "L9", "email", T0)
    assert [(r["outcome_id"], r["lead_id"]) for r in await store.list_outcomes(conn, True, 10, 0)] == [("X1", "L9")]
    assert [r["outcome_id"] for r in await store.list_outcomes(conn, False, 10, 0)] == ["X2"]
    assert await store.count_unmatched(conn) == 1


# --------------------------------------------------------------------------- routing


@pytest.fixture(params=["postgres", "memory"])
async def routing_store(request: pytest.FixtureRequest, pool: asyncpg.Pool) -> AsyncIterator[tuple[Any, Any]]:
    from services.routing.repository import RoutingRepository
    from services.routing.tests.fakes import InMemoryRouting

    async for b in backend(request.param, pool, "routing", RoutingRepository, InMemoryRouting):
        yield b


def _assignment(lead_id: str, owner_kind: str, due: datetime, rep_id: str | None = None) -> Any:
    from services.routing.domain.lifecycle import ActiveAssignment

    return ActiveAssignment(assignment_id=f"a-{lead_id}", lead_id=lead_id, owner_kind=owner_kind, rep_id=rep_id,
                         team="field", rule="a-to-field", reason="test", trigger="scored", attempt=0, chain=(),
                         previous_assignment_id=None, status="open", assigned_at=T0, due_at=due, remind_at=None)


async def test_routing_takes_the_most_urgent_queued_lead_and_keeps_the_deal_on_its_assignment(
        routing_store: tuple[Any, Any]) -> None:
    from services.routing.domain.router import LeadFacts
    from services.routing.repository import PendingWrites

    store, conn = routing_store
    facts = {i: LeadFacts(lead_id=i, grade="A", segment="ent-tech-na", hot=i == "L2") for i in ("L1", "L2", "L3")}
    await store.save_scored(conn, [(f"s-{i}", f, {"name": i}, T0) for i, f in facts.items()])
    writes = PendingWrites()
    for row in (_assignment("L1", "queue", T0 + timedelta(hours=48)),
                _assignment("L2", "queue", T0 + timedelta(hours=1)),
                _assignment("L3", "rep", T0 + timedelta(hours=2), rep_id="us-am-1")):
        writes.assignments[row.assignment_id] = row
    await store.flush(conn, writes)
    nxt = await store.next_queued(conn, "field")
    assert pick(nxt, "assignment_id", "lead_id") == {"assignment_id": "a-L2", "lead_id": "L2"}
    assert LeadFacts.from_dict(nxt["facts"]).hot is True
    assert await store.next_queued(conn, "inside_sales") is None

    writes.close("a-L3", "converted", "opportunity opp-9", T0 + timedelta(hours=1))
    await store.flush(conn, writes)
    await store.record_deal(conn, "a-L3", "opp-9", "opportunity", None, None, None, T0 + timedelta(hours=1))
    await store.record_deal(conn, "a-L3", "opp-9", "won", 990_000, "EUR", T0.date(), T0 + timedelta(days=9))
    row = await store.assignment(conn, "a-L3")
    assert pick(row, "status", "opportunity_id", "deal_status", "deal_amount_minor", "deal_currency",
                "deal_closed_on", "deal_updated_at") == {
        "status": "converted", "opportunity_id": "opp-9", "deal_status": "won", "deal_amount_minor": 990_000,
        "deal_currency": "EUR", "deal_closed_on": T0.date(), "deal_updated_at": T0 + timedelta(days=9)}
    # A converted lead is still its lead's current assignment (it is never routed again).
    active = await store.active_for(conn, ["L3"])
    assert (active["L3"].assignment_id, active["L3"].status) == ("a-L3", "converted")




async def test_routing_answers_a_teams_board_open_leads_ended_clocks_and_escalations(
        routing_store: tuple[Any, Any]) -> None:
    from dataclasses import replace

    from services.routing.domain.router import LeadFacts
    from services.routing.repository import PendingWrites

    store, conn = routing_store
    await store.save_scored(conn, [(f"s-{i}", LeadFacts(lead_id=i, grade="B", segment="mid"), {"name": i}, T0)
                                   for i in ("L1", "L2", "L3", "L4")])
    writes = PendingWrites()
    rows = [_assignment("L1", "rep", T0 + timedelta(hours=4), rep_id="r1"),
            _assignment("L2", "rep", T0 + timedelta(hours=2), rep_id="r2"),
            _assignment("L3", "queue", T0 + timedelta(hours=3)),
            _assignment("L4", "rep", T0 + timedelta(hours=1), rep_id="r1")]
    for row in rows:
        writes.assignments[row.assignment_id] = row
    await store.flush(conn, writes)
    # L2 followed up on time (twice: only the first ends the clock); L4 ran out and went to r2
    await store.add_follow_up(conn, "f1", "a-L2", "L2", "r2", "contacted", "", True, T0 + timedelta(hours=1))
    await store.add_follow_up(conn, "f2", "a-L2", "L2", "r2", "contacted", "", False, T0 + timedelta(hours=5))
    await store.mark_followed_up(conn, "a-L2", T0 + timedelta(hours=1))
    writes.close("a-L4", "missed", "escalation 1 of 2 after missed follow-up", T0 + timedelta(minutes=90))
    writes.assignments["a-L4b"] = replace(_assignment("L4", "rep", T0 + timedelta(hours=5), rep_id="r2"),
                                          assignment_id="a-L4b", trigger="escalation", attempt=1,
                                          previous_assignment_id="a-L4", reason="escalated to r2")
    await store.flush(conn, writes)

    assert [r["lead_id"] for r in await store.team_open(conn, "field", 10)] == ["L3", "L1", "L4"]
    assert (await store.team_open(conn, "field", 1))[0]["profile"] == {"name": "L3"}
    assert await store.team_open(conn, "agency", 10) == []
    ended = await store.clocks_ended(conn, "field", T0)
    assert [pick(r, "assignment_id", "rep_id", "ended_at", "on_time") for r in ended] == [
        {"assignment_id": "a-L2", "rep_id": "r2", "ended_at": T0 + timedelta(hours=1), "on_time": True},
        {"assignment_id": "a-L4", "rep_id": "r1", "ended_at": T0 + timedelta(minutes=90), "on_time": False}]
    assert await store.clocks_ended(conn, "field", T0 + timedelta(hours=2)) == []
    (esc,) = await store.escalations(conn, "field", T0, 10)
    assert pick(esc, "missed_assignment_id", "missed_rep_id", "assignment_id", "rep_id", "attempt", "reason") == {
        "missed_assignment_id": "a-L4", "missed_rep_id": "r1", "assignment_id": "a-L4b", "rep_id": "r2",
        "attempt": 1, "reason": "escalated to r2"}
    assert await store.escalations(conn, "field", T0 + timedelta(hours=2), 10) == []
    chosen = await store.next_queued(conn, "field", "a-L3")
    assert chosen["assignment_id"] == "a-L3"
    assert await store.next_queued(conn, "field", "a-L1") is None  # a rep's, not queued

@pytest.fixture(params=["postgres", "memory"])
async def use(request: pytest.FixtureRequest, pool: asyncpg.Pool) -> AsyncIterator[tuple[Any, Any, Any]]:
    """Collateral in use, beside the library it reads items and segments from."""
    library = InMemoryCollateral(clock=lambda: T0)
    async for store, conn in backend(request.param, pool, "content", UseRepository, lambda: InMemoryUse(library)):
        yield store, conn, (ContentRepository("content") if request.param == "postgres" else library)


async def test_deals_keep_their_folded_facts_and_join_the_leads_segment(use: tuple[Any, Any, Any]) -> None:
    store, conn, library = use
    assert await store.deal(conn, "O1") is None
    deal = ContentDeal("O1", "L1", stage="proposal", stage_at=T0, opened_on=T0.date(), outcome="won",
                closed_on=(T0 + timedelta(days=9)).date(), closed_at=T0 + timedelta(days=9), amount_minor=12_345,
                currency="EUR")
    await store.save_deal(conn, deal, T0)
    await store.save_deal(conn, ContentDeal("O2", "L2"), T0)
    assert await store.deal(conn, "O1") == deal
    await library.remember_segment(conn, "L1", "smb", "A", T0)
    assert [(d.opportunity_id, d.segment, d.cycle_days) for d in await store.deals(conn)] == [
        ("O1", "smb", 9), ("O2", None, None)]
    assert await store.segment_known(conn, "smb") and not await store.segment_known(conn, "ent")


async def test_ratings_scores_messages_and_answers_round_trip(use: tuple[Any, Any, Any]) -> None:
    store, conn, library = use
    for item_id, status, published in (("I1", "published", 1), ("I2", "draft", 1), ("I3", "withdrawn", 1),
                                       ("I4", "draft", None)):
        await library.create(conn, {"item_id": item_id, "title": item_id, "kind": "case_study", "owner": "m",
                                    "segments": ["smb"] if item_id != "I2" else [], "status": status,
                                    "published_version": published})
    # live: a published version, neither retired nor withdrawn (I2 is being revised)
    assert [r["item_id"] for r in await store.live_items(conn)] == ["I1", "I2"]
    assert [r["item_id"] for r in await store.live_items(conn, "ent")] == ["I2"]
    await library.add_usage(conn, "U1", "shared", "I1", 1, None, "L1", "rep-1", T0)
    await library.add_usage(conn, "U2", "viewed", "I1", 1, None, "L1", None, T0 + timedelta(hours=2))
    await library.add_usage(conn, "U3", "used_in_meeting", "I2", 1, None, None, "rep-1", T0)
    assert [(s.item_id, s.lead_id, s.at) for s in await store.shares(conn)] == [("I1", "L1", T0)]
    assert await store.last_used(conn) == {"I1": T0 + timedelta(hours=2), "I2": T0}
    await store.add_rating(conn, "R1", "I1", "rep-1", 2, "old", T0)
    await store.add_rating(conn, "R2", "I1", "rep-1", 4, "", T0 + timedelta(hours=1))
    assert [(r.rating, r.comment) for r in await store.ratings(conn)] == [(2, "old"), (4, "")]
    await store.replace_effectiveness(conn, [("I1", "smb", 0.25, 3, 4), ("I1", "ent", -0.1, 1, 2)],
                                      {"I1": 0.2, "I2": 0.1}, T0)
    await store.replace_effectiveness(conn, [("I1", "smb", 0.5, 3, 4)], {"I1": 0.4}, T0)
    assert await store.effectiveness_scores(conn, "smb") == {"I1": 0.5}
    assert [(await library.get(conn, i))["effectiveness"] for i in ("I1", "I2")] == [0.4, 0.0]
    assert await store.effectiveness_scores(conn, "ent") == {}
    assert [m["version"] for m in [await store.publish_message(conn, "smb", t, "m", T0) for t in ("a", "b")]] == [1, 2]
    await store.publish_message(conn, "ent", "e", "m", T0)
    assert [(m["version"], m["text"]) for m in await store.messages(conn, "smb")] == [(2, "b"), (1, "a")]
    assert [(m["segment"], m["version"]) for m in await store.latest_messages(conn)] == [("ent", 1), ("smb", 2)]
    await store.add_answer(conn, "A1", "smb", "r2", "field", "first", 1, T0)
    await store.add_answer(conn, "A2", "smb", "r2", "field", "second", 2, T0 + timedelta(hours=1))
    await store.add_answer(conn, "A3", "smb", "r1", "inside", "mine", 2, T0)
    assert [(a["rep_id"], a["text"]) for a in await store.latest_answers(conn, "smb")] == [("r1", "mine"),
                                                                                          ("r2", "second")]
    assert await store.latest_answers(conn, "ent") == []


# --------------------------------------------------------------------------- nurture's programs


@pytest.fixture(params=["postgres", "memory"])
async def programs(request: pytest.FixtureRequest, pool: asyncpg.Pool) -> AsyncIterator[tuple[ProgramStore, Any]]:
    async for b in backend(request.param, pool, "nurture", ProgramRepository, lambda: InMemoryPrograms(InMemoryPool())):
        yield b


async def test_tracks_are_versioned_and_the_newest_is_live(programs: tuple[ProgramStore, Any]) -> None:
    store, conn = programs
    assert [await store.add_track(conn, "t", {"v": n}, T0, "mo") for n in (1, 2)] == [1, 2]
    await store.add_track(conn, "a", {"v": 1}, T0, "mo")
    assert [(r["name"], r["version"], r["document"]) for r in await store.latest_tracks(conn)] == [
        ("a", 1, {"v": 1}), ("t", 2, {"v": 2})]
    first = await store.track_version(conn, "t", 1)
    assert first is not None and first["document"] == {"v": 1}
    assert [r["version"] for r in await store.track_versions(conn, "t")] == [1, 2]


async def test_an_enrolment_timer_is_due_with_what_the_step_machine_needs(programs: tuple[ProgramStore, Any]) -> None:
    store, conn = programs
    assert await store.enroll(conn, "e1", "L1", "t", 1, "wb", T0, T0)
    assert not await store.enroll(conn, "e1", "L1", "t", 1, "wb", T0, T0)  # a re-run
    await store.upsert_contacts(conn, [("L1", "ada@old.example", "Ada", "Engines", False, T0),
                                       ("L2", "bo@x.example", "Bo", "Beta", True, T0)])
    await store.upsert_contact(conn, "L1", "Ada@X.example", "Ada", "Engines", True, T0)
    await store.set_grade(conn, "L1", "B", T0)
    await store.mark_engaged(conn, "L1", T0 + timedelta(minutes=1), replied=False)
    assert await store.due_enrollments(conn, T0 - timedelta(seconds=1), 10) == []
    (due,) = await store.due_enrollments(conn, T0, 10)
    assert pick(due, "enrollment_id", "email", "pool_grade", "unsubscribed", "fired", "pass") == {
        "enrollment_id": "e1", "email": "Ada@X.example", "pool_grade": "B", "unsubscribed": False, "fired": 0,
        "pass": 1}
    assert due["engaged_at"] == T0 + timedelta(minutes=1) and due["replied_at"] is None
    assert await store.step_backlog(conn, T0 + timedelta(hours=1)) == (1, T0)
    assert await store.next_due(conn, "steps") == T0
    await store.save_progress(conn, "e1", "active", 2, 1, T0 + timedelta(days=3), None, T0)
    assert await store.next_due(conn, "steps") == T0 + timedelta(days=3)
    assert await store.due_enrollments(conn, T0 + timedelta(days=1), 10) == []
    assert await store.unsubscribe(conn, "ADA@x.example", "L1", "m1", T0)
    assert not await store.unsubscribe(conn, "ada@x.example", "L1", "m2", T0)
    (later,) = await store.due_enrollments(conn, T0 + timedelta(days=3), 10)
    assert (later["step_index"], later["fired"], later["unsubscribed"]) == (2, 1, True)
    await store.end_enrollment(conn, "e1", "exited", "unsubscribed", T0)
    assert await store.active_enrollment(conn, "L1") is None
    (ended,) = await store.enrollments_of(conn, "L1")
    assert (ended["status"], ended["exit_reason"], ended["due_at"]) == ("exited", "unsubscribed", None)
    assert await store.next_due(conn, "steps") is None


async def test_messages_queue_defer_send_and_count(programs: tuple[ProgramStore, Any]) -> None:
    store, conn = programs
    await store.upsert_contact(conn, "L1", "ada@x.example", "Ada", "Engines", True, T0)
    template = {"subject": "s", "text": "t", "html": "h"}
    for mid in ("m1", "m2"):
        await store.queue_message(conn, mid, "L1", "e1", "t", 1, "s1", "wb", template, T0)
    await store.queue_message(conn, "m1", "L1", "e1", "t", 1, "s1", "wb", {"other": 1}, T0)  # a re-run: kept
    queued = await store.queued_messages(conn, T0, 10)
    assert [(m["message_id"], m["template"], m["known"], m["unsubscribed"]) for m in queued] == [
        ("m1", template, "L1", False), ("m2", template, "L1", False)]
    await store.mark_sent(conn, "m1", "ada@x.example", "s", ["https://x.example/a"], T0)
    await store.set_message_status(conn, "m2", "queued", "daily-limit", T0 + timedelta(days=1))
    assert await store.queued_messages(conn, T0 + timedelta(hours=1), 10) == []
    assert await store.next_due(conn, "mail") == T0 + timedelta(days=1)  # m2, deferred
    assert await store.sent_since(conn, ["ADA@x.example"], T0 - timedelta(days=7)) == {"ada@x.example": [T0]}
    await store.count_engagement(conn, "m1", "email_click")
    sent = await store.message(conn, "m1")
    assert sent is not None and pick(sent, "status", "links", "clicks", "opens") == {
        "status": "sent", "links": ["https://x.example/a"], "clicks": 1, "opens": 0}
    assert [m["message_id"] for m in await store.messages_of(conn, "L1", "wb", 10)] == ["m1", "m2"]


async def test_tasks_and_the_no_show_timer(programs: tuple[ProgramStore, Any]) -> None:
    store, conn = programs
    task = {"task_id": "k1", "lead_id": "L1", "kind": "pre-event", "title": "Call", "rep_id": None, "team": "inside",
            "due_at": T0, "campaign": "wb", "enrollment_id": None, "created_at": T0}
    assert await store.add_task(conn, task) and not await store.add_task(conn, task)
    assert [t["task_id"] for t in await store.tasks(conn, None, "inside", "wb", "pre-event", "open", 10)] == ["k1"]
    assert await store.tasks(conn, "r1", None, None, None, None, 10) == []
    done = await store.update_task(conn, "k1", "pricing", "done", T0)
    assert done is not None and (done["interests"], done["status"], done["done_at"]) == ("pricing", "done", T0)
    assert await store.update_task(conn, "nope", None, "done", T0) is None
    end = T0 + timedelta(days=7)
    await store.save_webinar(conn, "wb", "Webinar", end - timedelta(hours=1), end, end + timedelta(hours=1), T0)
    assert await store.due_webinars(conn, end, 10) == []
    (due,) = await store.due_webinars(conn, end + timedelta(hours=1), 10)
    assert due["campaign_id"] == "wb"
    assert await store.no_show_backlog(conn, end + timedelta(hours=2)) == (1, end + timedelta(hours=1))
    assert await store.next_due(conn, "no-shows") == end + timedelta(hours=1)
    await store.no_shows_marked(conn, "wb", 4, end + timedelta(hours=1))
    assert await store.next_due(conn, "no-shows") is None
    await store.save_webinar(conn, "wb", "Webinar", end, end + timedelta(hours=1), end + timedelta(hours=2), T0)
    again = await store.webinar(conn, "wb")
    assert again is not None and (again["no_shows"], again["no_show_due_at"]) == (4, end + timedelta(hours=1))
    assert await store.due_webinars(conn, end + timedelta(days=1), 10) == []


async def test_imports_keep_files_mappings_progress_rejections_and_people(imports: tuple[ImportStore, Any]) -> None:
    store, conn = imports
    assert await store.mapping(conn, "list_import") is None
    await store.save_mapping(conn, "list_import", {"email": "E"})
    await store.save_mapping(conn, "list_import", {"email": "Email"})
    assert await store.mapping(conn, "list_import") == {"email": "Email"}
    assert await store.create_import(conn, "I1", "abc", "list_import", "expo", "csv", {"email": "Email"})
    assert not await store.create_import(conn, "I1", "abc", "list_import", "expo", "csv", {})
    kept = [RawRow(2, {"Email": "a@x.com"}), RawRow(3, None, ("row", "short")), RawRow(5, {"Email": "b@x.com"})]
    await store.add_rows(conn, "I1", 0, kept[:2])
    await store.add_rows(conn, "I1", 2, kept[2:])
    await store.set_total(conn, "I1", 3)
    assert await store.rows(conn, "I1", 0, 10) == kept
    assert await store.rows(conn, "I1", 1, 1) == kept[1:2]
    assert pick(await store.next_running(conn), "import_id", "position", "status", "total_rows") == {
        "import_id": "I1", "position": 0, "status": "running", "total_rows": 3}
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    # accepted records are kept once per person: a later record of one kept already is not
    assert await store.add_accepted(conn, "I1", [(2, "a@x.com", {"Email": "a@x.com"}, at),
                                                 (5, "b@x.com", {"Email": "b@x.com"}, at)]) == {2, 5}
    assert await store.add_accepted(conn, "I1", [(7, "a@x.com", {"Email": "A@x.com"}, at),
                                                 (8, "c@x.com", {"Email": "c@x.com"}, at)]) == {8}
    assert await store.accepted(conn, "I1", 0, 2) == [(2, {"Email": "a@x.com"}, at), (5, {"Email": "b@x.com"}, at)]
    assert await store.accepted(conn, "I1", 5, 10) == [(8, {"Email": "c@x.com"}, at)]
    await store.advance_capture(conn, "I1", 5, {"new_leads": 2}, done=False)
    assert pick(await store.get_import(conn, "I1"), "captured_line", "new_leads", "status") == {
        "captured_line": 5, "new_leads": 2, "status": "running"}
    await store.add_rejections(conn, "I1", [(3, 0, "email", "bad"), (2, 0, "row", "short"), (3, 1, "name", "x")])
    await store.advance(conn, "I1", 2, {"accepted": 1, "rejected": 1, "new_leads": 1}, done=False)
    await store.advance(conn, "I1", 3, {"rejected": 1}, done=True)
    got = await store.get_import(conn, "I1")
    assert pick(got, "position", "status", "accepted", "rejected", "new_leads", "known_people", "duplicates") == {
        "position": 3, "status": "done", "accepted": 1, "rejected": 2, "new_leads": 3, "known_people": 0,
        "duplicates": 0}
    assert got is not None and got["finished_at"] is not None
    assert await store.next_running(conn) is None
    await store.forget_rows(conn, "I1")
    assert await store.rows(conn, "I1", 0, 10) == []
    assert await store.accepted(conn, "I1", 0, 10) == []
    assert [dict(r) for r in await store.rejections(conn, "I1")] == [
        {"line": 2, "field": "row", "reason": "short"}, {"line": 3, "field": "email", "reason": "bad"},
        {"line": 3, "field": "name", "reason": "x"}]
