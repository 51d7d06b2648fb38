"""Scoring's own metrics: the grade distribution dashboards count.

``leadbridge_scoring_leads{grade, source}`` is the number of leads holding each grade
now, by capture channel, refreshed from the database on a clock (every replica
reports the same figures: take ``max`` across replicas, not ``sum``). Per-campaign
counts have unbounded label values, so they are served over HTTP (``GET /v1/grades``)
instead."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Gauge

LEADS_BY_GRADE = Gauge("leadbridge_scoring_leads", "Leads holding each grade now, by capture source",
                       ["grade", "source"])


def set_grade_counts(counts: Mapping[str | None, Mapping[str, int]]) -> None:
    """Report ``source → grade → leads`` (the repository's ``grade_counts(conn, "source")``)."""
    for source, by_grade in counts.items():
        for grade, n in by_grade.items():
            LEADS_BY_GRADE.labels(grade, source or "").set(n)
