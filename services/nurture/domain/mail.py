"""Nurture's sending rules and the message it sends. Pure: builds values, sends nothing.

- :func:`decide_send`: whether a queued email goes now, later, or never, decided at the
  moment of sending: consent, unsubscribes and the per-person limit (per day and per
  week) as they stand then, not when the step queued it.
- :func:`track_links`: every link of a body goes through nurture's redirect, so a click
  comes back as engagement; the HTML gets an open pixel.
- :func:`compose`: the MIME message (text and HTML alternatives, a stable
  ``Message-ID``, RFC 8058 one-click ``List-Unsubscribe`` headers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Literal

from services.nurture.domain.programs import Rendered

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
UNKNOWN_CONTACT_GRACE = timedelta(hours=1)
"""How long a queued email waits for lead-captured to say who the lead is (the topics
are not ordered with each other) before it is suppressed as unknown."""


@dataclass(frozen=True)
class Limits:
    per_day: int
    per_week: int


@dataclass(frozen=True)
class Recipient:
    email: str | None
    consent: bool | None
    unsubscribed: bool


@dataclass(frozen=True)
class Decision:
    action: Literal["send", "defer", "suppress"]
    reason: str = ""
    until: datetime | None = None


def decide_send(recipient: Recipient | None, sent_to_them: list[datetime], limits: Limits, queued_at: datetime,
                now: datetime) -> Decision:
    """Send, defer or suppress one queued email. ``sent_to_them`` are the times of the
    emails already sent to this address in the last week (this batch's included).

    Never to a person who did not consent or unsubscribed (suppressed, never retried);
    never more than ``limits`` per day and per week (deferred until the oldest message in
    the window ages out, never dropped)."""
    if recipient is None or recipient.email is None:
        if now - queued_at > UNKNOWN_CONTACT_GRACE:
            return Decision("suppress", "unknown-contact")
        return Decision("defer", "contact-not-known-yet", now + timedelta(seconds=5))
    if recipient.unsubscribed:
        return Decision("suppress", "unsubscribed")
    if not recipient.consent:
        return Decision("suppress", "no-consent")
    last_day = sorted(t for t in sent_to_them if t > now - DAY)
    last_week = sorted(t for t in sent_to_them if t > now - WEEK)
    if len(last_week) >= limits.per_week:
        return Decision("defer", "weekly-limit", last_week[len(last_week) - limits.per_week] + WEEK)
    if len(last_day) >= limits.per_day:
        return Decision("defer", "daily-limit", last_day[len(last_day) - limits.per_day] + DAY)
    return Decision("send")


_URL_RE = re.compile(r"https?://[^\s\"'<>)]+")


@dataclass(frozen=True)
class Tracked:
    text: str
    html: str
    links: tuple[str, ...]  # the originals, by their index in the redirect URL


def track_links(rendered: Rendered, redirect_base: str, open_pixel_url: str, keep: set[str]) -> Tracked:
    """Replace every http(s) link in both bodies (except those in ``keep``, e.g. the
    unsubscribe URL) by ``{redirect_base}/{n}``, and add the open pixel to the HTML."""
    links: list[str] = []

    def swap(match: re.Match[str]) -> str:
        url = match.group(0)
        original = url.replace("&amp;", "&")
        if original in keep or url in keep:
            return url
        if original not in links:
            links.append(original)
        return f"{redirect_base}/{links.index(original)}"

    text = _URL_RE.sub(swap, rendered.text)
    html = _URL_RE.sub(swap, rendered.html)
    pixel = f'<img src="{open_pixel_url}" width="1" height="1" alt="" style="display:none">'
    html = html.replace("</body>", pixel + "</body>") if "</body>" in html else html + pixel
    return Tracked(text, html, tuple(links))


# Lines up to RFC 5322's 998 characters: a long List-Unsubscribe URL must stay one plain
# <URL>, not be folded into encoded words that no mail client reads as a link.
_POLICY = SMTP.clone(max_line_length=998)


def compose(*, message_id: str, sender: str, to: str, subject: str, text: str, html: str, unsubscribe_url: str,
            domain: str, at: datetime) -> EmailMessage:
    """The email: text and HTML alternatives, ``Message-ID`` from ``message_id`` (the same
    on a resend, so a receiver can drop a duplicate), one-click unsubscribe (RFC 8058)."""
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(at)
    msg["Message-ID"] = f"<{message_id}@{domain}>"
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg
