"""Content's own figures (``leadbridge_content_...``); the shared ones are in shared.metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SERVICE = "content"
TIMER_RETIREMENT = "collateral-retirement"
TIMER_WARNING = "collateral-retirement-warning"

ITEMS = Gauge("leadbridge_content_items", "Collateral items by lifecycle status", ["status"])
REVIEWS_WAITING = Gauge("leadbridge_content_reviews_waiting", "Items in review, waiting for sales' decision")
OLDEST_REVIEW_AGE = Gauge("leadbridge_content_oldest_review_age_seconds",
                          "How long the longest-waiting item in review has waited (0 when none)")
RETIRING_SOON = Gauge("leadbridge_content_items_retiring_soon", "Live items retiring within 30 days")
SHARES = Counter("leadbridge_content_shares_total", "Share links made for a lead (one per item version, lead, rep)")
VIEWS = Counter("leadbridge_content_views_total", "Share links opened")
RETIRED = Counter("leadbridge_content_retired_total", "Items retired by the year's timer")
WARNED = Counter("leadbridge_content_retirement_warnings_total", "Retirement warnings sent to owners", ["weeks"])

RETIRING_WINDOW_S = 30 * 24 * 3600.0

# Every series exists from the start (at 0), so a dashboard or an alert sees the first change.
for _status in ("draft", "in_review", "changes_requested", "approved", "published", "retired", "withdrawn"):
    ITEMS.labels(_status)
for _weeks in ("4", "2"):
    WARNED.labels(_weeks)

USAGE = Counter("leadbridge_content_usage_reported_total",
                "Uses of collateral reported by reps (shared outside a link, viewed, used in a meeting)", ["kind"])
RATINGS = Counter("leadbridge_content_ratings_total", "Reps' ratings of collateral, by rating (1-5)", ["rating"])
