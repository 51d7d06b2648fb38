"""Does an item help close deals? Pure rules, no I/O.

A deal is an opportunity the CRM reported (``deal-outcome-recorded``), folded by
:func:`apply_outcome` into one :class:`Deal`: when it opened, the stage it reached, how
it closed. An item was *shared on* a deal when a rep shared it with the deal's lead on or
before the day the deal closed (a share after the close cannot have helped).

:func:`measure` compares, for each item, the closed deals it was shared on against
*comparable* closed deals it was not shared on: deals of the same segment and the same
stage as one of the deals it was shared on (the cohorts). Each side gets its win rate,
its won revenue (per currency: money is never added across currencies) and its mean
cycle length (days from opening to close), each with the count of deals behind it, so
nobody reads a 100 % win rate off one deal. A deal whose lead content never saw graded
has no segment and is compared with nothing.

:func:`ranking_score` turns a comparison into the number "for this lead" ranks by: the
difference of the two win rates, each smoothed (Laplace: one win and one loss added), so
that an item measured on no deals scores 0 and one lucky deal does not outrank twenty.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Literal

Outcome = Literal["won", "lost"]
NO_STAGE = ""  # a deal the CRM never gave a stage


@dataclass(frozen=True)
class Deal:
    """One opportunity as content knows it. ``stage`` is the last stage the CRM reported
    before the close (what makes two deals comparable); ``segment`` is the lead's."""

    opportunity_id: str
    lead_id: str
    segment: str | None = None
    stage: str | None = None
    stage_at: datetime | None = None
    opened_on: date | None = None
    outcome: Outcome | None = None
    closed_on: date | None = None
    closed_at: datetime | None = None
    amount_minor: int | None = None
    currency: str | None = None

    @property
    def closed(self) -> bool:
        return self.outcome is not None

    @property
    def cohort(self) -> tuple[str, str] | None:
        """(segment, stage): deals of one cohort are comparable; None without a segment."""
        return (self.segment, self.stage or NO_STAGE) if self.segment else None

    @property
    def cycle_days(self) -> int | None:
        if self.opened_on is None or self.closed_on is None:
            return None
        return (self.closed_on - self.opened_on).days


def apply_outcome(deal: Deal, kind: str, stage: str | None, amount_minor: int | None, currency: str | None,
                  close_date: date | None, occurred_at: datetime) -> Deal:
    """Fold one CRM outcome (``DealOutcomeKind``'s value) into the deal, whatever order
    they arrive in: it opened on the day of its ``opportunity_created`` (without one, its
    cycle is unknown and not counted); the stage is the latest one reported
    before a close (a closing report's stage counts only when nothing else gave one); the
    latest won/lost report decides how it closed (a deal lost then re-opened and won is won)."""
    opened = occurred_at.date() if kind == "opportunity_created" else None
    if opened is not None and (deal.opened_on is None or opened < deal.opened_on):
        deal = replace(deal, opened_on=opened)
    if kind == "won" or kind == "lost":
        if deal.closed_at is None or occurred_at >= deal.closed_at:
            outcome: Outcome = "won" if kind == "won" else "lost"
            deal = replace(deal, outcome=outcome, closed_at=occurred_at, closed_on=close_date or occurred_at.date(),
                           amount_minor=amount_minor if amount_minor is not None else deal.amount_minor,
                           currency=currency if currency is not None else deal.currency)
        if deal.stage is None and stage:
            deal = replace(deal, stage=stage)
    elif stage and (deal.stage_at is None or occurred_at >= deal.stage_at):
        deal = replace(deal, stage=stage, stage_at=occurred_at)
    return deal


@dataclass(frozen=True)
class Share:
    """A rep shared ``item_id`` with ``lead_id`` at ``at``."""

    item_id: str
    lead_id: str
    at: datetime


@dataclass(frozen=True)
class Revenue:
    """Won revenue in one currency: the total and the mean over the ``deals`` behind it."""

    currency: str
    total_minor: int
    average_minor: int
    deals: int


