"""Benchmark: the campaign report and the attribution recompute at marketing's
biggest sizes, through nurture's HTTP API on the real database, beside a plain SQL
``count(*) ... GROUP BY status`` over the same rows, measured in the same run.

    python -m bench.campaigns [--members 100000] [--won 10000] [--repeat 20]

1. A private namespace (database + topics) and ``python -m services.nurture`` on it
   (its migrations make the tables).
2. Synthetic history written straight into nurture's tables with COPY: one webinar
   with ``--members`` members at every funnel step, 20 other campaigns, one to four
   campaign touches per lead, ``--won`` won deals (and a fifth as many lost).
3. ``POST /v1/attribution/recompute`` (every won deal, every model) is timed once;
   ``GET /v1/campaigns/{id}/report`` ``--repeat`` times (p50 and p95), beside the
   baseline query run as often on its own connection.

Targets (issue 10): report ≤ 200 ms, recompute of 10,000 deals ≤ 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from bench.stack import SERVICES, close_namespace, open_namespace, start_infra, start_stack
from bench.stats import percentile

CAMPAIGN = "bench-webinar"
T0 = datetime(2026, 6, 1, tzinfo=UTC)


def _campaign_rows(n_other: int) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = [(CAMPAIGN, 1, "Bench webinar", "webinar", "mo", T0, T0 + timedelta(days=120),
                                       2_500_000, "USD", "", T0 + timedelta(days=30),
                                       T0 + timedelta(days=30, hours=1), "Europe/Berlin", None, T0)]
    types = ("ad", "email", "content", "trade_show", "partner")
    for i in range(n_other):
        rows.append((f"bench-{i}", 1, f"Bench {i}", types[i % len(types)], "mo", T0, None, 100_000 * (i + 1),
                     "USD", "", None, None, None, None, T0))
    return rows


def synthetic(members: int, won: int, seed: int = 7) -> dict[str, list[tuple[object, ...]]]:
    """Rows for nurture's campaign tables (see services/nurture/migrations/002_campaigns.sql)."""
    rng = random.Random(seed)
    others = [f"bench-{i}" for i in range(20)]
    leads: list[tuple[object, ...]] = []
    member_rows: list[tuple[object, ...]] = []
    touches: list[tuple[object, ...]] = []
    deals: list[tuple[object, ...]] = []
    lost = won // 5
    for i in range(members):
        lead = f"L{i:07d}"
        grade = rng.choice("AABBBCCCCD")
        leads.append((lead, f"{lead.lower()}@bench.example", True, grade, T0))
        joined = T0 + timedelta(minutes=rng.randrange(60 * 24 * 25))
        registered = rng.random() < 0.3 or i < won + lost
        attended = registered and (rng.random() < 0.6 or i < won + lost)
        followed = attended and (rng.random() < 0.7 or i < won + lost)
        opportunity = i < won + lost
        at = {"registered": joined + timedelta(days=1) if registered else None,
              "attended": T0 + timedelta(days=30) if attended else None,
              "no_show": T0 + timedelta(days=30, hours=2) if registered and not attended else None,
              "followed": T0 + timedelta(days=32) if followed else None,
              "opportunity": T0 + timedelta(days=40) if opportunity else None,
              "won": T0 + timedelta(days=60) if i < won else None,
              "lost": T0 + timedelta(days=60) if won <= i < won + lost else None}
        status = ("won" if at["won"] else "lost" if at["lost"] else "opportunity" if opportunity
                  else "followed_up" if followed else "attended" if attended else "no_show" if at["no_show"]
                  else "invited")
        member_rows.append((CAMPAIGN, lead, status, rng.random() < 0.4, "list", grade, joined, joined,
                            at["registered"], at["attended"], at["no_show"], None, at["followed"],
                            followed and rng.random() < 0.8 if followed else None, at["opportunity"], at["won"],
                            at["lost"], joined))
        touches.append((f"t{i}-0", lead, CAMPAIGN, joined, "list_import"))
        for k in range(rng.randrange(0, 4)):
            touches.append((f"t{i}-{k + 1}", lead, rng.choice(others), joined + timedelta(days=rng.randrange(1, 50)),
                            "activity"))
        if opportunity:
            closed = T0 + timedelta(days=60)
            deals.append((f"OPP-{i}", lead, "won" if i < won else "lost", "closed", rng.randrange(500_000, 9_000_000),
                          "USD", T0 + timedelta(days=40), closed, closed))
    return {"campaigns": _campaign_rows(20), "leads": leads, "members": member_rows, "touches": touches,
            "deals": deals}


