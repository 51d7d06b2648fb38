"""Effectiveness on a small set of deals whose figures are worked out by hand below."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.content.domain.effectiveness import Deal, Figures, Revenue, Share, apply_outcome, measure, ranking_score

JAN1 = date(2026, 1, 1)


def closed(opp: str, lead: str, outcome: str, days: int, amount: int | None = None, segment: str = "smb",
           stage: str = "proposal") -> Deal:
    return Deal(opp, lead, segment=segment, stage=stage, opened_on=JAN1, outcome=outcome,  # type: ignore[arg-type]
                closed_on=JAN1 + timedelta(days=days), amount_minor=amount, currency="USD" if amount else None)


def on(day: int, item: str, lead: str) -> Share:
    return Share(item, lead, datetime(2026, 1, 1, 12, tzinfo=UTC) + timedelta(days=day - 1))


DEALS = [
    closed("D1", "A", "won", 30, 10_000), closed("D2", "B", "won", 40, 20_000), closed("D3", "C", "lost", 20),
    closed("D4", "D", "lost", 10), closed("D5", "E", "won", 20, 6_000), closed("D6", "F", "lost", 30),
    closed("D7", "G", "won", 5, 1_000, segment="ent"),        # another segment: not comparable
    closed("D8", "H", "lost", 5, stage="negotiation"),         # another stage: not comparable
    closed("D9", "I", "lost", 14),                             # shared only after it closed
    Deal("D10", "J", segment="smb", stage="proposal", opened_on=JAN1),  # still open: not counted
    Deal("D11", "K", stage="proposal", opened_on=JAN1, outcome="won", closed_on=JAN1, amount_minor=5, currency="USD"),
]
SHARES = [on(10, "X", "A"), on(5, "X", "B"), on(2, "X", "C"), on(20, "X", "I"), on(3, "X", "J"), on(2, "X", "K"),
          on(2, "Y", "G")]


def test_an_item_is_compared_with_deals_of_the_same_segment_and_stage_it_was_not_shared_on() -> None:
    x, y, z = measure(["X", "Y", "Z"], DEALS, SHARES)
    # shared on D1, D2, D3 (D9 after its close, D10 open, D11 no segment): 2 won of 3,
    # revenue 10,000 + 20,000 over 2 won deals, cycles 30, 40, 20 days
    assert x.overall.shared == Figures(deals=3, won=2, win_rate=2 / 3, revenue=(Revenue("USD", 30_000, 15_000, 2),),
                                       cycle_days=30.0, cycle_deals=3)
    # comparable (smb, proposal) without X: D4, D5, D6, D9: 1 won of 4, cycles 10, 20, 30, 14
    assert x.overall.not_shared == Figures(deals=4, won=1, win_rate=0.25, revenue=(Revenue("USD", 6_000, 6_000, 1),),
                                           cycle_days=18.5, cycle_deals=4)
    assert x.overall.cohorts == (("smb", "proposal"),)
    assert x.overall.win_rate_lift == pytest.approx(2 / 3 - 1 / 4)
    assert list(x.by_segment) == ["smb"] and x.by_segment["smb"] == x.overall
    # (2 + 1) / (3 + 2) - (1 + 1) / (4 + 2)
    assert ranking_score(x.by_segment["smb"]) == pytest.approx(0.6 - 1 / 3)
    # Y: one won deal in (ent, proposal) and nothing to compare it with
    assert (y.overall.shared.deals, y.overall.shared.won, y.overall.not_shared.deals) == (1, 1, 0)
    assert y.overall.win_rate_lift is None and y.overall.not_shared.win_rate is None
    # Z was never shared: empty figures, a neutral score
    assert (z.overall.shared.deals, z.overall.cohorts, z.by_segment) == (0, (), {})
    assert ranking_score(z.overall) == 0.0 and ranking_score(None) == 0.0


def test_revenue_is_never_added_across_currencies() -> None:
    deals = [closed("E1", "A", "won", 1, 100), closed("E2", "B", "won", 1, 300),
             Deal("E3", "C", segment="smb", stage="proposal", outcome="won", closed_on=JAN1, amount_minor=50,
                  currency="EUR")]
    (m,) = measure(["X"], deals, [on(1, "X", "A"), on(1, "X", "B"), on(1, "X", "C")])
    assert m.overall.shared.revenue == (Revenue("EUR", 50, 50, 1), Revenue("USD", 400, 200, 2))
    assert (m.overall.shared.cycle_days, m.overall.shared.cycle_deals) == (1.0, 2)  # E3's opening unknown


def at(day: int) -> datetime:
    return datetime(2026, 3, day, 9, tzinfo=UTC)


def test_outcomes_fold_into_one_deal_whatever_order_they_arrive_in() -> None:
    d = Deal("O", "L")
    d = apply_outcome(d, "stage_changed", "negotiation", None, None, None, at(10))
    d = apply_outcome(d, "opportunity_created", "discovery", None, None, None, at(1))  # late, older
    assert (d.opened_on, d.stage) == (date(2026, 3, 1), "negotiation")
    d = apply_outcome(d, "lost", "closed_lost", None, None, date(2026, 3, 12), at(12))
    assert (d.outcome, d.closed_on, d.stage, d.cycle_days) == ("lost", date(2026, 3, 12), "negotiation", 11)
    d = apply_outcome(d, "won", "closed_won", 9_900, "USD", date(2026, 3, 20), at(20))  # re-opened and won
    assert (d.outcome, d.amount_minor, d.currency, d.cycle_days) == ("won", 9_900, "USD", 19)
    d = apply_outcome(d, "lost", None, None, None, None, at(15))  # an older report does not undo the win
    assert d.outcome == "won"
    only_closed = apply_outcome(Deal("P", "L"), "won", "closed_won", 1, "USD", date(2026, 3, 2), at(2))
    assert (only_closed.stage, only_closed.cycle_days) == ("closed_won", None)
