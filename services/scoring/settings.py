from __future__ import annotations

from pathlib import Path

from shared.settings import ServiceSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_RUBRIC = REPO_ROOT / "deploy" / "demo" / "rubric.yaml"


class ScoringSettings(ServiceSettings):
    service_name: str = "scoring"
    http_port: int = 8002
    # The rubric made active at start when no version is active yet (a fresh install).
    # Env: LEADBRIDGE_SCORING_RUBRIC_FILE.
    scoring_rubric_file: Path = DEMO_RUBRIC
    # How many top contributions travel as ``reasons`` on lead-scored.
    scoring_reasons: int = 5
    # How often the grade distribution gauge is refreshed from the database.
    scoring_grade_gauge_every_s: float = 15.0
