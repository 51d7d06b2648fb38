"""Content's handlers on the fake unit of work and the in-memory library, driven
through the registry the service runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.content import handlers
from services.content.handlers import ContentDeps, NewItem, registry
from services.content.tests.fakes import InMemoryCollateral
from shared import topics
from shared.events import LeadProfile, LeadScored
from shared.testing import FakeUnitOfWork

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def scored(segment: str, at: datetime, lead_id: str = "L1") -> LeadScored:
    return LeadScored(lead_id=lead_id, cause_event_id="c", profile=LeadProfile(email="a@x.com", name="A",
                                                                                company="C"),
                      source="web_form", score=80, fit_score=50, engagement_score=30, grade="A", segment=segment,
                      rubric_version="v1", occurred_at=at)


def content() -> tuple[ContentDeps, InMemoryCollateral]:
    store = InMemoryCollateral(clock=lambda: NOW)
    return ContentDeps(collateral=store, clock=lambda: NOW), store


async def deliver(deps: ContentDeps, *events: LeadScored) -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    subscription = next(s for s in registry(deps).subscriptions if s.spec is topics.LEAD_SCORED)
    await subscription(list(events), uow)
    return uow


def item(segments: tuple[str, ...] = ("agency",), stages: tuple[str, ...] = ()) -> NewItem:
    return NewItem(title="Agency case study", kind="case_study", url="https://example.com/cs", summary="",
                   segments=segments, stages=stages, owner="marketing@x.com")


async def test_content_learns_the_latest_segment_of_each_scored_lead_and_emits_nothing() -> None:
    deps, store = content()
    uow = await deliver(deps, scored("agency", NOW), scored("ent-tech-na", NOW - timedelta(hours=1)),
                        scored("smb", NOW, lead_id="L2"))
    assert store.segments["L1"][0] == "agency"  # the older grading, delivered later, did not win
    assert store.segments["L2"][0] == "smb"
    assert uow.events() == []


async def test_a_new_item_is_stored_as_a_draft_and_suggested_only_once_published() -> None:
    deps, store = content()
    await deliver(deps, scored("agency", NOW))
    row = await handlers.add_item(deps, FakeUnitOfWork(), item())
    assert store.items[row["item_id"]]["status"] == "draft"
    assert row["owner"] == "marketing@x.com"
    found = await handlers.collateral_for(deps, FakeUnitOfWork(), "L1", None)
    assert found is not None and (found.segment, found.items) == ("agency", [])
    store.items[row["item_id"]]["status"] = "published"
    found = await handlers.collateral_for(deps, FakeUnitOfWork(), "L1", None)
    assert found is not None and [r["item_id"] for r in found.items] == [row["item_id"]]


async def test_suggestions_follow_segment_and_stage_and_skip_stale_items() -> None:
    deps, store = content()
    await deliver(deps, scored("agency", NOW))
    ids = {}
    for name, new in {"agency": item(), "enterprise": item(segments=("enterprise",)),
                      "everyone": item(segments=()), "decision": item(stages=("decision",)),
                      "stale": item()}.items():
        ids[name] = (await handlers.add_item(deps, FakeUnitOfWork(), new))["item_id"]
        store.items[ids[name]]["status"] = "published"
    store.items[ids["stale"]]["updated_at"] = NOW - timedelta(days=400)
    found = await handlers.collateral_for(deps, FakeUnitOfWork(), "L1", "awareness")
    assert found is not None
    assert {r["item_id"] for r in found.items} == {ids["agency"], ids["everyone"]}


async def test_no_suggestions_for_a_lead_content_has_not_seen_graded() -> None:
    deps, _ = content()
    assert await handlers.collateral_for(deps, FakeUnitOfWork(), "nobody", None) is None
