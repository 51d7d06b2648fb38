"""What an operator reads: every exporter's /metrics passes ``promtool check metrics``,
a Prometheus with the repository's config sees consumer lag for every service, and every
dashboard panel's query parses and names only metrics the services export (or the
repository's recording rules)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from bench.leads import grade_a, grade_c
from tests import harness
from tests.e2e.test_pipeline import post_lead, wait_owned

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
RULES = ROOT / "deploy" / "prometheus" / "rules"

# Grafana's interval variables, as the dashboards use them, replaced for an instant query.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                   "offset", "inf", "nan", "atan2"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count", "_created")
# Series Prometheus makes for every target it scrapes.
SCRAPE_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (not its functions, labels or keywords)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    e = re.sub(r"\{[^}]*\}", " ", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)  # range selectors
    e = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)  # label lists
    names = set()
    for m in re.finditer(r"(?<![\w.])[a-zA-Z_:][\w:]*", e):
        if m.group() in PROMQL_KEYWORDS or e[m.end():].lstrip().startswith("("):
            continue  # a keyword, or a function or aggregation being called
        names.add(m.group())
    return names


def test_metric_names_are_found_in_expressions() -> None:
    # The extractor itself: what the dashboard check below relies on.
    expr = ('histogram_quantile(0.95, sum by (service, le) (rate(leadbridge_batch_seconds_bucket'
            '{service=~"a|b"}[$__rate_interval]))) / on (service) group_left max(up{job="x"}) > 1e3 '
            "and team:leadbridge_routing_sla_met:increase1h offset 5m")
    assert metric_names(expr) == {"leadbridge_batch_seconds_bucket", "up", "team:leadbridge_routing_sla_met:increase1h"}


def exported_families(text: str) -> set[str]:
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def scrape(url: str) -> str:
    r = httpx.get(url + "/metrics", timeout=10)
    r.raise_for_status()
    return r.text


def drive_traffic(stack: harness.Stack) -> None:
    """Leads through the whole pipeline, so the labelled series exist."""
    for body in (grade_a(), grade_c()):
        wait_owned(stack, post_lead(stack, body)["lead_id"])


def promtool() -> str:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.fail("promtool not found: run deploy/prometheus/prometheus.sh install (make test does)")
    return exe


def test_every_exporter_passes_promtool_check_metrics(stack: harness.Stack,
                                                      lagwatch: harness.ServiceProcess) -> None:
    drive_traffic(stack)
    urls = {name: svc.url for name, svc in stack.services.items()} | {"lagwatch": lagwatch.url}
    problems = {}
    for name, url in urls.items():
        text = scrape(url)
        assert "leadbridge_" in text, f"{name} exported no leadbridge metric"
        result = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True,
                                timeout=60)
        if result.returncode != 0 or result.stdout.strip() or result.stderr.strip():
            problems[name] = (result.stdout + result.stderr).strip()
    assert problems == {}


def test_consumer_lag_has_a_series_for_every_service(stack: harness.Stack,
                                                     prometheus: harness.Prometheus) -> None:
    drive_traffic(stack)

    def services_with(expr: str) -> set[str]:
        return {s["metric"]["service"] for s in prometheus.query(expr)}

    everyone = set(stack.services)

    def missing(expr: str) -> set[str] | None:
        lacking = everyone - services_with(expr)
        assert not lacking, f"no series yet from {sorted(lacking)}"
        return None

    for expr, what in (("max by (service) (leadbridge_consumer_lag_records)", "live lag series"),
                       ("max by (service) (leadbridge_consumer_group_lag_records)", "committed lag series (lagwatch)"),
                       ("max by (service) (leadbridge_outbox_backlog_rows)", "outbox backlog")):
        harness.eventually(lambda expr=expr: missing(expr) is None, timeout_s=30, what=f"{what} from every service")
    timers = {(s["metric"]["service"], s["metric"]["timer"]) for s in prometheus.query("leadbridge_timers_due")}
    assert {("routing", "follow-up-due"), ("routing", "follow-up-reminder")} <= timers


def recording_rules() -> set[str]:
    return {r["record"] for f in RULES.glob("*.yml") for g in yaml.safe_load(f.read_text())["groups"]
            for r in g["rules"] if "record" in r}


def dashboard_queries() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                found.append((path.name, panel["title"], target["expr"]))
    return found


def test_dashboards_are_generated_from_the_script() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "deploy" / "grafana" / "generate.py"), "--check"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_dashboard_query_parses_and_names_exported_metrics(stack: harness.Stack,
                                                                 lagwatch: harness.ServiceProcess,
                                                                 prometheus: harness.Prometheus) -> None:
    drive_traffic(stack)
    exported: set[str] = set()
    for url in [svc.url for svc in stack.services.values()] + [lagwatch.url, prometheus.url]:
        exported |= exported_families(scrape(url))
    known = exported | recording_rules() | SCRAPE_SERIES

    def is_known(name: str) -> bool:
        return name in known or any(name.endswith(s) and name.removesuffix(s) in known for s in HISTOGRAM_SUFFIXES)

    queries = dashboard_queries()
    assert len(queries) >= 20
    unknown, refused, with_data = [], [], 0
    for board, title, expr in queries:
        for var, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(var, value)
        unknown += [(board, title, name) for name in sorted(metric_names(expr)) if not is_known(name)]
        try:
            with_data += bool(prometheus.query(expr))
        except ValueError as exc:
            refused.append((board, title, str(exc)))
    assert refused == []
    assert unknown == []
    # Prometheus really scraped the services: the flow panels have data.
    assert with_data >= 10, f"only {with_data} of {len(queries)} queries returned data"
