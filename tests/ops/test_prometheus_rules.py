"""The repository's Prometheus config and rules, checked by Prometheus's own tool:
``promtool check config``/``check rules`` and the rule unit tests in
deploy/prometheus/tests (each alert fires on a series that should fire it and stays quiet
on one that should not). ``make test`` installs promtool (deploy/prometheus/prometheus.sh)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.fail("promtool not found: run deploy/prometheus/prometheus.sh install (make test does)")
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_rules_pass_promtool_check() -> None:
    files = sorted(str(p) for p in (PROM / "rules").glob("*.yml"))
    assert files
    result = promtool("check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_unit_tests_pass() -> None:
    files = sorted(str(p) for p in (PROM / "tests").glob("*.yml"))
    assert files
    result = promtool("test", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_and_a_runbook_entry() -> None:
    import yaml

    alerts = [r["alert"] for f in (PROM / "rules").glob("*.yml")
              for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"] if "alert" in r]
    tested = {t["alertname"] for f in (PROM / "tests").glob("*.yml")
              for case in yaml.safe_load(f.read_text())["tests"] for t in case.get("alert_rule_test", [])}
    readme = (ROOT / "README.md").read_text()
    assert set(alerts) <= tested, f"alerts without a unit test: {sorted(set(alerts) - tested)}"
    assert [a for a in alerts if f"`{a}`" not in readme] == [], "alerts the README's runbook does not explain"


def test_compose_and_local_config_pass_promtool(tmp_path: Path) -> None:
    # The same prometheus.yml serves both; only targets.json beside it differs.
    shutil.copy(PROM / "prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copytree(PROM / "rules", tmp_path / "rules")
    shutil.copy(PROM / "compose-targets.json", tmp_path / "targets.json")
    result = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
