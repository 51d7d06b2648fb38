"""Nurture's own figures (``leadbridge_nurture_...``); the timer backlog and lateness of
its step timers are the shared ``leadbridge_timers_*`` series (timer ``track-steps``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SERVICE = "nurture"
TIMER_STEPS = "track-steps"
TIMER_NO_SHOWS = "webinar-no-shows"

ENROLLED = Counter("leadbridge_nurture_enrolled_total", "Leads that joined a track", ["track"])
EXITED = Counter("leadbridge_nurture_exited_total", "Leads that left a track early, by why", ["track", "reason"])
COMPLETED = Counter("leadbridge_nurture_completed_total", "Passes through a track that reached its end", ["track"])
STEPS_FIRED = Counter("leadbridge_nurture_steps_fired_total", "Track steps fired", ["track", "kind"])
MESSAGES = Counter("leadbridge_nurture_messages_total", "Queued emails sent, deferred or suppressed, by why",
                   ["track", "outcome", "reason"])
ENGAGEMENT = Counter("leadbridge_nurture_engagement_total", "Opens and clicks of nurture email", ["behaviour"])
UNSUBSCRIBED = Counter("leadbridge_nurture_unsubscribed_total", "Addresses that unsubscribed")
TASKS = Counter("leadbridge_nurture_tasks_total", "Rep tasks created", ["kind"])
TRACK_VERSIONS = Gauge("leadbridge_nurture_track_version", "The newest version of each track", ["track"])
CAMPAIGN_MEMBERS = Gauge("leadbridge_nurture_campaign_members", "Campaign members by their furthest funnel step",
                         ["campaign", "status"])
CAMPAIGN_CLOSED_REVENUE = Gauge("leadbridge_nurture_campaign_closed_revenue",
                                "Revenue of the won deals of a campaign's members, in the deal's currency",
                                ["campaign", "currency"])
NO_SHOWS = Counter("leadbridge_nurture_no_shows_marked_total", "Webinar registrants marked no-show by the timer")
