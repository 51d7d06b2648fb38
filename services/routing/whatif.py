"""What-if: how would a past period's leads have spread under a changed organisation or
rule set? Reads routing's own history, replays it in memory, changes nothing.

    python -m services.routing.whatif --org changed.yaml [--rules rules.yaml]
        [--since 2025-03-01] [--until 2025-04-01] [--chart reports/whatif.png]

Without ``--rules`` the changed org file's own ``rules:`` (if any) or the live rules are
used; without ``--org`` the live organisation. Prints leads per owner and per team, and the
follow-up load per rep (leads, most follow-ups running at once), actual beside what-if,
and writes a PNG chart.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from services.routing.documents import DocumentError, read_org_file, read_rules_file
from services.routing.domain.config import ConfigInvalid, RoutingConfig, compile_config
from services.routing.domain.router import LeadFacts
from services.routing.domain.whatif import Spread, owner_label, peak_concurrency, replay
from services.routing.repository import RoutingRepository
from services.routing.settings import REPO_ROOT, RoutingSettings
from shared.db import create_pool

FIRST_ROUTING = ("scored", "returned_from_nurture")


def _when(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def actual_spread(rows: list[asyncpg.Record]) -> Spread:
    """What routing really did with leads when they were scored (escalations excluded)."""
    spread = Spread()
    windows = []
    for r in rows:
        if r["trigger"] not in FIRST_ROUTING:
            continue
        spread.add(owner_label(r["owner_kind"], r["rep_id"], r["team"]), r["team"])
        if r["rep_id"] and r["due_at"]:
            end = min(r["due_at"], r["closed_at"] or r["due_at"])
            windows.append((r["rep_id"], r["assigned_at"], max(end, r["assigned_at"])))
    spread.peak_open = peak_concurrency(windows)
    return spread


def report(actual: Spread, whatif: Spread, config: RoutingConfig) -> str:
    """The side-by-side tables, as text."""
    lines = [f"{'owner':28} {'actual':>8} {'what-if':>8} {'change':>8}"]
    owners = sorted(set(actual.owners) | set(whatif.owners), key=lambda o: (-whatif.owners[o], o))
    for o in owners:
        a, w = actual.owners[o], whatif.owners[o]
        lines.append(f"{o:28} {a:8d} {w:8d} {w - a:+8d}")
    lines += ["", f"{'team':28} {'actual':>8} {'what-if':>8} {'change':>8}"]
    for t in sorted(set(actual.teams) | set(whatif.teams)):
        a, w = actual.teams[t], whatif.teams[t]
        lines.append(f"{t:28} {a:8d} {w:8d} {w - a:+8d}")
    lines += ["", "SLA load per rep (leads with a follow-up clock; most clocks running at once)",
              f"{'rep':12} {'team':14} {'capacity':>8} {'leads':>7} {'what-if':>8} {'peak':>6} {'what-if':>8}"]
    reps = {r.id: r for r in config.org.reps}
    for rep_id in sorted(set(actual.peak_open) | set(whatif.peak_open) | set(reps)):
        rep = reps.get(rep_id)
        lines.append(f"{rep_id:12} {(rep.team if rep else '(gone)'):14} {(rep.capacity if rep else 0):8d} "
                     f"{actual.owners[rep_id]:7d} {whatif.owners[rep_id]:8d} "
                     f"{actual.peak_open[rep_id]:6d} {whatif.peak_open[rep_id]:8d}")
    return "\n".join(lines)


def chart(actual: Spread, whatif: Spread, path: Path, title: str) -> Path:
    """A grouped bar chart of leads per owner, actual beside what-if (drawn by
    :mod:`bench.charts`, which needs the development requirements)."""
    from bench.charts import before_after_bars

    owners = sorted(set(actual.owners) | set(whatif.owners))
    return before_after_bars(owners, actual.owners, whatif.owners, path, title, labels=("actual", "what-if"))


async def run(args: argparse.Namespace, settings: RoutingSettings) -> int:
    repo = RoutingRepository(settings.schema)
    pool = await create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            live = await repo.config_documents(conn)
            org_doc: dict[str, Any] | None = live["org"][1] if "org" in live else None
            rules_doc: dict[str, Any] | None = live["rules"][1] if "rules" in live else None
            if args.org:
                org_doc, file_rules = read_org_file(Path(args.org))
                rules_doc = file_rules if file_rules is not None else rules_doc
            if args.rules:
                rules_doc = read_rules_file(Path(args.rules))
            if org_doc is None or rules_doc is None:
                print("whatif: no live configuration to compare with; give --org and --rules", file=sys.stderr)
                return 2
            config = compile_config(org_doc, rules_doc)
            scored = await repo.scored_between(conn, args.since, args.until)
            actual_rows = await repo.assignments_between(conn, args.since, args.until)
    finally:
        await pool.close()
    history = [(r["occurred_at"], LeadFacts.from_dict(r["facts"])) for r in scored]
    whatif = replay(config, history)
    actual = actual_spread(actual_rows)
    period = f"{args.since:%Y-%m-%d %H:%M} to {args.until:%Y-%m-%d %H:%M} UTC"
    print(f"what-if over {len(history)} scorings ({len({f.lead_id for _, f in history})} leads), {period}")
    print("(read-only replay; a rep is assumed to work a lead off by its due time)\n")
    print(report(actual, whatif, config))
    out = Path(args.chart) if args.chart else REPO_ROOT / "reports" / f"whatif-{datetime.now(UTC):%Y%m%d-%H%M%S}.png"
    try:
        print(f"\nchart: {chart(actual, whatif, out, f'leads per owner, {period}')}")
    except ModuleNotFoundError as exc:  # a runtime image has no chart packages
        print(f"\nchart skipped ({exc}): install requirements-dev.txt to draw it")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.routing.whatif", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--org", help="changed organisation (YAML; may hold rules: too)")
    parser.add_argument("--rules", help="changed rules (YAML)")
    now = datetime.now(UTC)
    parser.add_argument("--since", type=_when, default=now - timedelta(days=7), help="ISO time (default: 7 days ago)")
    parser.add_argument("--until", type=_when, default=now + timedelta(minutes=1), help="ISO time (default: now)")
    parser.add_argument("--chart", help="PNG path (default: reports/whatif-<time>.png)")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(run(args, RoutingSettings()))
    except ConfigInvalid as exc:
        print("whatif: the changed configuration is not valid:", file=sys.stderr)
        for e in exc.errors:
            print(f"  {e.field}: {e.reason}", file=sys.stderr)
        return 2
    except DocumentError as exc:
        print(f"whatif: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
