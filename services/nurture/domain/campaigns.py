"""Campaigns as marketing defines them: the pure rules that make a definition valid,
and what a changed definition publishes.

A campaign is marketing's programme (a webinar, a trade show, an ad, ...): who owns
it, when it runs, what it cost and what it is for. An event (webinar, trade show,
event) is held at a moment in a place's time: its start and end are given as that
place's wall-clock time (or as instants) with the IANA time zone, and travel as UTC
instants beside the zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared import money
from shared.events import CampaignType

EVENT_TYPES: frozenset[CampaignType] = frozenset({CampaignType.WEBINAR, CampaignType.TRADE_SHOW, CampaignType.EVENT})
"""Campaigns held at a date and time, with a time zone and (usually) a registration page."""

CAMPAIGN_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")


class InvalidCampaign(ValueError):
    """A definition breaks a rule; ``field`` names what to fix."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def to_minor(amount: Decimal, currency: str, field: str) -> int:
    """An amount in the currency's minor units (cents); refuses fractions of a cent."""
    try:
        return money.to_minor(amount, currency)
    except money.NotWholeMinorUnits as why:
        raise InvalidCampaign(field, str(why)) from None


def zone(name: str, field: str = "event.time_zone") -> ZoneInfo:
    """The IANA time zone of that name (``Europe/Berlin``), or :class:`InvalidCampaign`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidCampaign(field, f"{name!r} is not an IANA time zone (e.g. 'Europe/Berlin')") from None


def _instant(value: datetime, tz: ZoneInfo) -> datetime:
    """A wall-clock time in the event's zone (naive), or an instant, as UTC."""
    return (value.replace(tzinfo=tz) if value.tzinfo is None else value).astimezone(UTC)


@dataclass(frozen=True)
class EventDetails:
    starts_at: datetime
    ends_at: datetime
    time_zone: str
    registration_url: str | None = None


@dataclass(frozen=True)
class CampaignDraft:
    """A definition as marketing submits it (types already checked by the HTTP edge)."""

    campaign_id: str
    name: str
    type: CampaignType
    owner: str
    starts_at: datetime
    ends_at: datetime | None
    cost: Decimal
    currency: str
    goal: str
    event: EventDetails | None


@dataclass(frozen=True)
class Definition:
    """A valid definition, as ``campaign-defined`` carries it (money in minor units,
    an event's moments as UTC instants beside its zone)."""

    campaign_id: str
    name: str
    type: CampaignType
    owner: str
    starts_at: datetime
    ends_at: datetime | None
    cost_minor: int
    currency: str
    goal: str
    event_starts_at: datetime | None
    event_ends_at: datetime | None
    time_zone: str | None
    registration_url: str | None

    def event(self, version: int, at: datetime) -> dict[str, object]:
        """The fields of the ``campaign-defined`` that publishes this as ``version``."""
        return {**self.__dict__, "version": version, "occurred_at": at}


def define(draft: CampaignDraft) -> Definition:
    """A campaign's definition, or :class:`InvalidCampaign` naming the first rule it
    breaks: an id leads can carry, an end not before the start, a cost in whole minor
    units, and for an event (webinar, trade show, event) its date, an IANA time zone
    and an end after its start."""
    if not CAMPAIGN_ID.match(draft.campaign_id):
        raise InvalidCampaign("campaign_id", "lower-case letters, digits, '-' or '_', at most 80, e.g. 'webinar-q4'")
    if draft.starts_at.tzinfo is None:
        raise InvalidCampaign("starts_at", "needs a time zone offset")
    if draft.ends_at is not None:
        if draft.ends_at.tzinfo is None:
            raise InvalidCampaign("ends_at", "needs a time zone offset")
        if draft.ends_at < draft.starts_at:
            raise InvalidCampaign("ends_at", "is before starts_at")
    cost_minor = to_minor(draft.cost, draft.currency, "cost")
    event = draft.event
    if draft.type in EVENT_TYPES and event is None:
        raise InvalidCampaign("event", f"a {draft.type.value} campaign needs its event: starts_at, ends_at, time_zone")
    if event is not None and draft.type not in EVENT_TYPES:
        raise InvalidCampaign("event", f"only {sorted(t.value for t in EVENT_TYPES)} campaigns are held as events")
    starts = ends = None
    if event is not None:
        tz = zone(event.time_zone)
        starts, ends = _instant(event.starts_at, tz), _instant(event.ends_at, tz)
        if ends <= starts:
            raise InvalidCampaign("event.ends_at", "is not after event.starts_at")
    return Definition(
        campaign_id=draft.campaign_id, name=draft.name, type=draft.type, owner=draft.owner,
        starts_at=draft.starts_at, ends_at=draft.ends_at, cost_minor=cost_minor, currency=draft.currency,
        goal=draft.goal, event_starts_at=starts, event_ends_at=ends, time_zone=event.time_zone if event else None,
        registration_url=event.registration_url if event else None)
