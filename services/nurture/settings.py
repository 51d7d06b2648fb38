"""Nurture's settings (environment, prefix ``LEADBRIDGE_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from shared.settings import ServiceSettings

REPO_ROOT = Path(__file__).resolve().parents[2]


class NurtureSettings(ServiceSettings):
    service_name: str = "nurture"
    http_port: int = 8004
    # Time-decay attribution: a touch's credit halves for every this many days before the close.
    attribution_half_life_days: float = 7.0
    # The tracks stored when nurture has none yet; afterwards they are managed over HTTP.
    nurture_tracks_file: Path | None = REPO_ROOT / "deploy" / "demo" / "tracks.yaml"
    # The step timers, the mail queue and the no-show timers sleep until their next one is
    # due (woken by the database when a sooner one is written, shared.wakeups); they also
    # look this often, in case a notification was lost (at most 60 s). And how many per
    # transaction.
    nurture_timer_interval_s: float = 30.0
    nurture_timer_batch: int = 200
    # Messages per transaction. A message is marked sent when its transaction commits, after
    # the SMTP server accepted it; a crash in between resends what the transaction held
    # (same Message-ID). One per transaction keeps that to the one message in flight.
    nurture_mail_batch: int = 1
    # A compressed calendar for demos and tests: a business day lasts this many seconds
    # (no weekends). Unset in production: waits count real Monday-to-Friday days.
    nurture_business_day_s: float | None = None
    # The per-person communication limit, counted over every track's emails at sending time
    # (two a day: a nurtured lead who misses a webinar gets its recording the same day).
    nurture_max_emails_per_day: int = 2
    nurture_max_emails_per_week: int = 5
    # The webinar automation: a registrant's pre-event call is due this long before the start
    # (a late registrant's this soon after registering, never after the start), for the rep
    # who owns the lead or this team's queue; registrants who did not attend become no-shows
    # this long after the event's end.
    nurture_pre_event_call_lead_s: float = 2 * 3600
    nurture_pre_event_call_soonest_s: float = 15 * 60
    nurture_pre_event_team: str = "inside"
    nurture_no_show_grace_s: float = 3600
    # Where recipients reach nurture's tracking and unsubscribe endpoints (its public URL).
    nurture_public_url: str = "http://127.0.0.1:8004"
    # SMTP: Mailpit locally (deploy/mailpit/mailpit.sh), any relay in production.
    nurture_smtp_host: str = "127.0.0.1"
    nurture_smtp_port: int = 1025
    nurture_smtp_username: str | None = None
    nurture_smtp_password: str | None = None
    nurture_smtp_security: Literal["none", "starttls", "tls"] = "none"
    nurture_mail_from: str = "Leadbridge Marketing <marketing@leadbridge.example>"
    nurture_message_id_domain: str = "leadbridge.example"
