"""The scoring service: consumes lead-captured and lead-engaged, emits lead-scored and
rubric-activated, serves the score ledger and the rubric workflow on port 8002."""

from __future__ import annotations

from pathlib import Path

from services.scoring.api import build_router
from services.scoring.handlers import ScoringHandlers
from services.scoring.metrics import refresh_grade_gauge
from services.scoring.repository import Leads, Rubrics
from services.scoring.settings import ScoringSettings
from shared.handling import Periodic, Registry, Subscription, UnitOfWorkFactory
from shared.service import ServiceDefinition
from shared.topics import LEAD_CAPTURED, LEAD_ENGAGED

MIGRATIONS = Path(__file__).parent / "migrations"


def build_service(settings: ScoringSettings | None = None) -> ServiceDefinition:
    """Wire scoring's handlers, routes and startup into a service definition."""
    settings = settings or ScoringSettings()
    handlers = ScoringHandlers(Leads(settings.schema), Rubrics(settings.schema), settings.scoring_reasons)

    async def load_rubric_file(units: UnitOfWorkFactory) -> None:
        async with units() as uow:
            await handlers.bootstrap(uow, settings.scoring_rubric_file)

    return ServiceDefinition(
        settings=settings,
        title="Leadbridge scoring",
        migrations=MIGRATIONS,
        handlers=Registry(
            subscriptions=[Subscription(LEAD_CAPTURED, batch_handler=handlers.on_lead_captured),
                           Subscription(LEAD_ENGAGED, batch_handler=handlers.on_lead_engaged)],
            startup=[load_rubric_file],
            periodic=[Periodic("grade-gauge", settings.scoring_grade_gauge_every_s,
                               lambda units: refresh_grade_gauge(handlers.leads, units))]),
        routers=[build_router(handlers)],
    )
