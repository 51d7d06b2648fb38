"""Content: marketing's collateral library (drafted by marketing, reviewed by sales,
published, shared with leads, retired after a year) and what suits each graded lead."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from services.content.api import router
from services.content.domain.lifecycle import Policy
from services.content.handlers import ContentDeps, OffsetClock, registry
from services.content.repository import ContentRepository, ContentSubjects
from services.content.settings import ContentSettings
from services.content.storage import FileStore, FilesystemStore, S3Store, s3_client
from services.content.use_api import router as use_router
from services.content.use_repository import UseRepository
from shared import privacy_api
from shared.events import utcnow
from shared.service import ServiceDefinition


def file_store(settings: ContentSettings) -> FileStore:
    if settings.storage == "s3":
        if not settings.s3_bucket:
            raise ValueError("LEADBRIDGE_S3_BUCKET is required with LEADBRIDGE_STORAGE=s3")
        return S3Store(s3_client(settings.s3_endpoint_url, settings.s3_region), settings.s3_bucket,
                       settings.s3_prefix)
    return FilesystemStore(settings.data_dir / "files")


def build_service(settings: ContentSettings | None = None) -> ServiceDefinition:
    settings = settings or ContentSettings()
    test_clock = OffsetClock() if settings.test_clock else None
    files = file_store(settings)
    deps = ContentDeps(collateral=ContentRepository(settings.schema), files=files,
                       subjects=ContentSubjects(settings.schema, files),
                       use=UseRepository(settings.schema),
                       policy=Policy({str(k): v for k, v in settings.approval_policy.items()}),
                       max_upload_bytes=settings.max_upload_bytes,
                       lifetime=timedelta(days=settings.retire_after_days),
                       retirement_every_s=settings.retirement_every_s, gauges_every_s=settings.gauges_every_s,
                       test_clock=test_clock, clock=test_clock if test_clock is not None else utcnow,
                       effectiveness_every_s=settings.effectiveness_every_s,
                       upkeep_thresholds=settings.upkeep_thresholds(), outlier_below=settings.one_message_outlier_below)
    return ServiceDefinition(
        settings=settings,
        title="Leadbridge content",
        migrations=Path(__file__).parent / "migrations",
        handlers=registry(deps),
        deps=deps,
        routers=[router, use_router, privacy_api.router("content")],
    )
