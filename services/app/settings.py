"""The app's settings (environment, prefix ``LEADBRIDGE_``): where the accounts come from,
how tokens are signed and how long they live, and where the other services answer."""

from __future__ import annotations

from pathlib import Path

from shared.settings import ServiceSettings

REPO_ROOT = Path(__file__).resolve().parents[2]


class AppSettings(ServiceSettings):
    service_name: str = "app"
    http_port: int = 8006
    # Seed of the embedded accounts (reps and a manager per team from the organisation it
    # names, plus the named users); only accounts not there yet are added at start.
    app_accounts_file: Path | None = REPO_ROOT / "deploy" / "demo" / "accounts.yaml"
    # The private key (PEM) the embedded accounts sign access tokens with; its public half
    # is published at /.well-known/jwks.json. The same setting name as shared.auth's.
    auth_signing_key_file: Path | None = None
    # Access tokens are short; a refresh token is rotated at each use and lives this long.
    app_access_ttl_s: int = 900
    app_refresh_ttl_s: int = 8 * 3600
    # Cookies carry the Secure attribute behind HTTPS (off for http://127.0.0.1).
    app_cookie_secure: bool = False
    # Where the other services answer; the app calls them with the signed-in person's token.
    app_capture_url: str = "http://127.0.0.1:8001"
    app_scoring_url: str = "http://127.0.0.1:8002"
    app_routing_url: str = "http://127.0.0.1:8003"
    app_nurture_url: str = "http://127.0.0.1:8004"
    app_content_url: str = "http://127.0.0.1:8005"
    app_upstream_timeout_s: float = 5.0
    # Where a prospect opens a shared collateral link (content's public address); default:
    # app_content_url.
    app_content_public_url: str = ""
