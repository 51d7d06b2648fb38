"""The scoring service: consumes lead-captured and lead-engaged, emits lead-scored and
rubric-activated, serves the score ledger and the rubric workflow on port 8002."""

from __future__ import annotations

from pathlib import Path

from services.scoring.api import router
from services.scoring.handlers import ScoringDeps, registry
from services.scoring.repository import GradedLeadRepository, RubricRepository, ScoringSubjects
from services.scoring.settings import ScoringSettings
from shared import privacy_api
from shared.auth import Role
from shared.service import ServiceDefinition

MIGRATIONS = Path(__file__).parent / "migrations"


def build_service(settings: ScoringSettings | None = None) -> ServiceDefinition:
    """Wire scoring's repositories, handlers and routes into a service definition."""
    settings = settings or ScoringSettings()
    deps = ScoringDeps(leads=GradedLeadRepository(settings.schema), rubrics=RubricRepository(settings.schema),
                       reasons=settings.scoring_reasons, rubric_file=settings.scoring_rubric_file,
                       grade_gauge_every_s=settings.scoring_grade_gauge_every_s,
                       subjects=ScoringSubjects(settings.schema))
    return ServiceDefinition(
        settings=settings,
        title="Leadbridge scoring",
        migrations=MIGRATIONS,
        handlers=registry(deps),
        deps=deps,
        routers=[router, privacy_api.router("scoring")],
        # the people who agree the rubric read its audit trail (who drafted, signed, activated)
        audit_readers={Role.marketing: {"rubric"}, Role.sales_approver: {"rubric"}},
    )