@dataclass(frozen=True)
class Figures:
    """One side of a comparison, with the counts behind each figure."""

    deals: int  # closed deals
    won: int
    win_rate: float | None  # won / deals; None with no deals
    revenue: tuple[Revenue, ...]  # won deals with an amount, per currency
    cycle_days: float | None  # mean days from opening to close
    cycle_deals: int  # closed deals whose opening is known

    @staticmethod
    def of(deals: Iterable[Deal]) -> Figures:
        closed = [d for d in deals if d.closed]
        won = [d for d in closed if d.outcome == "won"]
        money: dict[str, list[int]] = defaultdict(list)
        for d in won:
            if d.amount_minor is not None and d.currency is not None:
                money[d.currency].append(d.amount_minor)
        revenue = tuple(Revenue(c, sum(v), round(sum(v) / len(v)), len(v)) for c, v in sorted(money.items()))
        cycles = [c for d in closed if (c := d.cycle_days) is not None]
        return Figures(deals=len(closed), won=len(won), win_rate=len(won) / len(closed) if closed else None,
                       revenue=revenue, cycle_days=sum(cycles) / len(cycles) if cycles else None,
                       cycle_deals=len(cycles))


@dataclass(frozen=True)
class Comparison:
    """Deals an item was shared on against comparable deals it was not shared on."""

    shared: Figures
    not_shared: Figures
    cohorts: tuple[tuple[str, str], ...]  # the (segment, stage) cohorts compared

    @property
    def win_rate_lift(self) -> float | None:
        """Shared win rate minus comparable win rate, when both sides have deals."""
        if self.shared.win_rate is None or self.not_shared.win_rate is None:
            return None
        return self.shared.win_rate - self.not_shared.win_rate


@dataclass(frozen=True)
class ItemEffectiveness:
    item_id: str
    overall: Comparison
    by_segment: Mapping[str, Comparison] = field(default_factory=dict)


def _compare(shared_on: Sequence[Deal], by_cohort: Mapping[tuple[str, str], Sequence[Deal]]) -> Comparison:
    cohorts = sorted({c for d in shared_on if (c := d.cohort) is not None})
    mine = {d.opportunity_id for d in shared_on}
    comparable = [d for c in cohorts for d in by_cohort.get(c, ()) if d.opportunity_id not in mine]
    return Comparison(Figures.of(shared_on), Figures.of(comparable), tuple(cohorts))


def measure(item_ids: Iterable[str], deals: Iterable[Deal], shares: Iterable[Share]) -> list[ItemEffectiveness]:
    """Each item's effectiveness, overall and per segment (see the module's docstring).
    Only closed deals with a segment count; an item never shared on one gets empty figures.
    The work per item is the size of the cohorts it was shared in, not the number of deals."""
    closed = [d for d in deals if d.closed and d.segment]
    by_lead: dict[str, list[Deal]] = defaultdict(list)
    by_cohort: dict[tuple[str, str], list[Deal]] = defaultdict(list)
    for d in closed:
        by_lead[d.lead_id].append(d)
        if (c := d.cohort) is not None:
            by_cohort[c].append(d)
    shared_on: dict[str, dict[str, Deal]] = defaultdict(dict)  # item -> opportunity id -> deal
    for s in shares:
        for d in by_lead.get(s.lead_id, ()):
            if d.closed_on is None or s.at.date() <= d.closed_on:
                shared_on[s.item_id][d.opportunity_id] = d
    out = []
    for item_id in item_ids:
        mine = sorted(shared_on.get(item_id, {}).values(), key=lambda d: d.opportunity_id)
        segments = sorted({d.segment for d in mine if d.segment})
        out.append(ItemEffectiveness(
            item_id, _compare(mine, by_cohort),
            {s: _compare([d for d in mine if d.segment == s], by_cohort) for s in segments}))
    return out


def ranking_score(comparison: Comparison | None) -> float:
    """What "for this lead" ranks by: smoothed shared win rate minus smoothed comparable
    win rate (each (won + 1) / (deals + 2)); 0 for an item measured on no deals."""
    if comparison is None or comparison.shared.deals == 0:
        return 0.0
    s, c = comparison.shared, comparison.not_shared
    return (s.won + 1) / (s.deals + 2) - (c.won + 1) / (c.deals + 2)
