"""Content's handlers: learn each graded lead's segment, add collateral, and find
what suits a lead (the rule is ``domain.collateral.suits``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.content.domain.collateral import suits
from services.content.repository import CollateralStore, Row, to_item
from shared import topics
from shared.events import LeadScored, utcnow
from shared.handling import Registry, Subscription, UnitOfWork, bind


@dataclass(frozen=True)
class ContentDeps:
    """What content's handlers and routes share."""

    collateral: CollateralStore
    clock: Callable[[], datetime] = utcnow


def registry(deps: ContentDeps) -> Registry:
    return Registry(subscriptions=[Subscription(topics.LEAD_SCORED, handler=bind(on_lead_scored, deps))])


async def on_lead_scored(deps: ContentDeps, event: LeadScored, uow: UnitOfWork) -> None:
    """Remember the lead's segment: reps ask for collateral by lead, collateral is tagged by segment."""
    await deps.collateral.remember_segment(uow.conn, event.lead_id, event.segment, event.grade, event.occurred_at)


@dataclass(frozen=True)
class NewItem:
    title: str
    kind: str
    url: str
    summary: str
    segments: Sequence[str]
    stages: Sequence[str]
    owner: str


async def add_item(deps: ContentDeps, uow: UnitOfWork, item: NewItem) -> Row:
    """Add an item to the library; it starts as a draft."""
    return await deps.collateral.create(uow.conn, str(uuid.uuid4()), item.title, item.kind, item.url, item.summary,
                                        item.segments, item.stages, item.owner)


@dataclass(frozen=True)
class Suggestions:
    lead_id: str
    segment: str
    items: list[Row]


async def collateral_for(deps: ContentDeps, uow: UnitOfWork, lead_id: str, stage: str | None) -> Suggestions | None:
    """The published, current collateral that suits a graded lead's segment (and stage);
    None if content has not seen the lead graded yet."""
    segment = await deps.collateral.segment_of(uow.conn, lead_id)
    if segment is None:
        return None
    rows = await deps.collateral.list_items(uow.conn, "published", segment, stage)
    now = deps.clock()
    return Suggestions(lead_id, segment, [r for r in rows if suits(to_item(r), segment, stage, now)])
