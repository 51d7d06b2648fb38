"""Capture's own figures (beside the shared ones every service exports)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

UNMATCHED_OUTCOMES = Gauge("leadbridge_capture_unmatched_outcomes",
                           "CRM outcomes kept because they match no lead yet")
UNMATCHED_RECEIVED = Counter("leadbridge_capture_outcomes_unmatched",
                             "CRM outcomes that matched no lead when they arrived")
HONEYPOT_DROPPED = Counter("leadbridge_capture_honeypot_dropped_total",
                           "Leads posted with a web form's honeypot filled: answered 202 and dropped", ["source"])
