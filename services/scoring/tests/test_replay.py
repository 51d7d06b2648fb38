"""Replay: over 10,000+ synthetic events its grades match grading the same leads
directly (event by event, in arrival order, in batches, as live traffic is); the CLI
prints the comparison and writes the chart."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from bench.synthetic import generate, outcomes_for, write_jsonl
from services.scoring import replay
from services.scoring.domain.lead import LeadState, apply_events
from services.scoring.domain.rubric import load_rubric
from services.scoring.settings import DEMO_RUBRIC
from services.scoring.tests.helpers import rubric_dict, rubric_yaml
from shared.events import GRADES

DEMO = load_rubric(DEMO_RUBRIC.read_text())


@pytest.fixture(scope="module")
def history() -> list:  # type: ignore[type-arg]
    return generate(12_000, seed=5)


def test_replay_matches_grading_the_same_leads_directly(history: list) -> None:  # type: ignore[type-arg]
    draft = load_rubric(rubric_yaml(rubric_dict()))
    # Live: the same events in arrival order, graded after every event, 500 per batch.
    live: dict[str, LeadState] = {}
    for i in range(0, len(history), 500):
        apply_events(live, history[i:i + 500], draft)
    direct = {lead_id: s.result for lead_id, s in live.items() if s.result is not None}

    bt = replay.replay_events(iter(history), DEMO, draft)
    assert len(bt.after) == len(direct) > 1000
    assert {k: (r.grade, round(r.score, 9)) for k, r in bt.after.items()} == \
           {k: (r.grade, round(r.score, 9)) for k, r in direct.items()}
    assert sum(bt.distribution("after").values()) == len(direct)
    assert all(bt.distribution("after")[g] > 0 for g in GRADES)


def test_replaying_the_baseline_against_itself_changes_nothing(history: list) -> None:  # type: ignore[type-arg]
    bt = replay.replay_events(iter(history), DEMO, DEMO)
    assert bt.changes() == [] and bt.distribution("before") == bt.distribution("after")


def test_a_stricter_draft_moves_leads_down_only(history: list) -> None:  # type: ignore[type-arg]
    doc = rubric_yaml({**__import__("yaml").safe_load(DEMO_RUBRIC.read_text()),
                       "version": "strict", "thresholds": {"A": 90, "B": 70, "C": 50}})
    bt = replay.replay_events(iter(history), DEMO, load_rubric(doc))
    order = {g: i for i, g in enumerate(GRADES)}
    assert bt.changes() and all(order[c.after] > order[c.before] for c in bt.changes())


def test_the_cli_reports_and_draws(tmp_path: Path, history: list, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[type-arg]
    events = tmp_path / "events.jsonl"
    write_jsonl(history, events)
    leads: dict[str, LeadState] = {}
    apply_events(leads, history, DEMO)
    outcomes = outcomes_for({k: s.result.score for k, s in leads.items() if s.result is not None})
    outcome_file = tmp_path / "outcomes.csv"
    with outcome_file.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["lead_id", "won"])
        w.writerows([k, str(v).lower()] for k, v in outcomes.items())
    draft = tmp_path / "draft.yaml"
    draft.write_text(DEMO_RUBRIC.read_text().replace('version: "demo-1"', 'version: "demo-x"')
                     .replace("thresholds: {A: 65, B: 45, C: 25}", "thresholds: {A: 55, B: 40, C: 25}"))
    chart = tmp_path / "chart.png"
    code = replay.main(["--rubric", str(draft), "--events", str(events), "--outcomes", str(outcome_file),
                        "--chart", str(chart), "--show", "3"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "Grade distribution over" in out and "demo-1 (before) -> demo-x (after)" in out
    assert "Leads that change grade:" in out and "B -> A:" in out
    assert "Win rate per grade" in out and "%" in out
    assert "[replay]" in err and "100.0%" in err
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"Chart: {chart}" in out


def test_an_invalid_draft_is_refused_by_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    draft = tmp_path / "draft.yaml"
    draft.write_text(rubric_yaml(rubric_dict(thresholds={"A": 1, "B": 2, "C": 3})))
    assert replay.main(["--rubric", str(draft), "--events", str(tmp_path / "none.jsonl")]) == 2
    assert "thresholds: must be strictly ordered A > B > C" in capsys.readouterr().err


def test_outcomes_are_read_from_csv_and_jsonl(tmp_path: Path) -> None:
    (tmp_path / "o.csv").write_text("lead_id,won\na,true\nb,0\nc,Won\n")
    (tmp_path / "o.jsonl").write_text('{"lead_id": "a", "won": true}\n\n{"lead_id": "b", "won": "no"}\n')
    assert replay.read_outcomes(tmp_path / "o.csv") == {"a": True, "b": False, "c": True}
    assert replay.read_outcomes(tmp_path / "o.jsonl") == {"a": True, "b": False}


def test_the_report_says_when_no_outcomes_are_known(history: list) -> None:  # type: ignore[type-arg]
    out = io.StringIO()
    replay.render(replay.replay_events(iter(history[:500]), DEMO, DEMO), None, 5, out)
    assert "no outcomes given" in out.getvalue()
