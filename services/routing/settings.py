"""Routing's settings (environment, prefix ``LEADBRIDGE_``)."""

from __future__ import annotations

from pathlib import Path

from shared.settings import ServiceSettings

REPO_ROOT = Path(__file__).resolve().parents[2]


class RoutingSettings(ServiceSettings):
    service_name: str = "routing"
    http_port: int = 8003
    # Seed of the live organisation (and rules, if the file has a `rules:` part) when the
    # database has none yet; afterwards the organisation is managed over HTTP.
    routing_org_file: Path = REPO_ROOT / "deploy" / "demo" / "org.yaml"
    # Rules seed when the org file has none; default: rules.yaml beside the org file.
    routing_rules_file: Path | None = None
    # The SLA clock sleeps until the next follow-up or reminder is due (woken by the
    # database when a sooner one is written, shared.wakeups); it also looks this often,
    # in case a notification was lost (at most 60 s).
    routing_timer_interval_s: float = 30.0
    routing_timer_batch: int = 200
