"""The revise / prune / expand report on hand-made items, ratings, usage and deals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.content.domain.effectiveness import Deal
from services.content.domain.upkeep import (
    LiveItem,
    Rating,
    Thresholds,
    ToExpand,
    ToPrune,
    ToRevise,
    funnel_stage,
    upkeep,
)
from services.content.settings import ContentSettings

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


def live(item_id: str, segments: tuple[str, ...] = (), stages: tuple[str, ...] = (), published: int = 200) -> LiveItem:
    return LiveItem(item_id, item_id.title(), segments, stages, ago(published))


def rated(item: str, rep: str, rating: int, comment: str = "", days: int = 1) -> Rating:
    return Rating(item, rep, rating, comment, ago(days))


def deal(opp: str, outcome: str, segment: str | None = "smb", stage: str | None = "proposal") -> Deal:
    return Deal(opp, opp, segment=segment, stage=stage, outcome=outcome)  # type: ignore[arg-type]


def test_low_rated_items_are_to_revise_worst_first_with_the_comments_behind_it() -> None:
    items = [live("deck"), live("memo"), live("brief"), live("solo")]
    ratings = [rated("deck", "r1", 2, "prices are last year's"), rated("deck", "r2", 3),
               rated("memo", "r1", 1, "wrong logo"), rated("memo", "r2", 2, "too long"),
               rated("brief", "r1", 5), rated("brief", "r2", 1, "typo", days=9), rated("brief", "r2", 4, days=2),
               rated("solo", "r1", 1, "bad")]  # one rating is not a verdict
    report = upkeep(items, ratings, {i.item_id: ago(1) for i in items}, [], NOW)
    # memo (1 + 2) / 2 = 1.5; deck (2 + 3) / 2 = 2.5; brief: r2's latest 4 replaces the 1 -> 4.5
    assert report.revise == (ToRevise("memo", "Memo", 1.5, 2, ("wrong logo", "too long")),
                             ToRevise("deck", "Deck", 2.5, 2, ("prices are last year's",)))


def test_items_unused_for_90_days_are_to_prune_but_new_ones_are_not_judged_yet() -> None:
    items = [live("old"), live("never", published=120), live("new", published=30), live("busy")]
    report = upkeep(items, [], {"old": ago(100), "busy": ago(89)}, [], NOW)
    assert report.prune == (ToPrune("never", "Never", None, ago(120), 120),
                            ToPrune("old", "Old", ago(100), ago(200), 100))


def test_segments_and_stages_winning_often_with_little_content_are_to_expand() -> None:
    deals = [deal("a", "won"), deal("b", "won"), deal("c", "lost"),                       # smb: 2/3
             deal("d", "won", "ent", "Negotiation"), deal("e", "won", "ent", "negotiation"),  # ent: 2/2 < 3 deals
             deal("f", "lost", "agency", "demo"), deal("g", "lost", "agency", "demo"), deal("h", "won", "agency"),
             deal("i", "won", None, "proposal"), Deal("open", "open", segment="smb", stage="proposal")]
    items = [live("smb-deck", segments=("smb",)), live("generic"), live("decide", stages=("decision",))]
    report = upkeep(items, [], {}, deals, NOW, Thresholds(unused_days=10_000))
    # decision: a, b, c, d, e, h, i are proposal/negotiation -> 6 won of 7; one item tagged for it
    assert report.expand == (ToExpand("stage", "decision", round(6 / 7, 4), 6, 7, 1),
                             ToExpand("segment", "smb", round(2 / 3, 4), 2, 3, 1))
    two_items = [*items, live("smb-case", segments=("smb",))]
    expand = upkeep(two_items, [], {}, deals, NOW, Thresholds(unused_days=10_000)).expand
    assert [e.name for e in expand] == ["decision"]


def test_crm_stages_map_to_funnel_stages() -> None:
    assert [funnel_stage(s) for s in ("Closed Won", "decision", "proposal", "weird", None)] == \
        ["onboarding", "decision", "decision", None, None]


def test_the_settings_default_to_the_domains_thresholds_and_each_one_can_be_set(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert ContentSettings().upkeep_thresholds() == Thresholds()
    monkeypatch.setenv("LEADBRIDGE_REVISE_BELOW", "2.5")
    monkeypatch.setenv("LEADBRIDGE_EXPAND_FEW_ITEMS", "4")
    configured = ContentSettings().upkeep_thresholds()
    assert (configured.revise_below, configured.few_items) == (2.5, 4)
    assert configured.unused_days == Thresholds().unused_days
