"""docker-compose.yml provisions the dashboards and the datasource their panels name."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"


def test_every_panel_reads_the_provisioned_datasource_and_compose_mounts_the_dashboards() -> None:
    sources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "leadbridge.yml").read_text())
    uids = {d["uid"] for d in sources["datasources"]}
    boards = sorted((GRAFANA / "dashboards").glob("*.json"))
    assert len(boards) >= 3
    used = {t["datasource"]["uid"] for b in boards for p in json.loads(b.read_text())["panels"]
            for t in p.get("targets", [])}
    assert used and used <= uids

    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "leadbridge.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    grafana = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"]
    assert f"./deploy/grafana/dashboards:{path}:ro" in grafana["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
