from datetime import UTC, datetime, timedelta

from services.content.domain.collateral import Item, is_stale, suits

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def item(**kw: object) -> Item:
    base: dict[str, object] = {"item_id": "i", "title": "t", "kind": "case_study", "segments": ("agency",),
                               "stages": ("decision",), "status": "published", "updated_at": NOW - timedelta(days=10)}
    base.update(kw)
    return Item(**base)  # type: ignore[arg-type]


def test_items_older_than_a_year_are_stale() -> None:
    assert not is_stale(item(updated_at=NOW - timedelta(days=365)), NOW)
    assert is_stale(item(updated_at=NOW - timedelta(days=366)), NOW)


def test_only_published_current_items_for_the_segment_suit_a_lead() -> None:
    assert suits(item(), "agency", "decision", NOW)
    assert not suits(item(status="draft"), "agency", None, NOW)
    assert not suits(item(), "enterprise", None, NOW)
    assert not suits(item(updated_at=NOW - timedelta(days=400)), "agency", None, NOW)
    assert not suits(item(), "agency", "awareness", NOW)


def test_untagged_items_suit_every_segment_and_stage() -> None:
    assert suits(item(segments=(), stages=()), "enterprise", "awareness", NOW)
