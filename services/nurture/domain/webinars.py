"""The webinar automation's timing rules. Pure.

- Before the event, sales calls every registrant to learn what they want to hear
  (the brief's flow 2): the call is due :data:`PRE_EVENT_CALL_LEAD` before the start, or,
  for a late registrant, as soon as possible, never after the start.
- After it, everyone registered who did not attend becomes a no-show once the event
  has ended and a grace time has passed (an attendance report is often late).
"""

from __future__ import annotations

from datetime import datetime, timedelta


def pre_event_call_due(event_starts_at: datetime, registered_at: datetime, lead: timedelta,
                       soonest: timedelta) -> datetime | None:
    """When the call to a registrant is due: ``lead`` before the start; a registrant too
    late for that gets ``soonest`` from registering, capped at the start; one registering
    after the start gets no pre-event call (None)."""
    if registered_at >= event_starts_at:
        return None
    wanted = event_starts_at - lead
    if wanted >= registered_at + soonest:
        return wanted
    return min(registered_at + soonest, event_starts_at)


def no_show_due(event_ends_at: datetime, grace: timedelta) -> datetime:
    """When the registrants who did not attend are marked no-show."""
    return event_ends_at + grace
