"""Content: marketing's collateral library, tagged by segment and stage, and what
suits each graded lead."""

from __future__ import annotations

from pathlib import Path

from services.content.api import router
from services.content.repository import ContentRepository
from services.content.settings import ContentSettings
from shared import topics
from shared.events import LeadScored
from shared.handling import Handler, Registry, Subscription, UnitOfWork
from shared.service import ServiceDefinition


def segment_learner(schema: str) -> Handler[LeadScored]:
    async def on_scored(event: LeadScored, uow: UnitOfWork) -> None:
        await ContentRepository(uow.conn, schema).remember_segment(event.lead_id, event.segment, event.grade,
                                                                   event.occurred_at)
    return on_scored


def build_service(settings: ContentSettings | None = None) -> ServiceDefinition:
    settings = settings or ContentSettings()
    return ServiceDefinition(
        settings=settings,
        title="Leadbridge content",
        migrations=Path(__file__).parent / "migrations",
        handlers=Registry(subscriptions=[Subscription(topics.LEAD_SCORED, handler=segment_learner(settings.schema))]),
        routers=[router],
    )
