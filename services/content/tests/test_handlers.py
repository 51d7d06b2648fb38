"""Content's handlers on the fake unit of work and the in-memory library and file
store, driven through the registry the service runs."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from services.content import handlers, metrics
from services.content.domain import files
from services.content.domain.lifecycle import Actor, Refused, Reviewer
from services.content.handlers import ContentDeps, NewItem, OffsetClock, Upload, registry
from services.content.tests import samples
from services.content.tests.fakes import InMemoryCollateral, InMemoryFiles, InMemoryUse
from shared import testing, topics
from shared.events import (
    AuditRecorded,
    CollateralRetirementWarned,
    CollateralShared,
    CollateralStatusChanged,
    CollateralViewed,
    LeadProfile,
    LeadScored,
)
from shared.testing import FakeUnitOfWork

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
MARKETING = Actor("mia", "marketing")
REP, MANAGER = Actor("rex", "field_rep"), Actor("sam", "sales_manager")
REVIEWERS = [Reviewer("rex", "field_rep"), Reviewer("sam", "sales_manager")]


def scored(segment: str, at: datetime, lead_id: str = "L1") -> LeadScored:
    return LeadScored(lead_id=lead_id, cause_event_id="c", profile=LeadProfile(email="a@x.com", name="Ada",
                                                                                company="Acme"),
                      source="web_form", score=80, fit_score=50, engagement_score=30, grade="A", segment=segment,
                      rubric_version="v1", occurred_at=at)


def content(clock: OffsetClock | None = None, max_upload: int = 1_000_000) -> tuple[ContentDeps, InMemoryCollateral]:
    clock = clock or OffsetClock(lambda: NOW)
    store = InMemoryCollateral(clock=clock)
    return ContentDeps(collateral=store, files=InMemoryFiles(), use=InMemoryUse(store), clock=clock,
                       max_upload_bytes=max_upload, test_clock=clock), store


def item(segments: tuple[str, ...] = ("agency",), stages: tuple[str, ...] = ()) -> NewItem:
    return NewItem(title="Agency case study", kind="case_study", summary="How agencies win", segments=segments,
                   stages=stages, owner="marketing@x.com")


async def published(deps: ContentDeps, new: NewItem | None = None, data: bytes | None = None,
                    content_type: str = files.PDF) -> str:
    item_id: str = (await handlers.add_item(deps, FakeUnitOfWork(), new or item(), MARKETING))["item_id"]
    await handlers.add_version(deps, FakeUnitOfWork(), item_id, MARKETING,
                               Upload("cs.pdf", content_type, data or samples.pdf("Agency onboarding")))
    await handlers.submit(deps, FakeUnitOfWork(), item_id, MARKETING, REVIEWERS)
    for reviewer in (REP, MANAGER):
        await handlers.review(deps, FakeUnitOfWork(), item_id, reviewer, True, "")
    await handlers.publish(deps, FakeUnitOfWork(), item_id, MARKETING)
    return item_id


async def test_content_learns_the_latest_segment_of_each_scored_lead_and_emits_nothing() -> None:
    deps, store = content()
    uow = await testing.deliver(registry(deps), topics.LEAD_SCORED,
                                [scored("agency", NOW), scored("ent-tech-na", NOW - timedelta(hours=1)),
                                 scored("smb", NOW, lead_id="L2")])
    assert store.segments["L1"][0] == "agency"  # the older grading, delivered later, did not win
    assert store.segments["L2"][0] == "smb"
    assert await store.known_segments(None, ["agency", "smb", "ent-tech-na", "nope"]) == {"agency", "smb",
                                                                                          "ent-tech-na"}
    assert uow.events() == []


async def test_every_transition_is_an_event_with_who_and_when_and_a_lead_gets_it_once_published() -> None:
    deps, _ = content()
    await testing.deliver(registry(deps), topics.LEAD_SCORED, [scored("agency", NOW)])
    uow = FakeUnitOfWork()
    row = await handlers.add_item(deps, uow, item(), MARKETING)
    found = await handlers.collateral_for(deps, FakeUnitOfWork(), "L1", None)
    assert found is not None and (found.segment, found.items) == ("agency", [])
    item_id = row["item_id"]
    await handlers.add_version(deps, uow, item_id, MARKETING, Upload("a.pdf", files.PDF, samples.pdf("v1")))
    await handlers.submit(deps, uow, item_id, MARKETING, REVIEWERS)
    await handlers.review(deps, uow, item_id, REP, True, "good")
    await handlers.review(deps, uow, item_id, MANAGER, True, "")
    await handlers.publish(deps, uow, item_id, MARKETING)
    changes = uow.of(CollateralStatusChanged)
    assert [(e.action, e.from_status, e.to_status) for e in changes] == [
        ("create", None, "draft"), ("revise", "draft", "draft"), ("submit", "draft", "in_review"),
        ("approve", "in_review", "in_review"), ("approve", "in_review", "approved"),
        ("publish", "approved", "published")]
    assert [(e.actor_id, e.actor_role) for e in changes][3:] == [("rex", "field_rep"), ("sam", "sales_manager"),
                                                                 ("mia", "marketing")]
    assert all(e.occurred_at == NOW for e in changes) and changes[-1].published_version == 1
    assert changes[-1].retire_at == NOW + timedelta(days=365)
    trail = uow.of(AuditRecorded)  # every status change is in the audit trail, with who acted
    assert [(e.action, e.actor, e.changes[0].after if e.changes else None) for e in trail][-3:] == [
        ("collateral.approve", "rex", None), ("collateral.approve", "sam", "approved"),
        ("collateral.publish", "mia", "published")]
    found = await handlers.collateral_for(deps, FakeUnitOfWork(), "L1", None)
    assert found is not None and [r["item_id"] for r in found.items] == [item_id]


async def test_publishing_without_sales_approval_is_refused_and_nothing_is_emitted() -> None:
    deps, store = content()
    item_id = (await handlers.add_item(deps, FakeUnitOfWork(), item(segments=()), MARKETING))["item_id"]
    await handlers.add_version(deps, FakeUnitOfWork(), item_id, MARKETING, Upload("a.pdf", files.PDF,
                                                                                  samples.pdf("v1")))
    await handlers.submit(deps, FakeUnitOfWork(), item_id, MARKETING, REVIEWERS)
    await handlers.review(deps, FakeUnitOfWork(), item_id, REP, True, "")
    uow = FakeUnitOfWork()
    with pytest.raises(Refused) as refused:
        await handlers.publish(deps, uow, item_id, MARKETING)
    assert refused.value.missing == ["sales_manager: 1 more approval"]
    assert uow.events() == [] and store.items[item_id]["status"] == "in_review"


async def test_an_unknown_segment_is_refused() -> None:
    deps, _ = content()
    with pytest.raises(handlers.Invalid) as invalid:
        await handlers.add_item(deps, FakeUnitOfWork(), item(segments=("martians",)), MARKETING)
    assert invalid.value.field == "segments" and "martians" in invalid.value.reason


async def test_versions_are_immutable_with_their_checksum_and_reps_get_the_latest_published() -> None:
    deps, store = content()
    first = samples.pdf("First edition")
    item_id = await published(deps, item(segments=()), first)
    second = samples.pdf("Second edition")
    record = await handlers.add_version(deps, FakeUnitOfWork(), item_id, MARKETING, Upload("b.pdf", files.PDF,
                                                                                           second))
    assert record["version"] == 2 and store.items[item_id]["status"] == "draft"
    import hashlib
    assert record["sha256"] == hashlib.sha256(second).hexdigest()
    assert (await handlers.read_version(deps, None, item_id, None)).data == first  # still the published one
    assert (await handlers.read_version(deps, None, item_id, 2)).data == second
    await handlers.submit(deps, FakeUnitOfWork(), item_id, MARKETING, REVIEWERS)
    for reviewer in (REP, MANAGER):
        await handlers.review(deps, FakeUnitOfWork(), item_id, reviewer, True, "")
    await handlers.publish(deps, FakeUnitOfWork(), item_id, MARKETING)
    assert (await handlers.read_version(deps, None, item_id, None)).data == second
    assert (await handlers.read_version(deps, None, item_id, 1)).data == first  # kept for audit


@pytest.mark.parametrize(("data", "declared", "status"), [
    (samples.png(), files.PDF, 422), (b"MZ", "application/x-msdownload", 415), (b"x" * 2000, files.TEXT, 413),
    (b"Dear {{ budget }}", files.TEXT, 422)])
async def test_a_bad_upload_is_refused_with_its_status(data: bytes, declared: str, status: int) -> None:
    deps, store = content(max_upload=1000)
    item_id = (await handlers.add_item(deps, FakeUnitOfWork(), item(segments=()), MARKETING))["item_id"]
    with pytest.raises(handlers.Invalid) as invalid:
        await handlers.add_version(deps, FakeUnitOfWork(), item_id, MARKETING, Upload("f", declared, data))
    assert (invalid.value.field, invalid.value.status) == ("file", status)
    assert store.version_rows == []


async def test_uploaded_text_is_searchable() -> None:
    deps, store = content()
    await published(deps, item(segments=()), samples.pdf("Quarterly onboarding playbook"))
    assert [r["title"] for r in await store.list_items(None, None, None, None, "playbook")] == ["Agency case study"]
    assert await store.list_items(None, None, None, None, "pricing") == []


async def test_a_share_is_one_link_per_version_lead_and_rep_and_opening_it_records_a_view() -> None:
    deps, store = content()
    await testing.deliver(registry(deps), topics.LEAD_SCORED, [scored("agency", NOW)])
    item_id = await published(deps)
    uow = FakeUnitOfWork()
    first = await handlers.share(deps, uow, item_id, "L1", "rex")
    again = await handlers.share(deps, uow, item_id, "L1", "rex")
    other = await handlers.share(deps, uow, item_id, "L1", "ria")
    assert first.created and not again.created and first.share["token"] == again.share["token"]
    assert other.share["token"] != first.share["token"] and len(first.share["token"]) >= 40
    (shared, _) = uow.of(CollateralShared)
    assert (shared.lead_id, shared.item_id, shared.version, shared.rep_id) == ("L1", item_id, 1, "rex")
    views_before = metrics.VIEWS._value.get()
    uow = FakeUnitOfWork()
    f = await handlers.open_link(deps, uow, first.share["token"])
    assert f.data == samples.pdf("Agency onboarding") and f.content_type == files.PDF
    (viewed,) = uow.of(CollateralViewed)
    assert (viewed.lead_id, viewed.share_id, viewed.rep_id) == ("L1", first.share["share_id"], "rex")
    assert await store.usage_counts(None, item_id) == {"shared": 2, "viewed": 1}
    assert metrics.VIEWS._value.get() == views_before + 1


async def test_a_template_becomes_the_leads_own_copy() -> None:
    deps, _ = content()
    await testing.deliver(registry(deps), topics.LEAD_SCORED, [scored("agency", NOW)])
    item_id = await published(deps, data=b"<p>Dear {{ prospect }} of {{ company }}, from {{ rep }}</p>",
                              content_type=files.HTML)
    s = await handlers.share(deps, FakeUnitOfWork(), item_id, "L1", "rex", "Rex Ray")
    f = await handlers.open_link(deps, FakeUnitOfWork(), s.share["token"])
    assert (f.data, f.content_type) == (b"<p>Dear Ada of Acme, from Rex Ray</p>", files.HTML)


async def test_sharing_needs_a_live_item_and_a_graded_lead() -> None:
    deps, _ = content()
    draft = (await handlers.add_item(deps, FakeUnitOfWork(), item(segments=()), MARKETING))["item_id"]
    with pytest.raises(Refused):
        await handlers.share(deps, FakeUnitOfWork(), draft, "L1", "rex")
    live = await published(deps, item(segments=()))
    with pytest.raises(handlers.Invalid) as invalid:
        await handlers.share(deps, FakeUnitOfWork(), live, "nobody", "rex")
    assert invalid.value.field == "lead_id"


async def test_a_year_after_publishing_the_timer_warns_twice_then_retires_once_and_links_are_gone() -> None:
    clock = OffsetClock(lambda: NOW)
    deps, store = content(clock)
    await testing.deliver(registry(deps), topics.LEAD_SCORED, [scored("agency", NOW)])
    old = await published(deps)
    successor = await published(deps, dataclasses.replace(item(), replaces=old))  # the new edition
    assert store.items[old]["successor_id"] == successor
    link = (await handlers.share(deps, FakeUnitOfWork(), old, "L1", "rex")).share["token"]
    retire_at = NOW + timedelta(days=365)
    events = []
    for step in (timedelta(days=300), timedelta(days=37), timedelta(days=14), timedelta(days=14),
                 timedelta(days=1), timedelta(days=1)):
        clock.advance(step)
        if clock() >= retire_at - timedelta(days=1):
            store.items[successor]["retire_at"] = clock() + timedelta(days=365)  # republished meanwhile
        events += (await testing.run_job(registry(deps), "collateral-retirement")).events()
    warnings = [(e.item_id, e.weeks_before) for e in events if isinstance(e, CollateralRetirementWarned)]
    assert warnings == [(old, 4), (successor, 4), (old, 2), (successor, 2)]
    retired = [e for e in events if isinstance(e, CollateralStatusChanged)]
    assert [(e.item_id, e.to_status, e.actor_role) for e in retired] == [(old, "retired", "system")]
    with pytest.raises(handlers.Gone) as gone:
        await handlers.open_link(deps, FakeUnitOfWork(), link)
    assert gone.value.successor_id == successor
    found = await handlers.collateral_for(deps, FakeUnitOfWork(), "L1", None)
    assert found is not None and [r["item_id"] for r in found.items] == [successor]


async def test_the_gauges_count_items_by_status_reviews_waiting_and_items_retiring_soon() -> None:
    clock = OffsetClock(lambda: NOW)
    deps, _ = content(clock)
    await published(deps, item(segments=()))
    waiting = (await handlers.add_item(deps, FakeUnitOfWork(), item(segments=()), MARKETING))["item_id"]
    await handlers.add_version(deps, FakeUnitOfWork(), waiting, MARKETING, Upload("a", files.PDF, samples.pdf("x")))
    await handlers.submit(deps, FakeUnitOfWork(), waiting, MARKETING, REVIEWERS)
    clock.advance(timedelta(days=340))
    await testing.run_job(registry(deps), "collateral-gauges")
    assert metrics.ITEMS.labels("published")._value.get() == 1
    assert metrics.ITEMS.labels("in_review")._value.get() == 1
    assert metrics.REVIEWS_WAITING._value.get() == 1
    assert metrics.OLDEST_REVIEW_AGE._value.get() == timedelta(days=340).total_seconds()
    assert metrics.RETIRING_SOON._value.get() == 1
