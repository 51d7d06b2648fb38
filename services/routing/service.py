"""Routing: gives every scored lead an owner (a rep, a team queue or nurture) under the
sales organisation and rules, runs the follow-up clock and escalates missed follow-ups."""

from __future__ import annotations

from pathlib import Path

from services.routing.api import router
from services.routing.handlers import RoutingDeps, registry
from services.routing.repository import RoutingRepository, RoutingSubjects
from services.routing.settings import RoutingSettings
from shared import privacy_api
from shared.service import ServiceDefinition


def build_service(settings: RoutingSettings | None = None) -> ServiceDefinition:
    """Wire routing's repository, handlers and routes into a service definition."""
    settings = settings or RoutingSettings()
    deps = RoutingDeps(repo=RoutingRepository(settings.schema), timer_batch=settings.routing_timer_batch,
                       timer_interval_s=settings.routing_timer_interval_s, org_file=settings.routing_org_file,
                       rules_file=settings.routing_rules_file, subjects=RoutingSubjects(settings.schema))
    return ServiceDefinition(
        settings=settings,
        title="Leadbridge routing",
        migrations=Path(__file__).parent / "migrations",
        handlers=registry(deps),
        deps=deps,
        routers=[router, privacy_api.router("routing")],
    )
