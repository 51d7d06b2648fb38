"""Collateral's pure rules: what an item is, and which items suit a lead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Kind = Literal["case_study", "value_proposition", "proof_point", "deck", "one_pager", "video", "battlecard"]
Stage = Literal["awareness", "consideration", "decision", "onboarding"]
Status = Literal["draft", "in_review", "published", "retired"]

MAX_AGE = timedelta(days=365)  # the brief: anything older than a year is thrown away


@dataclass(frozen=True)
class Item:
    item_id: str
    title: str
    kind: str
    segments: tuple[str, ...]
    stages: tuple[str, ...]
    status: str
    updated_at: datetime


def is_stale(item: Item, now: datetime) -> bool:
    return now - item.updated_at > MAX_AGE


def suits(item: Item, segment: str | None, stage: str | None, now: datetime) -> bool:
    """An item a rep may hand to this lead: published, current, and for its segment
    (an item tagged with no segment suits every segment)."""
    if item.status != "published" or is_stale(item, now):
        return False
    if segment is not None and item.segments and segment not in item.segments:
        return False
    return stage is None or not item.stages or stage in item.stages
