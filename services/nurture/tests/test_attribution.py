"""Attribution models: who gets what, and credits that always sum to the amount."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.nurture.domain.attribution import MODELS, Deal, Touch, credit, credit_all, split

T0 = datetime(2026, 3, 1, tzinfo=UTC)
CLOSE = T0 + timedelta(days=30)


def by_campaign(model: str, touches: list[Touch], amount: int = 100_000,
                opened: datetime | None = None) -> dict[str, int]:
    credits = credit(model, touches, Deal("O1", amount, CLOSE, opened))  # type: ignore[arg-type]
    return {c.campaign_id: c.credit_minor for c in credits}


FOUR = [Touch("a", T0), Touch("b", T0 + timedelta(days=5)), Touch("c", T0 + timedelta(days=10)),
        Touch("d", T0 + timedelta(days=20))]


def test_positional_models_give_what_they_say() -> None:
    assert by_campaign("first_touch", FOUR) == {"a": 100_000, "b": 0, "c": 0, "d": 0}
    assert by_campaign("last_touch", FOUR) == {"a": 0, "b": 0, "c": 0, "d": 100_000}
    assert by_campaign("linear", FOUR) == {"a": 25_000, "b": 25_000, "c": 25_000, "d": 25_000}
    assert by_campaign("u_shaped", FOUR) == {"a": 40_000, "b": 10_000, "c": 10_000, "d": 40_000}
    # the opportunity was opened after c: first, c and last take 30 % each, b the 10 % left
    assert by_campaign("w_shaped", FOUR, opened=T0 + timedelta(days=12)) == {"a": 30_000, "b": 10_000,
                                                                             "c": 30_000, "d": 30_000}


def test_time_decay_favours_recent_touches_and_touches_after_the_close_count_for_nothing() -> None:
    decayed = by_campaign("time_decay", [*FOUR, Touch("late", CLOSE + timedelta(days=1))])
    assert decayed["d"] > decayed["c"] > decayed["b"] > decayed["a"] > 0
    assert "late" not in decayed
    assert sum(decayed.values()) == 100_000


def test_one_campaign_touching_twice_gets_one_credit_with_both_shares() -> None:
    assert by_campaign("u_shaped", [Touch("a", T0), Touch("b", T0 + timedelta(days=1)),
                                    Touch("a", T0 + timedelta(days=2))]) == {"a": 80_000, "b": 20_000}


def test_no_touch_before_the_close_credits_nobody() -> None:
    assert credit_all([Touch("a", CLOSE + timedelta(days=1))], Deal("O1", 500, CLOSE)) == []


def test_split_rounds_by_largest_remainder() -> None:
    assert split(100, [1, 1, 1]) == [34, 33, 33]
    assert split(2, [1, 1, 1]) == [1, 1, 0]
    assert split(0, [1, 2]) == [0, 0]


touch_lists = st.lists(
    st.builds(Touch, st.sampled_from(["a", "b", "c", "d", "e"]),
              st.integers(min_value=0, max_value=60 * 24 * 40).map(lambda m: T0 + timedelta(minutes=m)),
              st.sampled_from(["web_form", "badge_scan", "activity"])),
    min_size=1, max_size=25)


@settings(deadline=None)  # the machine is shared: no wall-clock limit per example
@given(touch_lists, st.integers(min_value=0, max_value=10**12),
       st.one_of(st.none(), st.integers(min_value=0, max_value=60 * 24 * 40)))
def test_every_models_credits_sum_exactly_to_the_amount(touches: list[Touch], amount: int,
                                                       opened_min: int | None) -> None:
    opened = None if opened_min is None else T0 + timedelta(minutes=opened_min)
    deal = Deal("O1", amount, CLOSE, opened)
    counted = [t for t in touches if t.at <= CLOSE]
    for model in MODELS:
        credits = credit(model, touches, deal)
        assert all(c.credit_minor >= 0 for c in credits)
        assert sum(c.credit_minor for c in credits) == (amount if counted else 0), model
