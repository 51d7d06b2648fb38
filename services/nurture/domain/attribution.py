"""Attribution: how a won deal's revenue is credited to the campaigns that touched
the lead before it closed. Pure functions over the lead's touches; the handlers
recompute a deal's credits when it closes, when a touch arrives late (dated before
the close), and for every deal when the models' parameters change.

Each model gives every touch an integer weight (its proportions scaled to whole
numbers; time decay's to about 1e-12); the amount (integer minor units, cents) is
split by those weights with the largest-remainder method in integer arithmetic, so a deal's credits always
sum to its amount exactly, whatever the model:

- ``first_touch`` / ``last_touch``: all of it to the first / last touch;
- ``linear``: equal shares;
- ``u_shaped``: 40 % first, 40 % last, 20 % shared by the touches between (with no
  touch between, first and last take half each);
- ``w_shaped``: 30 % each to the first touch, the touch that created the opportunity
  (the last one at or before it was opened; the middle touch if that is unknown) and
  the last, 10 % shared by the rest (with no rest, the 10 % goes to the milestones);
- ``time_decay``: a touch's weight halves for every ``half_life_days`` before the close.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

Model = Literal["first_touch", "last_touch", "linear", "u_shaped", "w_shaped", "time_decay"]
MODELS: tuple[Model, ...] = get_args(Model)
DEFAULT_HALF_LIFE_DAYS = 7.0


@dataclass(frozen=True)
class Touch:
    """A campaign touching the lead: ``channel`` is how (the capture's source, or ``activity``)."""

    campaign_id: str
    at: datetime
    channel: str = "activity"


@dataclass(frozen=True)
class Deal:
    opportunity_id: str
    amount_minor: int
    closed_at: datetime
    opened_at: datetime | None = None


@dataclass(frozen=True)
class Credit:
    opportunity_id: str
    model: Model
    campaign_id: str
    channel: str
    credit_minor: int


def counted(touches: Sequence[Touch], deal: Deal) -> list[Touch]:
    """The touches that can take credit: those at or before the close, oldest first."""
    return sorted((t for t in touches if t.at <= deal.closed_at), key=lambda t: (t.at, t.campaign_id, t.channel))


def _positional(model: Model, n: int, opportunity_index: int) -> list[int]:
    """Integer weights in the model's proportions (so that splitting needs no fractions)."""
    if n == 1:
        return [1]
    if model == "first_touch":
        return [1] + [0] * (n - 1)
    if model == "last_touch":
        return [0] * (n - 1) + [1]
    if model == "linear":
        return [1] * n
    if model == "u_shaped":
        if n == 2:
            return [1, 1]
        # 40 % / 20 % shared by n - 2 / 40 %, times 5 (n - 2)
        return [2 * (n - 2)] + [1] * (n - 2) + [2 * (n - 2)]
    # w_shaped: 90 % shared by the m milestones, 10 % by the r others (times 10 m r)
    milestones = sorted({0, min(max(opportunity_index, 0), n - 1), n - 1})
    m, r = len(milestones), n - len(milestones)
    if r == 0:
        return [1] * n
    weights = [m] * n
    for i in milestones:
        weights[i] = 9 * r
    return weights


_DECAY_SCALE = 2 ** 40  # time-decay weights as integers, to about 1e-12 of each other


def weights(model: Model, touches: Sequence[Touch], deal: Deal,
            half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> list[int]:
    """Each counted touch's weight under ``model``, as integers in the model's
    proportions (they need not sum to anything in particular)."""
    return _weights(model, counted(touches, deal), deal, half_life_days)


def _weights(model: Model, chosen: Sequence[Touch], deal: Deal, half_life_days: float) -> list[int]:
    if not chosen:
        return []
    if model == "time_decay":
        closed = deal.closed_at
        return [max(1, round(_DECAY_SCALE * 0.5 ** ((closed - t.at).total_seconds() / 86_400 / half_life_days)))
                for t in chosen]
    opened = deal.opened_at
    if opened is None:
        opportunity_index = len(chosen) // 2
    else:
        before = [i for i, t in enumerate(chosen) if t.at <= opened]
        opportunity_index = before[-1] if before else 0
    return _positional(model, len(chosen), opportunity_index)


def split(amount_minor: int, shares: Sequence[int]) -> list[int]:
    """``amount_minor`` split in proportion to the integer ``shares``: whole units that
    sum to it exactly (largest remainder; ties to the earlier share)."""
    total = sum(shares)
    if not shares or total <= 0:
        return [0] * len(shares)
    parts, remainders = [], []
    for i, share in enumerate(shares):
        whole, rest = divmod(amount_minor * share, total)
        parts.append(whole)
        remainders.append((-rest, i))
    left = amount_minor - sum(parts)
    if left:
        for _, i in sorted(remainders)[:left]:
            parts[i] += 1
    return parts


def _credit(model: Model, chosen: Sequence[Touch], deal: Deal, half_life_days: float) -> list[Credit]:
    parts = split(deal.amount_minor, _weights(model, chosen, deal, half_life_days))
    summed: dict[tuple[str, str], int] = {}
    for touch, part in zip(chosen, parts, strict=True):
        key = (touch.campaign_id, touch.channel)
        summed[key] = summed.get(key, 0) + part
    return [Credit(deal.opportunity_id, model, c, ch, v) for (c, ch), v in summed.items()]


def credit(model: Model, touches: Sequence[Touch], deal: Deal,
           half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> list[Credit]:
    """The deal's credits under ``model``, one per (campaign, channel) it reached.
    Empty when no campaign touched the lead before the close: that revenue is nobody's."""
    return _credit(model, counted(touches, deal), deal, half_life_days)


def credit_all(touches: Sequence[Touch], deal: Deal, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> list[Credit]:
    """The deal's credits under every model."""
    chosen = counted(touches, deal)
    return [c for model in MODELS for c in _credit(model, chosen, deal, half_life_days)]
