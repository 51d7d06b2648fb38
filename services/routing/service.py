"""Routing: gives every scored lead an owner (a rep, a team queue or nurture) under the
sales organisation and rules, runs the follow-up clock and escalates missed follow-ups."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from services.routing import handlers
from services.routing.api import build_router
from services.routing.documents import default_rules_path, read_org_file, read_rules_file
from services.routing.handlers import Routing
from services.routing.settings import RoutingSettings
from shared import topics
from shared.events import LeadScored
from shared.handling import Periodic, Registry, Subscription, UnitOfWork, UnitOfWorkFactory
from shared.service import ServiceDefinition

log = logging.getLogger(__name__)


def build_service(settings: RoutingSettings | None = None) -> ServiceDefinition:
    """The routing service: consumer, SLA timers, HTTP edge, seeding of the organisation."""
    settings = settings or RoutingSettings()
    routing = Routing.for_schema(settings.schema, settings.routing_timer_batch)

    async def on_scored(events: Sequence[LeadScored], uow: UnitOfWork) -> None:
        await handlers.on_lead_scored(events, uow, routing)

    async def seed(units: UnitOfWorkFactory) -> None:
        org_file = settings.routing_org_file
        org, rules = read_org_file(org_file)
        if rules is None:
            rules = read_rules_file(settings.routing_rules_file or default_rules_path(org_file))
        elif settings.routing_rules_file is not None:
            rules = read_rules_file(settings.routing_rules_file)
        async with units() as uow:
            seeded = await handlers.seed_config(uow, routing, org, rules, str(org_file))
        log.info("routing configuration " + ("seeded" if seeded else "already present"),
                 extra={"org_file": str(org_file)})

    return ServiceDefinition(
        settings=settings,
        title="Leadbridge routing",
        migrations=Path(__file__).parent / "migrations",
        handlers=Registry(subscriptions=[Subscription(topics.LEAD_SCORED, batch_handler=on_scored)],
                          periodic=[Periodic("sla-timers", settings.routing_timer_interval_s,
                                             lambda units: run_timers(units, routing))],
                          startup=[seed]),
        routers=[build_router(routing)],
    )


async def run_timers(units: UnitOfWorkFactory, routing: Routing) -> int:
    """Fire every due breach and reminder, one transaction per chunk, until none is due."""
    fired = 0
    while True:
        async with units() as uow:
            n = await handlers.fire_due(uow, routing)
        fired += n
        if n < routing.timer_batch:
            break
    while True:
        async with units() as uow:
            n = await handlers.fire_reminders(uow, routing)
        if n < routing.timer_batch:
            break
    async with units() as uow:
        await handlers.report_timer_backlog(uow, routing)
    return fired
