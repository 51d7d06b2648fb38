"""Scoring's own metrics: the grade distribution dashboards count.

``leadbridge_scoring_leads{grade, source}`` is the number of leads holding each grade
now, by capture channel, refreshed from the database on a clock (every replica
reports the same figures: take ``max`` across replicas, not ``sum``). Per-campaign
counts have unbounded label values, so they are served over HTTP (``GET /v1/grades``)
instead."""

from __future__ import annotations

from prometheus_client import Gauge

from services.scoring.repository import Leads
from shared.handling import UnitOfWorkFactory

LEADS_BY_GRADE = Gauge("leadbridge_scoring_leads", "Leads holding each grade now, by capture source",
                       ["grade", "source"])


async def refresh_grade_gauge(leads: Leads, units: UnitOfWorkFactory) -> None:
    async with units() as uow:
        counts = await leads.grade_counts(uow.conn, "source")
    for source, by_grade in counts.items():
        for grade, n in by_grade.items():
            LEADS_BY_GRADE.labels(grade, source).set(n)
