"""What a source's key lets it post: leads and activities of its source and, if the key
names one, of its campaign only. (A form key's campaign is its form's: a lead posted
through the form without one is that campaign's.)"""

from __future__ import annotations

from dataclasses import dataclass

ANY = "*"


@dataclass(frozen=True)
class KeyScope:
    """The source and campaign a key was issued for (source ``"*"``: any; campaign
    None: any)."""

    source: str
    campaign: str | None = None


class OutOfScope(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def campaign_within(scope: KeyScope, source: str | None, campaign: str | None,
                    *, source_field: str = "source", campaign_field: str = "campaign") -> str | None:
    """The campaign a post under ``scope`` is recorded with: its own, or the key's when
    it names none. Raises :class:`OutOfScope` naming the field for a source or
    campaign the key was not issued for (``source`` None: the post names none, as an
    activity of a known lead does)."""
    if source is not None and scope.source not in (ANY, source):
        raise OutOfScope(source_field, f"this key posts for source {scope.source!r}, not {source!r}")
    if scope.campaign is None:
        return campaign
    if campaign is not None and campaign != scope.campaign:
        raise OutOfScope(campaign_field, f"this key posts for campaign {scope.campaign!r}, not {campaign!r}")
    return scope.campaign