async def seed(database_url: str, rows: dict[str, list[tuple[object, ...]]]) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        for table, records in rows.items():
            await conn.copy_records_to_table(table, schema_name="nurture", records=records)
        await conn.execute("ANALYZE nurture.members; ANALYZE nurture.deals; ANALYZE nurture.touches; "
                           "ANALYZE nurture.leads; ANALYZE nurture.campaigns")
    finally:
        await conn.close()


BASELINE = "SELECT status, count(*) FROM nurture.members WHERE campaign_id = $1 GROUP BY status"


async def baseline(database_url: str, repeat: int) -> tuple[list[float], dict[str, int]]:
    conn = await asyncpg.connect(database_url)
    try:
        times: list[float] = []
        counts: dict[str, int] = {}
        for _ in range(repeat):
            started = time.perf_counter()
            rows = await conn.fetch(BASELINE, CAMPAIGN)
            times.append((time.perf_counter() - started) * 1000)
            counts = {r["status"]: r["count"] for r in rows}
        return times, counts
    finally:
        await conn.close()


def _ms(values: list[float]) -> str:
    return f"p50 {percentile(values, 0.5):7.1f} ms  p95 {percentile(values, 0.95):7.1f} ms"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.campaigns", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--members", type=int, default=100_000)
    p.add_argument("--won", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=20)
    args = p.parse_args(argv)

    infra = start_infra()
    ns = open_namespace(infra, "bc")
    stack = None
    try:
        assert "nurture" in SERVICES
        stack = start_stack(ns, Path(tempfile.mkdtemp(prefix="bench-campaigns-")), names=("nurture",))
        started = time.perf_counter()
        rows = synthetic(args.members, args.won)
        asyncio.run(seed(ns.database_url, rows))
        print(f"[bench] seeded {len(rows['members']):,} members, {len(rows['touches']):,} touches, "
              f"{sum(d[2] == 'won' for d in rows['deals']):,} won deals in {time.perf_counter() - started:.1f} s")
        with stack.client("nurture", timeout=120) as http:
            started = time.perf_counter()
            r = http.post("/v1/attribution/recompute")
            recompute_s = time.perf_counter() - started
            r.raise_for_status()
            deals = r.json()["deals"]
            report_ms: list[float] = []
            body: dict[str, Any] = {}
            for _ in range(args.repeat):
                started = time.perf_counter()
                r = http.get(f"/v1/campaigns/{CAMPAIGN}/report")
                report_ms.append((time.perf_counter() - started) * 1000)
                r.raise_for_status()
                body = r.json()
        base_ms, counts = asyncio.run(baseline(ns.database_url, args.repeat))
        by_model = {m: Decimal(v or 0) for m, v in body["revenue"]["attributed_by_model"].items()}
        print(f"\nCampaign report, {body['leads']['captured']:,} members, {body['won_deals']:,} won deals "
              f"(closed revenue {body['revenue']['closed']} USD), {args.repeat} runs each:")
        print(f"  GET /v1/campaigns/{{id}}/report (HTTP, every figure)   {_ms(report_ms)}   target ≤ 200 ms")
        print(f"  plain SQL count(*) GROUP BY status (same rows)        {_ms(base_ms)}")
        funnel = ", ".join(f"{s['step']} {s['members']:,}" for s in body["funnel"])
        print(f"  funnel: {funnel}; statuses by GROUP BY: {dict(sorted(counts.items()))}")
        print(f"\nAttribution recompute: {deals:,} won deals x 6 models in {recompute_s:.2f} s   target ≤ 10 s")
        print("  the bench webinar's credited revenue by model (USD): "
              + ", ".join(f"{m} {v:,.2f}" for m, v in by_model.items()))
        return 0
    finally:
        if stack is not None:
            stack.stop()
        close_namespace(ns)
        infra.stop()


if __name__ == "__main__":
    sys.exit(main())
