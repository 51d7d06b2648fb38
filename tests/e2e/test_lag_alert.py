"""A consumer that stops while leads flow: its committed lag, read from the broker by
lagwatch and scraped by a Prometheus loaded with the repository's rules, grows until the
lag alert's expression holds; started again, the lag drains to zero.

The alert's ``for: 5m`` and 5-minute window are not waited out here: the test evaluates
the rule's own expression with its range shortened to 30 s (the logic is the rule file's;
``promtool test rules`` covers the real windows, see deploy/prometheus/tests)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bench.leads import grade_c
from tests import harness

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules" / "leadbridge.yml"
LAG = 'sum(leadbridge_consumer_group_lag_records{service="scoring", topic="lead-captured"})'


def lag_alert_expression(window: str) -> str:
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]
             if r.get("alert") == "LeadbridgeConsumerLagGrowing"]
    assert len(rules) == 1
    expr = str(rules[0]["expr"])
    assert "[5m]" in expr
    return re.sub(r"\[5m\]", f"[{window}]", expr)


def post(client: httpx.Client, n: int) -> None:
    for _ in range(n):
        client.post("/v1/leads", json=grade_c()).raise_for_status()


def test_a_stopped_consumers_lag_grows_until_the_alert_holds_and_drains_when_it_is_back(
        private_namespace: harness.Namespace, tmp_path: Path) -> None:
    stack = harness.start_stack(private_namespace, tmp_path / "logs", names=("capture", "scoring"))
    watch = harness.start_lagwatch(private_namespace, tmp_path / "logs")
    prom = harness.start_prometheus({"capture": f"127.0.0.1:{stack.services['capture'].port}",
                                     "scoring": f"127.0.0.1:{stack.services['scoring'].port}",
                                     "lagwatch": f"127.0.0.1:{watch.port}"}, tmp_path / "prometheus")
    alert = lag_alert_expression("30s")

    def lag() -> float | None:
        result = prom.query(LAG)
        return float(result[0]["value"][1]) if result else None

    def firing() -> list[dict[str, Any]]:
        return [s["metric"] for s in prom.query(alert)]

    try:
        with stack.client("capture") as client:
            post(client, 20)
            harness.eventually(lambda: lag() == 0, timeout_s=60, what="scoring caught up (lag 0)")
            assert firing() == []  # quiet while scoring keeps up

            stack.services["scoring"].stop()
            post(client, 150)
            first = harness.eventually(lambda: (v := lag()) is not None and v >= 150 and v, timeout_s=30,
                                       what="scoring's lag to reach the 150 leads posted while it is down")
            post(client, 100)
            second = harness.eventually(lambda: (v := lag()) is not None and v >= first + 100 and v, timeout_s=30,
                                        what="scoring's lag to keep growing")
            assert second > first > 100
            fired = harness.eventually(firing, timeout_s=30, what="the lag alert's expression to hold")
            assert {"service": "scoring", "topic": "lead-captured"} in fired
            assert all(m["service"] == "scoring" for m in fired), fired  # capture is keeping up

            stack.services["scoring"].start()
            harness.eventually(lambda: lag() == 0, timeout_s=90, interval_s=1, what="the lag drained to zero")
            assert firing() == []
    finally:
        prom.stop()
        watch.stop()
        stack.stop()
