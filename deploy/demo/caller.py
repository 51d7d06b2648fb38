"""Who the demo scripts are: a demo user holding every role, with a token signed by the
key `make run` made under the data directory (or LEADBRIDGE_AUTH_SIGNING_KEY_FILE)."""

from __future__ import annotations

import os
from pathlib import Path

from shared.auth import ALL_ROLES, issue_token

DATA = Path(os.environ.get("LEADBRIDGE_DATA") or Path.home() / ".local/share/leadbridge")


def signing_key() -> Path:
    return Path(os.environ.get("LEADBRIDGE_AUTH_SIGNING_KEY_FILE") or DATA / "auth" / "signing.pem")


def headers() -> dict[str, str]:
    """The Authorization header every demo request carries."""
    key = signing_key()
    if not key.exists():
        raise SystemExit(f"no signing key at {key}: start the stack with `make run` first")
    token = issue_token(key, "demo", ALL_ROLES, name="Demo (every role)", ttl_s=3600)
    return {"authorization": f"Bearer {token}"}
