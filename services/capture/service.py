"""Capture: the HTTP edge where leads and activities enter, and the projection of
every lead event that answers "where is this lead and what happened to it"."""

from __future__ import annotations

from pathlib import Path

from services.capture.api import imports_router, privacy_router, router
from services.capture.handlers import CaptureDeps, registry
from services.capture.repository import CaptureSubjects, ErasureRepository, ImportRepository, LeadRepository
from services.capture.settings import CaptureSettings
from shared import pii, source_admin
from shared.service import ServiceDefinition


def build_service(settings: CaptureSettings | None = None) -> ServiceDefinition:
    settings = settings or CaptureSettings()
    deps = CaptureDeps(leads=LeadRepository(settings.schema), imports=ImportRepository(settings.schema),
                       keys=pii.PostgresKeyTable(),
                       max_clock_skew_s=settings.max_clock_skew_s, import_max_rows=settings.import_max_rows,
                       import_chunk_rows=settings.import_chunk_rows, import_validate_rows=settings.import_validate_rows,
                       import_every_s=settings.import_every_s,
                       erasures=ErasureRepository(settings.schema), subjects=CaptureSubjects(settings.schema),
                       privacy_services=tuple(settings.privacy_services),
                       retention_s=settings.retention_days * 86400, retention_every_s=settings.retention_every_s,
                       peer_urls=dict(settings.peer_urls),
                       capture_group_max=settings.capture_group_max,
                       capture_groups_in_flight=settings.capture_groups_in_flight)
    return ServiceDefinition(
        settings=settings,
        title="Leadbridge capture",
        migrations=Path(__file__).parent / "migrations",
        handlers=registry(deps),
        deps=deps,
        routers=[router, imports_router, source_admin.router, privacy_router],
        body_limits={"/v1/imports": settings.import_max_bytes},
    )
