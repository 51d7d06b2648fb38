"""Collateral in use on the fake unit of work and the in-memory tables, driven through
the registry the service runs: deals from deal-outcome-recorded, usage and ratings,
effectiveness ranking "for this lead", the upkeep report and the one-message check."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.content import handlers, use_handlers
from services.content.domain import files
from services.content.domain.lifecycle import Actor, Reviewer
from services.content.handlers import ContentDeps, NewItem, Upload, registry
from services.content.tests.fakes import InMemoryCollateral, InMemoryFiles, InMemoryUse
from services.content.use_handlers import Refusal
from shared import testing, topics
from shared.events import DealOutcomeKind, DealOutcomeRecorded, LeadProfile, LeadScored
from shared.testing import FakeUnitOfWork

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
MARKETING = Actor("mia", "marketing")
REVIEWERS = [Reviewer("rex", "field_rep"), Reviewer("sam", "sales_manager")]


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def content() -> tuple[ContentDeps, InMemoryCollateral, InMemoryUse, Clock]:
    clock = Clock()
    library = InMemoryCollateral(clock=clock)
    use = InMemoryUse(library)
    return ContentDeps(collateral=library, files=InMemoryFiles(), use=use, clock=clock), library, use, clock


def scored(lead_id: str, segment: str) -> LeadScored:
    profile = LeadProfile(email=f"{lead_id}@x.com", name="N", company="C")
    return LeadScored(lead_id=lead_id, cause_event_id="c", profile=profile,
                      source="web_form", score=80, fit_score=50, engagement_score=30, grade="A", segment=segment,
                      rubric_version="v1", occurred_at=NOW - timedelta(days=60))


def outcome(opp: str, lead: str, kind: DealOutcomeKind, day: int, stage: str | None = "proposal",
            amount: int | None = None) -> DealOutcomeRecorded:
    closing = kind in (DealOutcomeKind.WON, DealOutcomeKind.LOST)
    return DealOutcomeRecorded(source="crm", opportunity_id=opp, kind=kind, stage=stage, lead_id=lead,
                               outcome_id=f"{opp}-{kind}", matched_by="lead_id",
                               amount_minor=amount, currency="USD" if amount is not None else None,
                               close_date=date(2026, 5, day) if closing else None,
                               occurred_at=datetime(2026, 5, day, 12, tzinfo=UTC))


async def published(deps: ContentDeps, library: InMemoryCollateral, title: str, kind: str = "case_study",
                    segments: tuple[str, ...] = ("smb",)) -> str:
    """An item through the real lifecycle: drafted, uploaded, approved by sales, published."""
    await testing.deliver(registry(deps), topics.LEAD_SCORED, [scored(f"seg-{s}", s) for s in segments])
    new = NewItem(title=title, kind=kind, summary="", segments=segments, stages=(), owner="m@x.com")
    item_id = str((await handlers.add_item(deps, FakeUnitOfWork(), new, MARKETING))["item_id"])
    await handlers.add_version(deps, FakeUnitOfWork(), item_id, MARKETING,
                               Upload("t.html", files.HTML, b"<p>Dear {{ prospect }}</p>"))
    await handlers.submit(deps, FakeUnitOfWork(), item_id, MARKETING, REVIEWERS)
    for reviewer in REVIEWERS:
        await handlers.review(deps, FakeUnitOfWork(), item_id, Actor(reviewer.id, reviewer.role), True, "")
    await handlers.publish(deps, FakeUnitOfWork(), item_id, MARKETING)
    return item_id


async def test_deals_from_outcomes_rank_the_item_that_wins_first_for_the_lead() -> None:
    deps, library, use, clock = content()
    reg = registry(deps)
    await testing.deliver(reg, topics.LEAD_SCORED, [scored(lead, "smb") for lead in ("A", "B", "C", "D", "N")])
    await testing.deliver(reg, topics.DEAL_OUTCOME_RECORDED, [
        outcome("O1", "A", DealOutcomeKind.OPPORTUNITY_CREATED, 1), outcome("O1", "A", DealOutcomeKind.WON, 11,
                                                                            amount=5_000),
        outcome("O2", "B", DealOutcomeKind.OPPORTUNITY_CREATED, 1), outcome("O2", "B", DealOutcomeKind.WON, 21,
                                                                            amount=7_000),
        outcome("O3", "C", DealOutcomeKind.OPPORTUNITY_CREATED, 1), outcome("O3", "C", DealOutcomeKind.LOST, 6),
        outcome("O4", "D", DealOutcomeKind.OPPORTUNITY_CREATED, 1), outcome("O4", "D", DealOutcomeKind.LOST, 16)])
    assert (use.deals_["O1"].outcome, use.deals_["O1"].amount_minor, use.deals_["O1"].cycle_days) == ("won", 5_000, 10)
    winner = await published(deps, library, "Winner")
    plain = await published(deps, library, "Plain")
    clock.now = datetime(2026, 5, 2, tzinfo=UTC)  # shared before the deals closed
    for lead in ("A", "B"):
        await use_handlers.report_usage(deps, FakeUnitOfWork(), winner, "shared", "rep-1", lead, None)
    await use_handlers.report_usage(deps, FakeUnitOfWork(), plain, "shared", "rep-1", "C", None)

    (w,) = await use_handlers.effectiveness(deps, FakeUnitOfWork(), [winner])
    # shared on O1, O2 (both won, 10 and 20 days); comparable O3, O4 (lost, 5 and 15 days)
    assert (w.overall.shared.won, w.overall.shared.deals, w.overall.shared.cycle_days) == (2, 2, 15.0)
    assert (w.overall.not_shared.won, w.overall.not_shared.deals, w.overall.not_shared.cycle_days) == (0, 2, 10.0)
    assert w.overall.shared.revenue[0].total_minor == 12_000

    await testing.run_job(reg, "effectiveness")
    assert use.scores[(winner, "smb")][0] == pytest.approx(3 / 4 - 1 / 4)
    assert use.scores[(plain, "smb")][0] == pytest.approx(1 / 3 - 3 / 5)
    found = await handlers.collateral_for(deps, FakeUnitOfWork(), "N", None)
    assert found is not None and [r["item_id"] for r in found.items] == [winner, plain]


async def test_ratings_and_usage_refuse_bad_input_and_count_a_retried_report_once() -> None:
    deps, library, _, _ = content()
    item = await published(deps, library, "Deck")
    with pytest.raises(Refusal) as refused:
        await use_handlers.rate(deps, FakeUnitOfWork(), item, "rep-1", 6, "")
    assert (refused.value.status, refused.value.field) == (422, "rating")
    with pytest.raises(Refusal) as refused:
        await use_handlers.rate(deps, FakeUnitOfWork(), "nope", "rep-1", 3, "")
    assert (refused.value.status, refused.value.field) == (404, "item_id")
    with pytest.raises(Refusal) as refused:
        await use_handlers.report_usage(deps, FakeUnitOfWork(), item, "shared", "rep-1", None, None)
    assert (refused.value.status, refused.value.field) == (422, "lead_id")
    first = await use_handlers.report_usage(deps, FakeUnitOfWork(), item, "used_in_meeting", "rep-1", None, "u1")
    await use_handlers.report_usage(deps, FakeUnitOfWork(), item, "used_in_meeting", "rep-1", None, "u1")
    assert first["version"] == 1 and library.usage["u1"]["version"] == 1
    assert await library.usage_counts(None, item) == {"used_in_meeting": 1}  # the retried report counted once
    await handlers.withdraw(deps, FakeUnitOfWork(), item, MARKETING)
    with pytest.raises(Refusal) as refused:
        await use_handlers.report_usage(deps, FakeUnitOfWork(), item, "used_in_meeting", "rep-1", None, None)
    assert (refused.value.status, refused.value.field) == (409, "item_id")
    draft = await handlers.add_item(deps, FakeUnitOfWork(), NewItem(title="D", kind="deck", summary="",
                                                                    segments=(), stages=(), owner="m"), MARKETING)
    with pytest.raises(Refusal) as refused:
        await use_handlers.rate(deps, FakeUnitOfWork(), draft["item_id"], "rep-1", 3, "")
    assert (refused.value.status, refused.value.field) == (409, "item_id")


async def test_the_upkeep_report_names_low_rated_and_unused_items() -> None:
    deps, library, _, clock = content()
    low, idle, busy = [await published(deps, library, t) for t in ("Low", "Idle", "Busy")]
    for rep, stars, why in (("r1", 2, "outdated prices"), ("r2", 1, "wrong product")):
        await use_handlers.rate(deps, FakeUnitOfWork(), low, rep, stars, why)
    await use_handlers.report_usage(deps, FakeUnitOfWork(), busy, "viewed", "r1", None, None)
    clock.now = NOW + timedelta(days=91)
    await use_handlers.report_usage(deps, FakeUnitOfWork(), low, "used_in_meeting", "r1", None, None)
    report = await use_handlers.upkeep_report(deps, FakeUnitOfWork())
    assert [(r.item_id, r.average_rating, r.low_comments) for r in report.revise] == \
        [(low, 1.5, ("outdated prices", "wrong product"))]
    assert [p.item_id for p in report.prune] == sorted([idle, busy])  # both 91 days: by id
    assert {p.item_id: p.last_used_at for p in report.prune}[busy] == NOW


async def test_the_one_message_check_finds_the_off_message_rep_and_what_to_send_them() -> None:
    deps, library, _, _ = content()
    await testing.deliver(registry(deps), topics.LEAD_SCORED, [scored("A", "smb")])
    with pytest.raises(Refusal) as refused:
        await use_handlers.publish_value_proposition(deps, FakeUnitOfWork(), "nowhere", "x", "m")
    assert (refused.value.status, refused.value.field) == (422, "segment")
    with pytest.raises(Refusal) as refused:
        await use_handlers.answer_value_proposition(deps, FakeUnitOfWork(), "smb", "r1", "field", "x")
    assert (refused.value.status, refused.value.field) == (409, "segment")
    await use_handlers.publish_value_proposition(deps, FakeUnitOfWork(), "smb", "old message", "m")
    v2 = await use_handlers.publish_value_proposition(
        deps, FakeUnitOfWork(), "smb", "One grading standard for sales and marketing: every lead scored on one "
                                       "agreed rubric and routed to the right rep within seconds.", "m")
    assert v2["version"] == 2
    vp = await published(deps, library, "SMB value proposition", kind="value_proposition")
    deck = await published(deps, library, "SMB deck", kind="deck")
    await published(deps, library, "Enterprise case", segments=("ent",))
    for rep, team, text in (
            ("r1", "field", "One agreed rubric grades every lead for sales and marketing; the right rep gets it in "
                            "seconds."),
            ("r2", "field", "Sales and marketing share one grading standard and leads reach the right rep within "
                            "seconds."),
            ("r3", "inside", "Every lead is scored on the rubric both teams agreed and routed in seconds."),
            ("r4", "inside", "We are cheaper than any CRM and our mobile app is great.")):
        answer = await use_handlers.answer_value_proposition(deps, FakeUnitOfWork(), "smb", rep, team, text)
        assert answer["message_version"] == 2
    (report,) = await use_handlers.one_message(deps, FakeUnitOfWork())
    assert report.result.answers[-1].rep_id == "r4"
    inside = {t.team: t for t in report.teams}["inside"]
    assert [o.rep_id for o in inside.outliers] == ["r4"]
    assert inside.outliers[0].missing_terms == report.result.key_terms and "grading" in report.result.key_terms
    assert [i for i, _, _ in report.send] == [vp, deck]  # the segment's items, the value proposition first
    (only_field,) = await use_handlers.one_message(deps, FakeUnitOfWork(), "smb", "field")
    assert [t.team for t in only_field.teams] == ["field"] and only_field.send == []
    with pytest.raises(Refusal) as refused:
        await use_handlers.one_message(deps, FakeUnitOfWork(), "ent")
    assert (refused.value.status, refused.value.field) == (404, "segment")
