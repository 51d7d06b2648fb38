"""Nurture: marketing's pool of leads with long-term potential, missed follow-ups
and disqualified-for-now leads, kept until they are ready for sales again."""

from __future__ import annotations

from pathlib import Path

from services.nurture.api import router
from services.nurture.handlers import handlers_for
from services.nurture.settings import NurtureSettings
from shared import topics
from shared.handling import Registry, Subscription
from shared.service import ServiceDefinition


def build_service(settings: NurtureSettings | None = None) -> ServiceDefinition:
    settings = settings or NurtureSettings()
    on_assigned, on_missed, on_scored = handlers_for(settings.schema)
    return ServiceDefinition(
        settings=settings,
        title="Leadbridge nurture",
        migrations=Path(__file__).parent / "migrations",
        handlers=Registry(subscriptions=[Subscription(topics.LEAD_ASSIGNED, handler=on_assigned),
                                         Subscription(topics.FOLLOW_UP_MISSED, handler=on_missed),
                                         Subscription(topics.LEAD_SCORED, handler=on_scored)]),
        routers=[router],
    )
