"""Replay and backtest: grade history under a draft rubric WITHOUT touching live state.

    python -m services.scoring.replay --rubric draft.yaml --events history.jsonl [--outcomes won.csv]
    python -m services.scoring.replay --rubric draft.yaml --from-db

History comes from a JSONL file (``{"topic": "lead-captured"|"lead-engaged", "event": {...}}``
per line, as ``bench.synthetic`` writes) or from scoring's own tables (read
in a READ ONLY transaction). Every captured lead is graded as of its latest activity
under the baseline (``--baseline FILE``; by default the active version with
``--from-db``, else the rubric file in settings) and under the draft. It prints the
grade distribution before and after, the leads that change grade, and win rate per
grade under both where outcomes are known (``--outcomes``: CSV or JSONL with
``lead_id`` and ``won``), and writes a PNG chart of the two distributions.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from services.scoring.domain.backtest import Backtest, run_backtest
from services.scoring.domain.lead import LeadState, merge_event
from services.scoring.domain.rubric import CompiledRubric, RubricError, load_rubric
from services.scoring.settings import REPO_ROOT, ScoringSettings
from shared.events import GRADES, LeadCaptured, LeadEngaged
from shared.topics import LEAD_CAPTURED, LEAD_ENGAGED

ProgressFn = Callable[[int, float | None], None]


class Progress:
    """Prints a progress line to stderr at most once a second (and a last one)."""

    def __init__(self, what: str, stream: IO[str] | None = None, every_s: float = 1.0) -> None:
        self.what, self.stream, self.every_s = what, stream, every_s
        self.started = self.last = time.monotonic()
        self.count = 0

    def __call__(self, count: int, fraction: float | None = None, force: bool = False) -> None:
        self.count = count
        now = time.monotonic()
        if not force and now - self.last < self.every_s:
            return
        self.last = now
        rate = count / max(now - self.started, 1e-9)
        pct = f" {fraction * 100:5.1f}%" if fraction is not None else ""
        print(f"[replay] {self.what}{pct}  {count:,} records  {rate:,.0f}/s", file=self.stream or sys.stderr,
              flush=True)


def apply_history(leads: dict[str, LeadState], events: Iterable[LeadCaptured | LeadEngaged]) -> int:
    """Merge events into lead states exactly as the live handlers do (order-independent)."""
    n = 0
    for event in events:
        merge_event(leads, event)
        n += 1
    return n


def decode_line(line: bytes) -> LeadCaptured | LeadEngaged | None:
    """One JSONL record; None for blank lines and other topics (e.g. lead-scored)."""
    if not line.strip():
        return None
    doc = orjson.loads(line)
    topic = doc.get("topic")
    if topic == LEAD_CAPTURED.name:
        return LeadCaptured.model_validate(doc["event"])
    if topic == LEAD_ENGAGED.name:
        return LeadEngaged.model_validate(doc["event"])
    return None


def read_events_file(path: Path, progress: ProgressFn | None = None) -> Iterator[LeadCaptured | LeadEngaged]:
    size = path.stat().st_size or 1
    done = 0
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            done += len(line)
            event = decode_line(line)
            if event is not None:
                yield event
            if progress is not None and n % 2000 == 0:
                progress(n, done / size)


async def load_from_db(database_url: str, schema: str, progress: ProgressFn | None = None,
                       chunk: int = 5000) -> tuple[dict[str, LeadState], str | None]:
    """Every lead's facts and evidence from scoring's tables, and the active rubric
    document; read-only, so live state cannot change."""
    from services.scoring.repository import GradedLeadRepository, RubricRepository
    from shared.db import create_pool

    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn, conn.transaction(readonly=True, isolation="repeatable_read"):
            active = await RubricRepository(schema).active(conn)
            ids = [r["lead_id"] for r in await conn.fetch(f"SELECT lead_id FROM {schema}.leads ORDER BY lead_id")]
            leads: dict[str, LeadState] = {}
            repo = GradedLeadRepository(schema)
            for i in range(0, len(ids), chunk):
                leads.update(await repo.load(conn, ids[i:i + chunk]))
                if progress is not None:
                    progress(min(i + chunk, len(ids)), min(i + chunk, len(ids)) / max(len(ids), 1))
        return leads, active.document if active else None
    finally:
        await pool.close()


def read_outcomes(path: Path) -> dict[str, bool]:
    """``lead_id`` → won, from CSV (header ``lead_id,won``) or JSONL."""
    truthy = {"1", "true", "yes", "won", "y", "t"}
    out: dict[str, bool] = {}
    if path.suffix in (".jsonl", ".json", ".ndjson"):
        for line in path.read_bytes().splitlines():
            if line.strip():
                doc = orjson.loads(line)
                won = doc.get("won")
                out[str(doc["lead_id"])] = won if isinstance(won, bool) else str(won).lower() in truthy
    else:
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                out[row["lead_id"]] = row["won"].strip().lower() in truthy
    return out


def render(bt: Backtest, outcomes: dict[str, bool] | None, show: int, out: IO[str]) -> None:
    """The human-readable report."""
    before, after = bt.distribution("before"), bt.distribution("after")
    total = sum(before.values())
    w = out.write
    w(f"\nGrade distribution over {total:,} leads: {bt.baseline_version} (before) -> {bt.draft_version} (after)\n")
    w(f"  {'grade':5} {'before':>9} {'after':>9} {'change':>8}\n")
    for g in GRADES:
        w(f"  {g:5} {before[g]:>9,} {after[g]:>9,} {after[g] - before[g]:>+8,}\n")
    changes = bt.changes()
    w(f"\nLeads that change grade: {len(changes):,} ({len(changes) / max(total, 1):.1%})\n")
    for (b, a), n in sorted(bt.transitions().items()):
        w(f"  {b} -> {a}: {n:,}\n")
    for c in changes[:show]:
        w(f"    {c.lead_id}: {c.before} ({c.score_before:.1f}) -> {c.after} ({c.score_after:.1f})\n")
    if len(changes) > show:
        w(f"    ... {len(changes) - show:,} more (--show N to list more)\n")
    if outcomes:
        w(f"\nWin rate per grade ({len(outcomes):,} leads with a known outcome)\n")
        w(f"  {'grade':5} {'before':>18} {'after':>18}\n")
        rb, ra = bt.win_rates(outcomes, "before"), bt.win_rates(outcomes, "after")
        for g in GRADES:
            def cell(r: Any) -> str:
                return f"{r.won}/{r.known} = {r.rate:.0%}" if r.rate is not None else "-"
            w(f"  {g:5} {cell(rb[g]):>18} {cell(ra[g]):>18}\n")
    else:
        w("\nWin rate per grade: no outcomes given (--outcomes FILE)\n")


def write_chart(bt: Backtest, path: Path) -> Path:
    """A PNG of the two grade distributions side by side (drawn by :mod:`bench.charts`,
    which needs the development requirements)."""
    from bench.charts import before_after_bars

    return before_after_bars(list(GRADES), bt.distribution("before"), bt.distribution("after"), path,
                             "Grade distribution: replay of history",
                             labels=(f"before ({bt.baseline_version})", f"after ({bt.draft_version})"))


def replay_events(events: Iterable[LeadCaptured | LeadEngaged], baseline: CompiledRubric,
                  draft: CompiledRubric) -> Backtest:
    """Replay history through both rubrics (the library entry point the tests use)."""
    leads: dict[str, LeadState] = {}
    apply_history(leads, events)
    return run_backtest(leads.values(), baseline, draft)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.scoring.replay", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rubric", type=Path, required=True, help="the draft rubric (YAML)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--events", type=Path, help="history as JSONL")
    source.add_argument("--from-db", action="store_true", help="history from scoring's tables (read only)")
    parser.add_argument("--baseline", type=Path, help="the rubric to compare with (default: the active one)")
    parser.add_argument("--outcomes", type=Path, help="won/lost per lead (CSV lead_id,won or JSONL)")
    parser.add_argument("--chart", type=Path, help="PNG path (default reports/replay-<before>-vs-<after>.png)")
    parser.add_argument("--show", type=int, default=20, help="how many changed leads to list")
    args = parser.parse_args(argv)
    settings = ScoringSettings()

    try:
        draft = load_rubric(args.rubric.read_text())
        baseline = load_rubric(args.baseline.read_text()) if args.baseline else None
    except RubricError as exc:
        print("invalid rubric:", *(f"  {p}" for p in exc.problems), sep="\n", file=sys.stderr)
        return 2

    started = time.monotonic()
    if args.from_db:
        progress = Progress("loading leads from the database")
        leads, active_doc = asyncio.run(load_from_db(settings.database_url, settings.schema, progress))
        progress(progress.count, 1.0, force=True)
        if baseline is None:
            if active_doc is None:
                print("no active rubric in the database; pass --baseline FILE", file=sys.stderr)
                return 2
            baseline = load_rubric(active_doc)
        records = len(leads)
    else:
        if baseline is None:
            baseline = load_rubric(settings.scoring_rubric_file.read_text())
        progress = Progress(f"reading {args.events}")
        leads = {}
        records = apply_history(leads, read_events_file(args.events, progress))
        progress(records, 1.0, force=True)
    bt = run_backtest(leads.values(), baseline, draft)
    elapsed = time.monotonic() - started
    print(f"[replay] {records:,} records, {len(bt.before):,} captured leads graded twice in {elapsed:.1f}s; "
          "live state untouched", file=sys.stderr)
    outcomes = read_outcomes(args.outcomes) if args.outcomes else None
    render(bt, outcomes, args.show, sys.stdout)
    chart = args.chart or REPO_ROOT / "reports" / f"replay-{baseline.version}-vs-{draft.version}.png"
    try:
        print(f"\nChart: {write_chart(bt, chart)}")
    except ModuleNotFoundError as exc:  # a runtime image has no chart packages
        print(f"\nChart skipped ({exc}): install requirements-dev.txt to draw it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
