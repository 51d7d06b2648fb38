"""Nurture: marketing's pool of leads with long-term potential, missed follow-ups
and disqualified-for-now leads, kept until they are ready for sales again."""

from __future__ import annotations

from pathlib import Path

from services.nurture.api import router
from services.nurture.handlers import NurtureDeps, registry
from services.nurture.repository import PoolRepository
from services.nurture.settings import NurtureSettings
from shared.service import ServiceDefinition


def build_service(settings: NurtureSettings | None = None) -> ServiceDefinition:
    settings = settings or NurtureSettings()
    deps = NurtureDeps(pool=PoolRepository(settings.schema))
    return ServiceDefinition(
        settings=settings,
        title="Leadbridge nurture",
        migrations=Path(__file__).parent / "migrations",
        handlers=registry(deps),
        deps=deps,
        routers=[router],
    )
