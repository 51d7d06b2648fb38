"""make bench-sizing: each service's CPU cost per lead, measured, and what a given lead
rate then needs in replicas and partitions.

    PYTHONPATH=. .venv/bin/python -m bench.sizing [--rate 200] [--seconds 30] [--concurrency 64]

1. Starts every service (bench/stack.py, a namespace of its own; routing with the
   end-to-end organisation and a day to follow up, as ``make bench``) and warms it up
   with a few leads.
2. Reads each service process's CPU time (bench/cpu.py), posts ``rate × seconds`` leads
   at a steady ``--rate`` (a third each of grade A, B and C: the pipeline bench's
   poster, bench/pipeline.py), waits until every accepted lead's assignment is on
   ``lead-assigned``, and reads the CPU time again. Also the CPU of this database's
   PostgreSQL backends (those open at both readings). The broker is shared with other
   work on this machine, so it is not measured.
3. Prints CPU milliseconds per lead for each service and, from those, the replicas each
   needs at 100, 1,000 and 10,000 leads/s (see :func:`plan`) and the partitions their
   topics then need.

A replica is one Python process: one event loop, so at most one core, and it should
not run hotter than ``--utilisation`` (default 0.6: headroom for bursts and for a
replica's partitions moving to the others when one fails). A topic needs at least as
many partitions as the most replicas of any service consuming it (a partition is read
by one member of a group; more members than partitions sit idle).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from bench import cpu
from bench import stack as harness
from bench.pipeline import bench_org, bench_pipeline, tear_down

RATES = (100, 1_000, 10_000)


@dataclass(frozen=True)
class Need:
    cores: float
    replicas: int


def plan(cpu_per_lead_s: Mapping[str, float], rate: float, utilisation: float) -> dict[str, Need]:
    """Cores and replicas per service for ``rate`` leads/s: cores = rate × CPU per lead,
    replicas = cores / utilisation rounded up (at least 2, so that one can fail)."""
    needs = {}
    for service, per_lead in cpu_per_lead_s.items():
        cores = rate * per_lead
        needs[service] = Need(cores, max(2, math.ceil(cores / utilisation)))
    return needs


# The topics that carry an event per lead, whose consumers' work grows with the lead rate.
# The others carry a few events (campaigns, rubric and org changes, erasures): a replica
# without a partition of those still has its share of these.
PER_LEAD_TOPICS = ("lead-captured", "lead-scored", "lead-assigned")
# Capture's replicas follow its HTTP intake (behind a load balancer, no partitions needed);
# its consumers are light projections, so its replica count does not size the partitions.
HTTP_SCALED = ("capture",)


def partitions_for(needs: Mapping[str, Need], consumes: Mapping[str, set[str]]) -> dict[str, int]:
    """Per topic carrying an event per lead: the most replicas of any service consuming
    it, rounded up to a multiple of 4 (one more replica needs no repartition)."""
    wanted = dict.fromkeys(PER_LEAD_TOPICS, 1)
    for service, topics_ in consumes.items():
        if service not in needs or service in HTTP_SCALED:
            continue
        for topic in topics_ & set(PER_LEAD_TOPICS):
            wanted[topic] = max(wanted[topic], needs[service].replicas)
    return {topic: 4 * math.ceil(n / 4) for topic, n in wanted.items()}


async def backend_pids(database_url: str) -> list[int]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                "AND pid <> pg_backend_pid()")
        return [int(r["pid"]) for r in rows]
    finally:
        await conn.close()


def sample_backends(pids: list[int]) -> dict[str, float]:
    out = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            out[str(pid)] = cpu.cpu_seconds(pid)
    return out


def report(use: cpu.CpuUse, postgres_s: float, leads: int, rate: float, seconds: float,
           utilisation: float, consumes: Mapping[str, set[str]]) -> str:
    per_lead = {name: spent / leads for name, spent in use.seconds.items()}
    lines = [f"CPU per lead at {rate:g} leads/s for {seconds:g} s ({leads} leads assigned, window {use.wall_s:.0f} s)",
             f"  {'process':<22} {'CPU s':>7} {'ms/lead':>8} {'leads/s per core':>17}"]
    for name, spent in [*use.seconds.items(), ("postgres (backends)", postgres_s)]:
        ms = 1000 * spent / leads
        lines.append(f"  {name:<22} {spent:7.2f} {ms:8.3f} {1000 / ms if ms else math.inf:17,.0f}")
    total = sum(use.seconds.values())
    lines.append(f"  {'all services':<22} {total:7.2f} {1000 * total / leads:8.3f}")
    lines.append(f"\nReplicas per service (a replica at most {utilisation:.0%} of one core, at least 2), "
                 "and partitions of the topics with an event per lead (capture scales by HTTP, not partitions):")
    header = f"  {'service':<10}" + "".join(f" {f'{r:,}/s':>14}" for r in RATES)
    lines.append(header)
    needs = {r: plan(per_lead, r, utilisation) for r in RATES}
    for name in per_lead:
        cells = "".join(f" {f'{needs[r][name].replicas} ({needs[r][name].cores:.2f} c)':>14}" for r in RATES)
        lines.append(f"  {name:<10}{cells}")
    parts = {r: partitions_for(needs[r], consumes) for r in RATES}
    lines.append(f"\n  {'topic (partitions)':<24}" + "".join(f" {f'{r:,}/s':>10}" for r in RATES))
    for topic in parts[RATES[0]]:
        lines.append(f"  {topic:<24}" + "".join(f" {parts[r][topic]:>10}" for r in RATES))
    return "\n".join(lines)


def consumed_topics() -> dict[str, set[str]]:
    from deploy.asyncapi import discover_services

    return {s.name: {spec.name for spec in s.consumes} for s in discover_services()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.sizing", description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=200.0, help="steady leads/s (default 200)")
    p.add_argument("--seconds", type=float, default=30.0, help="how long to post (default 30)")
    p.add_argument("--concurrency", type=int, default=64, help="concurrent HTTP clients (default 64)")
    p.add_argument("--utilisation", type=float, default=0.6, help="planned load of a replica's core (default 0.6)")
    args = p.parse_args(argv)
    logs = harness.ROOT / "var" / "bench" / f"sizing-{datetime.now():%Y%m%d-%H%M%S}"
    infra = harness.start_infra()
    ns = stack = None
    try:
        print(f"[bench-sizing] {cpu.loadavg()} at the start (on a busy machine each lead costs more CPU: caches "
              "and cores are shared)", flush=True)
        ns = harness.open_namespace(infra, "size")
        extra = {"routing": {"LEADBRIDGE_ROUTING_ORG_FILE": str(bench_org(logs / "org.yaml"))}}
        stack = harness.start_stack(ns, logs, extra)
        print(f"[bench-sizing] {', '.join(stack.services)} up (logs {logs.relative_to(harness.ROOT)}/); "
              "warming up with 100 leads", flush=True)
        warm = asyncio.run(bench_pipeline(stack, argparse.Namespace(leads=100, concurrency=8, rate=50.0, stall=30.0)))
        if warm.arrived() < warm.accepted or not warm.accepted:
            print("[bench-sizing] the warm-up leads were not all assigned", file=sys.stderr)
            return 1
        pids = {name: svc.proc.pid for name, svc in stack.services.items() if svc.proc is not None}
        backends = asyncio.run(backend_pids(ns.database_url))
        before, pg_before = cpu.sample(pids), sample_backends(backends)
        leads = round(args.rate * args.seconds)
        run = asyncio.run(bench_pipeline(stack, argparse.Namespace(leads=leads, concurrency=args.concurrency,
                                                                   rate=args.rate, stall=30.0)))
        after, pg_after = cpu.sample(pids), sample_backends(backends)
        postgres_s = sum(pg_after[k] - pg_before[k] for k in pg_before if k in pg_after)
        arrived = run.arrived()
        print(f"[bench-sizing] {run.accepted} accepted, {arrived} assigned; sustained {run.sustained():.0f} leads/s; "
              f"{cpu.loadavg()} at the end")
        if not arrived:
            return 1
        print(report(cpu.between(before, after), postgres_s, arrived, args.rate, args.seconds, args.utilisation,
                     consumed_topics()))
        return 0 if arrived == run.accepted == leads else 1
    except KeyboardInterrupt:
        return 130
    finally:
        tear_down(infra, stack, ns)


if __name__ == "__main__":
    sys.exit(main())
