"""Content: marketing's collateral library, tagged by segment and stage, and what
suits each graded lead."""

from __future__ import annotations

from pathlib import Path

from services.content.api import router
from services.content.handlers import ContentDeps, registry
from services.content.repository import ContentRepository
from services.content.settings import ContentSettings
from shared.service import ServiceDefinition


def build_service(settings: ContentSettings | None = None) -> ServiceDefinition:
    settings = settings or ContentSettings()
    deps = ContentDeps(collateral=ContentRepository(settings.schema))
    return ServiceDefinition(
        settings=settings,
        title="Leadbridge content",
        migrations=Path(__file__).parent / "migrations",
        handlers=registry(deps),
        deps=deps,
        routers=[router],
    )
