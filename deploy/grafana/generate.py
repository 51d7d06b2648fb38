"""Leadbridge's Grafana dashboards, as code: ``python deploy/grafana/generate.py`` writes
deploy/grafana/dashboards/*.json (provisioned by docker-compose.yml's grafana service);
``--check`` fails when the committed JSON differs from what this script makes.

Plain JSON in Grafana's dashboard model (schemaVersion 39): every panel is a time series
or a stat reading the ``leadbridge-prometheus`` datasource. Queries use only metrics the
services export and the recording rules in deploy/prometheus/rules; the test in
tests/e2e/test_observability.py runs each one against a Prometheus scraping the services.

Per-campaign grade counts are served by scoring's ``GET /v1/grades`` and a campaign's full
report (cost, ROI, attribution) by nurture's ``GET /v1/campaigns/{id}/report``; the
campaigns dashboard shows the funnel and closed revenue nurture exports per campaign.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "leadbridge-prometheus"}
RATE = "$__rate_interval"


@dataclass
class Panel:
    title: str
    queries: list[tuple[str, str]]  # (expr, legend)
    unit: str = "short"
    kind: str = "timeseries"  # or "stat"
    description: str = ""
    width: int = 12
    height: int = 8


@dataclass
class Dashboard:
    uid: str
    title: str
    description: str
    rows: list[tuple[str, list[Panel]]] = field(default_factory=list)

    def model(self) -> dict[str, Any]:
        panels: list[dict[str, Any]] = []
        y, next_id = 0, 1
        for row_title, row_panels in self.rows:
            panels.append({"type": "row", "title": row_title, "id": next_id, "collapsed": False,
                           "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []})
            next_id, y, x, row_height = next_id + 1, y + 1, 0, 0
            for p in row_panels:
                if x + p.width > 24:
                    x, y = 0, y + row_height
                    row_height = 0
                panels.append(_panel(p, next_id, x, y))
                next_id += 1
                x += p.width
                row_height = max(row_height, p.height)
            y += row_height
        return {
            "uid": self.uid, "title": self.title, "description": self.description,
            "tags": ["leadbridge"], "timezone": "utc", "editable": True, "graphTooltip": 1,
            "schemaVersion": 39, "version": 1, "refresh": "10s",
            "time": {"from": "now-1h", "to": "now"}, "templating": {"list": []}, "annotations": {"list": []},
            "links": [{"title": "Leadbridge dashboards", "type": "dashboards", "tags": ["leadbridge"]}],
            "panels": panels,
        }


def _panel(p: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    targets = [{"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend,
                "range": True} for i, (expr, legend) in enumerate(p.queries)]
    options: dict[str, Any] = ({"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                                "colorMode": "background", "graphMode": "none", "textMode": "value_and_name"}
                               if p.kind == "stat" else
                               {"legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull"]},
                                "tooltip": {"mode": "multi", "sort": "desc"}})
    return {"id": panel_id, "type": p.kind, "title": p.title, "description": p.description,
            "datasource": DATASOURCE, "gridPos": {"x": x, "y": y, "w": p.width, "h": p.height},
            "fieldConfig": {"defaults": {"unit": p.unit}, "overrides": []}, "options": options, "targets": targets}


def flow_and_lag() -> Dashboard:
    return Dashboard("leadbridge-flow", "Leadbridge · flow and lag",
                     "Is every service up, how fast do events move, and is any consumer falling behind?", [
        ("Health", [
            Panel("Services answering", [('up{job!="prometheus"}', "{{job}}")], kind="stat", width=12, height=5,
                  description="1 when Prometheus could scrape the service (alert: LeadbridgeServiceDown)"),
            Panel("Broker and database checks", [("max by (service) (leadbridge_service_up)", "{{service}}")],
                  kind="stat", width=12, height=5,
                  description="1 when the service's /healthz passes (alert: LeadbridgeServiceUnhealthy)"),
        ]),
        ("Consumer lag", [
            Panel("Committed lag by service and topic",
                  [("service_topic:leadbridge_consumer_group_lag_records:sum", "{{service}} ← {{topic}}")],
                  description="Records past each group's committed offset, read from the broker by lagwatch: "
                              "seen even when the service is down (alert: LeadbridgeConsumerLagGrowing)"),
            Panel("Live lag by partition",
                  [("leadbridge_consumer_lag_records", "{{service}} ← {{topic}}/{{partition}}")],
                  description="Each consumer's own view: end offset minus the next record it will handle"),
        ]),
        ("Rate, errors, duration", [
            Panel("Events handled per second",
                  [(f"sum by (service, topic) (rate(leadbridge_events_consumed_total[{RATE}]))",
                    "{{service}} ← {{topic}}")], unit="ops"),
            Panel("Events published per second",
                  [(f"sum by (service, topic) (rate(leadbridge_events_published_total[{RATE}]))",
                    "{{service}} → {{topic}}")], unit="ops"),
            Panel("Handler errors per second",
                  [(f"sum by (service, topic, handler) (rate(leadbridge_handler_errors_total[{RATE}]))",
                    "{{service}} {{handler}}")], unit="ops"),
            Panel("Dead letters",
                  [(f"sum by (service, topic, reason) (increase(leadbridge_events_dead_lettered_total[{RATE}]))",
                    "{{service}} {{topic}} ({{reason}})")],
                  description="Records sent to <topic>.dlq (alert: LeadbridgeDeadLetters)"),
            Panel("Batch duration p95",
                  [("histogram_quantile(0.95, sum by (service, topic, le) "
                    f"(rate(leadbridge_batch_seconds_bucket[{RATE}])))", "{{service}} ← {{topic}}")], unit="s"),
            Panel("Event age at handling p95",
                  [("histogram_quantile(0.95, sum by (service, topic, le) "
                    f"(rate(leadbridge_event_age_seconds_bucket[{RATE}])))", "{{service}} ← {{topic}}")], unit="s",
                  description="From the record's timestamp to the end of its handling"),
            Panel("Transient retries per second",
                  [(f"sum by (service, where) (rate(leadbridge_transient_retries_total[{RATE}]))",
                    "{{service}} {{where}}")], unit="ops",
                  description="Batches retried through a database or broker outage"),
        ]),
        ("Outbox", [
            Panel("Outbox backlog", [("leadbridge_outbox_backlog_rows", "{{service}}")],
                  description="Rows waiting for the broker's confirmation"),
            Panel("Oldest unpublished event", [("leadbridge_outbox_oldest_age_seconds", "{{service}}")], unit="s",
                  description="Alert: LeadbridgeOutboxBehind"),
            Panel("Outbox rows relayed per second",
                  [(f"sum by (service) (rate(leadbridge_outbox_relayed_total[{RATE}]))", "{{service}}")],
                  unit="ops"),
        ]),
        ("HTTP", [
            Panel("Requests per second by status",
                  [(f"sum by (service, status) (rate(leadbridge_http_requests_total[{RATE}]))",
                    "{{service}} {{status}}")], unit="reqps",
                  description="Alert: LeadbridgeCapture5xx"),
            Panel("Request latency p95",
                  [("histogram_quantile(0.95, sum by (service, route, le) "
                    f"(rate(leadbridge_http_request_seconds_bucket[{RATE}])))", "{{service}} {{route}}")], unit="s"),
        ]),
    ])


# Every scoring replica reports the same grade counts: take one (max), never the sum.
_GRADES = "max by (grade, source) (leadbridge_scoring_leads)"
_GRADES_AB = 'max by (grade, source) (leadbridge_scoring_leads{grade=~"A|B"})'


def grades_and_sources() -> Dashboard:
    return Dashboard("leadbridge-grades", "Leadbridge · grades and sources",
                     "How many leads hold each grade now, and which capture channels bring the good ones.", [
        ("Grades", [
            Panel("Leads by grade", [(f"sum by (grade) ({_GRADES})", "{{grade}}")], kind="stat", width=24,
                  height=5),
            Panel("Leads by grade over time", [(f"sum by (grade) ({_GRADES})", "{{grade}}")]),
            Panel("Leads by source and grade", [(_GRADES, "{{source}} {{grade}}")]),
        ]),
        ("Sources", [
            Panel("Share of A and B leads by source",
                  [(f"sum by (source) ({_GRADES_AB}) / sum by (source) ({_GRADES})", "{{source}}")],
                  unit="percentunit"),
            Panel("Leads scored per second",
                  [(f'sum(rate(leadbridge_events_published_total{{service="scoring"}}[{RATE}]))', "scored")],
                  unit="ops"),
        ]),
    ])


def sla_and_escalations() -> Dashboard:
    return Dashboard("leadbridge-sla", "Leadbridge · follow-up SLA and escalations",
                     "Do reps follow up in time, per team, and what happens to the leads they miss?", [
        ("SLA", [
            Panel("SLA compliance by team (last hour)",
                  [("team:leadbridge_routing_sla_compliance:ratio1h", "{{team}}")], unit="percentunit",
                  description="Follow-ups on time / (on time + breaches) (alert: LeadbridgeSlaBreaches)"),
            Panel("Breaches by team (last hour)", [("team:leadbridge_routing_sla_breached:increase1h", "{{team}}")]),
            Panel("Follow-ups recorded per hour",
                  [("sum by (team, outcome, on_time) (increase(leadbridge_routing_follow_ups_total[1h]))",
                    "{{team}} {{outcome}} on time={{on_time}}")]),
            Panel("Escalations per hour by what happened next",
                  [("sum by (team, next_action) (increase(leadbridge_routing_follow_ups_missed_total[1h]))",
                    "{{team}} → {{next_action}}")]),
        ]),
        ("Assignments", [
            Panel("Assignments per second by team and trigger",
                  [(f"sum by (owner_kind, team, trigger) (rate(leadbridge_routing_assignments_total[{RATE}]))",
                    "{{owner_kind}} {{team}} ({{trigger}})")], unit="ops"),
            Panel("Leads queued (no rep could take them)",
                  [(f"sum by (team) (increase(leadbridge_routing_queued_total[{RATE}]))", "{{team}}")]),
            Panel("Reminders issued",
                  [(f"sum by (team) (increase(leadbridge_routing_reminders_total[{RATE}]))", "{{team}}")]),
            Panel("Leads taken from a queue by hand",
                  [(f"sum by (team) (increase(leadbridge_routing_taken_from_queue_total[{RATE}]))", "{{team}}")]),
            Panel("CRM outcomes applied (converted frees the rep's capacity)",
                  [(f"sum by (kind, effect) (increase(leadbridge_routing_deal_outcomes_total[{RATE}]))",
                    "{{kind}} → {{effect}}")]),
        ]),
        ("SLA clock", [
            Panel("Timers due, not fired", [("leadbridge_timers_due", "{{service}} {{timer}}")]),
            Panel("Oldest overdue timer", [("leadbridge_timers_oldest_overdue_seconds", "{{service}} {{timer}}")],
                  unit="s", description="Alert: LeadbridgeTimersBehind"),
            Panel("Timer lateness p95",
                  [("histogram_quantile(0.95, sum by (service, timer, le) "
                    f"(rate(leadbridge_timer_lateness_seconds_bucket[{RATE}])))", "{{service}} {{timer}}")], unit="s"),
        ]),
    ])


def collateral_library() -> Dashboard:
    # Gauges come from content's tables: every replica reports the same, so max, not sum.
    return Dashboard("leadbridge-collateral", "Leadbridge · collateral library",
                     "Is marketing's collateral reviewed by sales, current, and used with leads?", [
        ("Lifecycle", [
            Panel("Items by status", [("max by (status) (leadbridge_content_items)", "{{status}}")], kind="stat",
                  width=24, height=5),
            Panel("Reviews waiting for sales", [("max(leadbridge_content_reviews_waiting)", "waiting")]),
            Panel("Longest-waiting review", [("max(leadbridge_content_oldest_review_age_seconds)", "oldest")],
                  unit="s"),
        ]),
        ("Use", [
            Panel("Share links made per hour", [("sum(increase(leadbridge_content_shares_total[1h]))", "shares")]),
            Panel("Links opened per hour (content downloads scoring counts)",
                  [("sum(increase(leadbridge_content_views_total[1h]))", "views")]),
        ]),
        ("A year retires it", [
            Panel("Items retiring within 30 days", [("max(leadbridge_content_items_retiring_soon)", "retiring")]),
            Panel("Retired and warned per day",
                  [("sum(increase(leadbridge_content_retired_total[1d]))", "retired"),
                   ("sum by (weeks) (increase(leadbridge_content_retirement_warnings_total[1d]))",
                    "warned {{weeks}} weeks before")]),
        ]),
    ])


def campaigns_and_nurture() -> Dashboard:
    # Campaign gauges come from nurture's tables: every replica reports the same, so max.
    return Dashboard("leadbridge-campaigns", "Leadbridge · campaigns and nurture",
                     "What did each campaign bring in, how far did its people get, and what is marketing "
                     "sending the leads sales is not working yet?", [
        ("Campaign funnel", [
            Panel("Members by furthest step, per campaign",
                  [("max by (campaign, status) (leadbridge_nurture_campaign_members)", "{{campaign}} {{status}}")],
                  kind="stat", width=24, height=6),
            Panel("Closed revenue per campaign",
                  [("max by (campaign, currency) (leadbridge_nurture_campaign_closed_revenue)",
                    "{{campaign}} {{currency}}")], unit="currencyUSD"),
            Panel("CRM outcomes matching no lead",
                  [("max(leadbridge_capture_unmatched_outcomes)", "unmatched now")],
                  description="Kept at capture, matched when the person is captured: GET /v1/outcomes?matched=false"),
        ]),
        ("Nurture tracks", [
            Panel("Leads entering and leaving tracks per hour",
                  [("sum by (track) (increase(leadbridge_nurture_enrolled_total[1h]))", "entered {{track}}"),
                   ("sum by (track, reason) (increase(leadbridge_nurture_exited_total[1h]))",
                    "left {{track}} ({{reason}})")]),
            Panel("Email per hour: sent, deferred, suppressed",
                  [("sum by (outcome) (increase(leadbridge_nurture_messages_total[1h]))", "{{outcome}}")]),
            Panel("Opens and clicks per hour",
                  [("sum by (behaviour) (increase(leadbridge_nurture_engagement_total[1h]))", "{{behaviour}}")]),
            Panel("Rep tasks created per hour",
                  [("sum by (kind) (increase(leadbridge_nurture_tasks_total[1h]))", "{{kind}}")]),
        ]),
    ])


DASHBOARDS = (flow_and_lag, grades_and_sources, sla_and_escalations, campaigns_and_nurture, collateral_library)


def render() -> dict[str, str]:
    """File name -> JSON text, for every dashboard."""
    out = {}
    for make in DASHBOARDS:
        board = make()
        out[f"{board.uid}.json"] = json.dumps(board.model(), indent=2, ensure_ascii=False) + "\n"
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed JSON is out of date")
    args = parser.parse_args()
    files = render()
    if args.check:
        stale = [name for name, text in files.items()
                 if not (OUT / name).exists() or (OUT / name).read_text() != text]
        extra = sorted({p.name for p in OUT.glob("*.json")} - set(files))
        if stale or extra:
            print(f"out of date: {stale}, not generated: {extra}; run python deploy/grafana/generate.py")
            return 1
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
