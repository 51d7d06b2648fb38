"""Outcomes from the sales pipeline (the CRM): whose they are. Capture owns identity,
so it matches what the CRM reports to a lead; the rules are here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.events import CrmOutcomeReported, normalise_email

MatchedBy = Literal["lead_id", "email", "account_domain"]


def email_domain(email_norm: str) -> str:
    """The account a person's address belongs to (``ann@acme.com`` → ``acme.com``)."""
    return email_norm.rpartition("@")[2]


def normalise_domain(domain: str) -> str:
    return domain.strip().lower().removeprefix("www.").rstrip(".")


@dataclass(frozen=True)
class Candidates:
    """The leads the outcome's identifiers point at (None: nobody)."""

    by_lead_id: str | None = None
    by_email: str | None = None
    by_domain: str | None = None


def match(outcome: CrmOutcomeReported, found: Candidates) -> tuple[str, MatchedBy] | None:
    """Whose an outcome is, most specific first: the lead the CRM kept our id of, else
    the person with the email, else the most recently captured person of the account's
    domain. None: nobody yet (kept, reported as unmatched, and matched when the person
    is captured)."""
    if outcome.lead_id is not None and found.by_lead_id is not None:
        return found.by_lead_id, "lead_id"
    if outcome.email is not None and found.by_email is not None:
        return found.by_email, "email"
    if outcome.account_domain is not None and found.by_domain is not None:
        return found.by_domain, "account_domain"
    return None


def waiting_match(email_norm: str, waiting_email: str | None, waiting_domain: str | None) -> MatchedBy | None:
    """Whether a newly captured person (``email_norm``) is the one an unmatched outcome
    waits for: by its email, else by its account's domain."""
    if waiting_email is not None and normalise_email(waiting_email) == email_norm:
        return "email"
    if waiting_domain is not None and normalise_domain(waiting_domain) == email_domain(email_norm):
        return "account_domain"
    return None
