"""Routing's own Prometheus metrics (the shared ones cover consumption and HTTP)."""

from __future__ import annotations

from prometheus_client import Counter

ASSIGNED = Counter("leadbridge_routing_assignments_total", "Assignments made, by owner kind, team and trigger",
                   ["owner_kind", "team", "trigger"])
QUEUED = Counter("leadbridge_routing_queued_total", "Leads no rep could take, queued at their team", ["team"])
KEPT = Counter("leadbridge_routing_rescored_kept_total",
               "Re-scored leads left with the owner already working them")
MISSED = Counter("leadbridge_routing_follow_ups_missed_total", "Follow-ups missed, by team and what happened next",
                 ["team", "next_action"])
REMINDED = Counter("leadbridge_routing_reminders_total", "Reminders issued before a follow-up came due", ["team"])
FOLLOW_UPS = Counter("leadbridge_routing_follow_ups_total", "Follow-ups recorded, by the assignment's team",
                     ["team", "outcome", "on_time"])
CONFIG_CHANGES = Counter("leadbridge_routing_config_changes_total", "Accepted configuration changes", ["kind"])
CONFIG_REJECTED = Counter("leadbridge_routing_config_rejected_total", "Rejected (invalid) configuration changes",
                          ["kind"])
# The SLA clocks, as shared timers (leadbridge_timers_*, leadbridge_timer_lateness_seconds).
SERVICE = "routing"
TIMER_DUE = "follow-up-due"
TIMER_REMINDER = "follow-up-reminder"
OUTCOMES = Counter("leadbridge_routing_deal_outcomes_total",
                   "CRM outcomes routing applied, by kind and what they did to the lead's assignment "
                   "(converted, recorded, not_routed)", ["kind", "effect"])
TAKEN = Counter("leadbridge_routing_taken_from_queue_total", "Leads taken from a team's queue by hand", ["team"])
