"""Who the demo scripts are: a demo user holding every role, with a token signed by the
key `make run` made under the data directory (or LEADBRIDGE_AUTH_SIGNING_KEY_FILE)."""

from __future__ import annotations

import os
from pathlib import Path

from shared.auth import ALL_ROLES, issue_token

DATA = Path(os.environ.get("LEADBRIDGE_DATA") or Path.home() / ".local/share/leadbridge")


def signing_key() -> Path:
    return Path(os.environ.get("LEADBRIDGE_AUTH_SIGNING_KEY_FILE") or DATA / "auth" / "signing.pem")


def source_key() -> str:
    """The capture source key the demo posts leads with: LEADBRIDGE_DEMO_SOURCE_KEY, or
    the bootstrap key `make run` made beside the signing key."""
    given = os.environ.get("LEADBRIDGE_DEMO_SOURCE_KEY")
    if given:
        return given
    path = DATA / "auth" / "demo-source-key"
    if not path.exists():
        raise SystemExit(f"no source key at {path}: start the stack with `make run` first")
    return path.read_text().strip()


def headers(subject: str = "demo") -> dict[str, str]:
    """The Authorization header every demo request carries (``subject``: whom it signs in
    as, for what a person does in their own name: a collateral review)."""
    key = signing_key()
    if not key.exists():
        raise SystemExit(f"no signing key at {key}: start the stack with `make run` first")
    token = issue_token(key, subject, ALL_ROLES, name="Demo (every role)", ttl_s=3600)
    return {"authorization": f"Bearer {token}"}
