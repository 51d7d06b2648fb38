"""What marketing should revise, prune or expand, judged by use. Pure rules, no I/O.

- **Revise** a live item reps rate low: its mean rating is below ``revise_below`` over at
  least ``min_ratings`` ratings (one grumpy rep is not a verdict). Worst first, with the
  comments of its low ratings, newest first (the reason to revise).
- **Prune** a live item nobody used (shared, viewed, used in a meeting) for
  ``unused_days`` days; an item published more recently than that is not judged yet.
  Longest unused first.
- **Expand** a segment, or a funnel stage, where deals are won often and reps have little
  to hand out: a win rate of at least ``expand_win_rate`` over at least ``min_deals``
  closed deals, and at most ``few_items`` live items tagged for it (an untagged item is
  not counted: it was written for nobody in particular). Highest win rate first. A
  deal's CRM stage is a funnel stage when it is one's name (or :data:`CRM_STAGES` maps
  it); deals at other stages count for segments only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.content.domain.effectiveness import Deal

FUNNEL_STAGES = ("awareness", "consideration", "decision", "onboarding")
# common CRM pipeline stages and the funnel stage whose collateral serves them
CRM_STAGES: Mapping[str, str] = {
    "prospecting": "awareness", "lead": "awareness", "qualification": "consideration",
    "discovery": "consideration", "demo": "consideration", "proposal": "decision", "negotiation": "decision",
    "closed_won": "onboarding", "onboarding": "onboarding",
}


@dataclass(frozen=True)
class Thresholds:
    revise_below: float = 3.0
    min_ratings: int = 2
    unused_days: int = 90
    expand_win_rate: float = 0.5
    min_deals: int = 3
    few_items: int = 1


@dataclass(frozen=True)
class LiveItem:
    item_id: str
    title: str
    segments: tuple[str, ...]
    stages: tuple[str, ...]
    published_at: datetime | None


@dataclass(frozen=True)
class Rating:
    item_id: str
    rep_id: str
    rating: int
    comment: str
    at: datetime


@dataclass(frozen=True)
class ToRevise:
    item_id: str
    title: str
    average_rating: float
    ratings: int
    low_comments: tuple[str, ...]


@dataclass(frozen=True)
class ToPrune:
    item_id: str
    title: str
    last_used_at: datetime | None
    published_at: datetime | None
    unused_days: int


@dataclass(frozen=True)
class ToExpand:
    kind: str  # "segment" or "stage"
    name: str
    win_rate: float
    won: int
    deals: int
    live_items: int


@dataclass(frozen=True)
class Upkeep:
    revise: tuple[ToRevise, ...]
    prune: tuple[ToPrune, ...]
    expand: tuple[ToExpand, ...]


def funnel_stage(crm_stage: str | None) -> str | None:
    """The funnel stage a CRM stage belongs to, or None."""
    if not crm_stage:
        return None
    key = crm_stage.strip().lower().replace(" ", "_").replace("-", "_")
    return key if key in FUNNEL_STAGES else CRM_STAGES.get(key)


def _latest_per_rep(ratings: Iterable[Rating]) -> dict[str, list[Rating]]:
    """A rep's latest rating of an item replaces their earlier ones."""
    latest: dict[tuple[str, str], Rating] = {}
    for r in sorted(ratings, key=lambda r: r.at):
        latest[(r.item_id, r.rep_id)] = r
    per_item: dict[str, list[Rating]] = defaultdict(list)
    for r in latest.values():
        per_item[r.item_id].append(r)
    return per_item


def upkeep(items: Sequence[LiveItem], ratings: Iterable[Rating], last_used: Mapping[str, datetime],
           deals: Iterable[Deal], now: datetime, t: Thresholds = Thresholds()) -> Upkeep:
    """The revise / prune / expand report (see the module's docstring)."""
    per_item = _latest_per_rep(ratings)
    revise = []
    for item in items:
        rs = per_item.get(item.item_id, [])
        if len(rs) < t.min_ratings:
            continue
        average = sum(r.rating for r in rs) / len(rs)
        if average < t.revise_below:
            low = tuple(r.comment for r in sorted(rs, key=lambda r: r.at, reverse=True)
                        if r.rating < t.revise_below and r.comment)
            revise.append(ToRevise(item.item_id, item.title, round(average, 2), len(rs), low))
    revise.sort(key=lambda r: (r.average_rating, r.item_id))

    prune = []
    horizon = now - timedelta(days=t.unused_days)
    for item in items:
        used = last_used.get(item.item_id)
        since = used or item.published_at
        if since is None or since > horizon:
            continue
        prune.append(ToPrune(item.item_id, item.title, used, item.published_at, (now - since).days))
    prune.sort(key=lambda p: (-p.unused_days, p.item_id))

    wins: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])  # (kind, name) -> [won, deals]
    for d in deals:
        if not d.closed:
            continue
        keys = [("segment", d.segment)] if d.segment else []
        if (stage := funnel_stage(d.stage)) is not None:
            keys.append(("stage", stage))
        for key in keys:
            wins[key][0] += d.outcome == "won"
            wins[key][1] += 1
    content: dict[tuple[str, str], int] = defaultdict(int)
    for item in items:
        for s in item.segments:
            content[("segment", s)] += 1
        for s in item.stages:
            content[("stage", s)] += 1
    expand = [ToExpand(kind, name, round(won / n, 4), won, n, content[(kind, name)])
              for (kind, name), (won, n) in wins.items()
              if n >= t.min_deals and won / n >= t.expand_win_rate and content[(kind, name)] <= t.few_items]
    expand.sort(key=lambda e: (-e.win_rate, -e.deals, e.kind, e.name))
    return Upkeep(tuple(revise), tuple(prune), tuple(expand))
