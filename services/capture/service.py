"""Capture: the HTTP edge where leads and activities enter, and the projection of
every lead event that answers "where is this lead and what happened to it"."""

from __future__ import annotations

from pathlib import Path

from services.capture.api import router
from services.capture.handlers import project_into
from services.capture.settings import CaptureSettings
from shared import topics
from shared.handling import Registry, Subscription
from shared.service import ServiceDefinition

PROJECTED = (topics.LEAD_CAPTURED, topics.LEAD_ENGAGED, topics.LEAD_SCORED, topics.LEAD_ASSIGNED,
             topics.FOLLOW_UP_RECORDED, topics.FOLLOW_UP_MISSED)


def build_service(settings: CaptureSettings | None = None) -> ServiceDefinition:
    settings = settings or CaptureSettings()
    project = project_into(settings.schema)
    return ServiceDefinition(
        settings=settings,
        title="Leadbridge capture",
        migrations=Path(__file__).parent / "migrations",
        handlers=Registry(subscriptions=[Subscription(spec, batch_handler=project) for spec in PROJECTED]),
        routers=[router],
    )
