"""What a lead is, as a form or scanner posts it: the one validation of a submission,
shared by ``POST /v1/leads`` and every row of a list import (a row is valid exactly when
the same lead posted alone would be)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from shared.events import LeadSource
from shared.validation import CountryCode, Instant, Text, TextMap


class LeadIn(BaseModel):
    """A captured lead as a form or scanner sends it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: EmailStr
    name: Text = Field(min_length=1)
    company: Text = Field(min_length=1)
    title: Text = ""
    country: CountryCode
    source: LeadSource
    campaign: Text | None = None
    consent: bool
    idempotency_key: Text | None = Field(default=None, min_length=1)
    occurred_at: Instant | None = None
    company_size: int | None = Field(default=None, ge=1, le=10_000_000)
    industry: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=40)
    attributes: TextMap = Field(default_factory=dict)


class PostedLead(LeadIn):
    """A lead as ``POST /v1/leads`` takes it: :class:`LeadIn` and a web form's honeypot."""

    honeypot: str | None = Field(default=None, max_length=1000, description=(
        "a web form's trap for bots: an input hidden from people (by CSS, not type=hidden), "
        "sent here as it is; a lead with it filled is answered 202 like any other and dropped"))

    @property
    def caught_by_honeypot(self) -> bool:
        """People never see the trap, so whatever filled it is a bot."""
        return bool(self.honeypot and self.honeypot.strip())
