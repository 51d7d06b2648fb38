"""The app: the people's web pages (reps, managers, marketing, operators) and the
embedded accounts that sign them in. It owns only the accounts; everything else it shows
comes from the other services' APIs, called with the signed-in person's own token."""

from __future__ import annotations

from pathlib import Path

from services.app.api import router as api_router
from services.app.boards.pages import router as boards_router
from services.app.handlers import AppDeps, TokenSigner, registry
from services.app.pages import router as pages_router
from services.app.repository import AccountRepository
from services.app.settings import AppSettings
from services.app.tokens import KeyFileSigner, NoSigningKey
from services.app.upstream import Upstream
from shared.service import ServiceDefinition


def build_service(settings: AppSettings | None = None) -> ServiceDefinition:
    """Wire the app's accounts, signer, upstream services, handlers and pages."""
    settings = settings or AppSettings()
    signer: TokenSigner = (KeyFileSigner(settings.auth_signing_key_file, settings.auth_issuer, settings.auth_audience,
                                         settings.auth_roles_claim)
                           if settings.auth_signing_key_file else NoSigningKey())
    upstream = Upstream({"capture": settings.app_capture_url, "scoring": settings.app_scoring_url,
                         "routing": settings.app_routing_url, "nurture": settings.app_nurture_url,
                         "content": settings.app_content_url}, settings.app_upstream_timeout_s)
    deps = AppDeps(accounts=AccountRepository(settings.schema), signer=signer, upstream=upstream,
                   seed_file=settings.app_accounts_file, access_ttl_s=settings.app_access_ttl_s,
                   refresh_ttl_s=settings.app_refresh_ttl_s, cookie_secure=settings.app_cookie_secure,
                   content_public_url=settings.app_content_public_url or settings.app_content_url)
    return ServiceDefinition(
        settings=settings,
        title="Leadbridge app",
        migrations=Path(__file__).parent / "migrations",
        handlers=registry(deps),
        deps=deps,
        routers=[api_router, pages_router, boards_router],
    )
