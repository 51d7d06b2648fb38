"""Inbox retention on a large inbox: claims, pruning, and what pruning costs the claims.

    python -m bench.inbox [--events 1000000] [--batch 500] [--old 0.9]

On a database of its own (created next to ``LEADBRIDGE_DATABASE_URL``, dropped at the end):

1. fill: ``--events`` ids claimed through ``Inbox.claim`` in batches of ``--batch`` (one
   transaction each, as the consumer claims a batch), then the first ``--old`` share of
   them aged past the retention (claims stamp ``now()``; the bench moves the stamps back);
2. claim latency on the full table: batches of new ids, and batches of duplicates, with the
   inbox's ``handled_at`` index and without it (the inbox as it was before pruning existed),
   in turns;
3. prune: ``Inbox.prune``, as the services' clocked job runs it, timed, while a client keeps
   claiming beside it (the claims' latency during the prune);
4. the table's rows and size before and after, and claim latency on the pruned table.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg

from bench.stack import with_database
from bench.stats import percentile
from shared.db import Inbox, create_pool, migrate
from shared.settings import ServiceSettings

SCHEMA = "inboxbench"
TOPIC = "lead-captured"
RETENTION_S = 8 * 86400


def _ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{i}" for i in range(n)]


async def _claim_batches(pool: asyncpg.Pool, inbox: Inbox, batches: list[list[str]]) -> list[float]:
    """Claim each batch in its own transaction; its latency in ms."""
    latencies = []
    for ids in batches:
        started = time.perf_counter()
        async with pool.acquire() as conn, conn.transaction():
            await inbox.claim(conn, TOPIC, ids)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def _size(pool: asyncpg.Pool) -> tuple[int, int]:
    rows = await pool.fetchval(f"SELECT count(*) FROM {SCHEMA}.inbox")
    size = await pool.fetchval(f"SELECT pg_total_relation_size('{SCHEMA}.inbox')")
    return int(rows), int(size)


def _latency_line(label: str, latencies: list[float]) -> str:
    return (f"  {label:44} {len(latencies):6d} {percentile(latencies, .5):8.2f} {percentile(latencies, .99):8.2f} "
            f"{max(latencies or [0]):8.2f}")


async def run(args: argparse.Namespace) -> int:
    admin_url = ServiceSettings().database_url
    name = f"lbbench_inbox{uuid.uuid4().hex[:6]}"
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    pool = await create_pool(with_database(admin_url, name), min_size=2, max_size=4)
    inbox = Inbox(SCHEMA)
    run_id = uuid.uuid4().hex[:6]
    lines: list[str] = []

    def probe_batches(tag: str, n: int) -> list[list[str]]:
        ids = _ids(f"{run_id}-{tag}", n * args.batch)
        return [ids[i:i + args.batch] for i in range(0, len(ids), args.batch)]

    async def timed(what: str, step: Callable[[], Awaitable[object]]) -> float:
        print(f"[inbox] {what} ...", flush=True)
        started = time.perf_counter()
        await step()
        took = time.perf_counter() - started
        print(f"[inbox] {what}: {took:.1f} s", flush=True)
        return took

    try:
        await migrate(pool, SCHEMA, None)
        filled = probe_batches("fill", args.events // args.batch)
        fill_latency: list[float] = []

        async def fill() -> None:
            fill_latency.extend(await _claim_batches(pool, inbox, filled))

        fill_s = await timed(f"claiming {args.events:,} ids in batches of {args.batch}", fill)
        _, size_filled = await _size(pool)
        n_old = int(len(filled) * args.old)

        async def age() -> None:
            # the first batches handled ten days ago, past the retention of eight
            for i in range(0, n_old, 200):
                ids = [x for batch in filled[i:min(i + 200, n_old)] for x in batch]
                await pool.execute(f"UPDATE {SCHEMA}.inbox SET handled_at = now() - interval '10 days' "
                                   "WHERE event_id = ANY($1::text[])", ids)
            await pool.execute(f"VACUUM ANALYZE {SCHEMA}.inbox")

        await timed(f"ageing {n_old * args.batch:,} of them past the retention", age)
        rows_before, size_before = await _size(pool)
        duplicates = filled[-args.probes:]

        # With and without the index in turns, so that the machine's load drifting during
        # the run does not pass for the index's cost.
        full_new: list[float] = []
        full_dup: list[float] = []
        bare_new: list[float] = []
        bare_dup: list[float] = []
        for turn in range(args.turns):
            full_new += await _claim_batches(pool, inbox, probe_batches(f"full{turn}", args.probes))
            full_dup += await _claim_batches(pool, inbox, duplicates)
            await pool.execute(f"DROP INDEX {SCHEMA}.inbox_handled_at")
            bare_new += await _claim_batches(pool, inbox, probe_batches(f"bare{turn}", args.probes))
            bare_dup += await _claim_batches(pool, inbox, duplicates)
            await timed("building the handled_at index again", lambda: migrate(pool, SCHEMA, None))

        during: list[float] = []
        pruning = True
        pruned = 0

        async def claims_beside_the_prune() -> None:
            n = 0
            while pruning:
                ids = [f"{run_id}-during-{n + i}" for i in range(args.batch)]
                n += args.batch
                during.extend(await _claim_batches(pool, inbox, [ids]))

        async def prune() -> None:
            nonlocal pruned, pruning
            beside = asyncio.create_task(claims_beside_the_prune())
            try:
                pruned = await inbox.prune(pool, RETENTION_S, chunk=args.chunk)
            finally:
                pruning = False
                await beside

        prune_s = await timed(f"pruning ids older than {RETENTION_S / 86400:g} days, {args.chunk:,} a chunk", prune)
        rows_after, size_after = await _size(pool)
        old_left = await pool.fetchval(f"SELECT count(*) FROM {SCHEMA}.inbox "
                                       "WHERE handled_at < now() - make_interval(secs => $1)", RETENTION_S)
        await pool.execute(f"VACUUM {SCHEMA}.inbox")
        _, size_vacuumed = await _size(pool)
        after_new = await _claim_batches(pool, inbox, probe_batches("after", args.probes))
        after_dup = await _claim_batches(pool, inbox, duplicates)

        mib = 1024 * 1024
        lines += [
            "",
            f"Inbox retention, {args.events:,} ids claimed in batches of {args.batch} "
            f"({args.events / fill_s:,.0f} ids/s; claim p50 {percentile(fill_latency, .5):.2f} ms, "
            f"p99 {percentile(fill_latency, .99):.2f} ms while filling)",
            "",
            f"  {'inbox table':44} {'rows':>12} {'size MiB':>10}",
            f"  {'filled':44} {args.events:12,d} {size_filled / mib:10.1f}",
            f"  {'aged (its UPDATE leaves old row versions)':44} {rows_before:12,d} {size_before / mib:10.1f}",
            f"  {'after the prune':44} {rows_after:12,d} {size_after / mib:10.1f}",
            f"  {'after the prune and a VACUUM':44} {rows_after:12,d} {size_vacuumed / mib:10.1f}"
            "  (space reused by new claims, not returned to the OS)",
            "",
            f"  prune: {pruned:,} ids in {prune_s:.1f} s ({pruned / prune_s:,.0f} ids/s), "
            f"chunks of {args.chunk:,}; ids past the retention left: {old_left:,}",
            "  (rows after = the fresh ids plus those the latency probes claimed meanwhile)",
            "",
            f"  {'claim latency (ms), batches of ' + str(args.batch):44} {'count':>6} {'p50':>8} {'p99':>8} "
            f"{'max':>8}",
            _latency_line("full table, new ids, no handled_at index", bare_new),
            _latency_line("full table, new ids, with the index", full_new),
            _latency_line("full table, duplicates, no index", bare_dup),
            _latency_line("full table, duplicates, with the index", full_dup),
            _latency_line("new ids, while the prune runs", during),
            _latency_line("pruned table, new ids", after_new),
            _latency_line("pruned table, duplicates", after_dup),
        ]
        print("\n".join(lines))
        return 0
    finally:
        await pool.close()
        conn = await asyncpg.connect(admin_url)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inbox", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=500, help="ids a claim (the consumer's batch size)")
    parser.add_argument("--old", type=float, default=0.9, help="share of the ids aged past the retention")
    parser.add_argument("--chunk", type=int, default=ServiceSettings().inbox_prune_chunk)
    parser.add_argument("--probes", type=int, default=100, help="claim batches per latency measurement")
    parser.add_argument("--turns", type=int, default=3, help="turns of measuring with and without the index")
    args = parser.parse_args(argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
