"""Benchmark: ``lead-scored`` → ``lead-assigned`` latency at a steady rate, through the
real broker and database, beside a baseline measured in the same run.

    python -m bench.routing [--rate 500] [--seconds 20] [--warmup 3]

1. baseline: a bare aiokafka process consumes ``lead-scored`` and produces each record
   unchanged to ``lead-assigned`` (acks=all, idempotent, like the service's publisher);
2. routing: ``python -m services.routing`` (the demo organisation with room for every
   lead) consumes the same load and assigns each lead.

Each run has its own topic prefix and routing its own schema (dropped afterwards). The
latency of a lead is from its send to the moment its ``lead-assigned`` is read back.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.baseline import bare_hop
from bench.charts import latency_cdf
from bench.stack import ROOT
from bench.stats import percentile
from services.routing.documents import read_org_file
from services.routing.settings import RoutingSettings
from shared import codec, topics
from shared.events import LeadProfile, LeadScored, derive_event_id


def _scored(i: int, run: str) -> LeadScored:
    country = ("US", "GB", "CA", "IE")[i % 4]
    source = "agency" if i % 10 == 0 else "web_form"
    return LeadScored(lead_id=f"{run}-{i}", cause_event_id=f"{run}-c{i}", source=source,
                      profile=LeadProfile(email=f"lead{i}@bench.example", name=f"Lead {i}", company=f"Company {i}",
                                          country=country),
                      score=60, fit_score=30, engagement_score=30, grade=("A", "B", "C", "B")[i % 4],
                      segment=("ent-tech-na", "mid-tech-uk", "smb-finance-na")[i % 3], hot=i % 7 == 0,
                      rubric_version="bench")


async def _echo(bootstrap: str, prefix: str) -> None:
    """The baseline hop: consume, produce unchanged, no work."""
    await bare_hop(bootstrap, prefix + topics.LEAD_SCORED.name, prefix + topics.LEAD_ASSIGNED.name,
                   group=prefix + "echo")


async def _measure(bootstrap: str, prefix: str, rate: float, seconds: float, warmup: float,
                   expect_id: bool) -> list[float]:
    """Send ``rate`` leads/s for ``seconds``; return latencies (ms) after the warm-up."""
    run = uuid.uuid4().hex[:8]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    parts = [TopicPartition(prefix + topics.LEAD_ASSIGNED.name, p) for p in range(topics.LEAD_ASSIGNED.partitions)]
    consumer.assign(parts)
    await consumer.seek_to_end(*parts)
    for p in parts:
        await consumer.position(p)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=0)
    await producer.start()
    sent: dict[str, float] = {}
    latencies: list[float] = []
    total = int(rate * seconds)
    counted_from = int(rate * warmup)

    async def receive() -> None:
        while len(latencies) < total - counted_from or time.perf_counter() - start < seconds + 10:
            batches = await consumer.getmany(timeout_ms=50)
            now = time.perf_counter()
            for records in batches.values():
                for r in records:
                    ce_id = dict(r.headers).get("ce_id", b"").decode()
                    t0 = sent.pop(ce_id, None)
                    if t0 is not None:
                        latencies.append((now - t0) * 1000)
            if len(latencies) >= total - counted_from:
                return

    start = time.perf_counter()
    receiver = asyncio.create_task(receive())
    pending = []
    for i in range(total):
        target = start + i / rate
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        event = _scored(i, run)
        key = derive_event_id(event.event_id, "lead-assigned") if expect_id else event.event_id
        if i >= counted_from:
            sent[key] = time.perf_counter()
        headers = codec.cloudevent_headers(event, "bench")
        pending.append(await producer.send(prefix + topics.LEAD_SCORED.name, codec.encode(event),
                                           key=event.lead_id.encode(), headers=headers))
        if len(pending) > 200:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    try:
        await asyncio.wait_for(receiver, timeout=30)
    except TimeoutError:
        print(f"  ({len(sent)} leads not seen back within 30 s)")
    await producer.stop()
    await consumer.stop()
    return latencies


def _batch_summary(metrics_text: str) -> str:
    """Batches handled, mean time per batch and mean batch size, from routing's /metrics."""
    values: dict[str, float] = {}
    for line in metrics_text.splitlines():
        if 'topic="lead-scored"' in line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name.split("{")[0]] = values.get(name.split("{")[0], 0.0) + float(value)
    batches = values.get("leadbridge_batch_seconds_count", 0.0)
    if not batches:
        return "  (no batch metrics)"
    mean_ms = 1000 * values.get("leadbridge_batch_seconds_sum", 0.0) / batches
    size = values.get("leadbridge_events_consumed_total", 0.0) / batches
    return f"  routing handled {batches:.0f} batches: {mean_ms:.1f} ms and {size:.1f} leads per batch on average"


def _start_routing(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "services.routing"], cwd=ROOT, env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"routing exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise TimeoutError("routing did not become healthy")


async def _main(args: argparse.Namespace) -> int:
    settings = RoutingSettings()
    bootstrap = settings.kafka_bootstrap
    run = f"bench{uuid.uuid4().hex[:6]}"
    print(f"routing bench: {args.rate:g} leads/s for {args.seconds:g} s (first {args.warmup:g} s not counted), "
          f"broker {bootstrap}, run {run}")
    results: dict[str, list[float]] = {}

    # --- baseline
    base_prefix = f"{run}-base-"
    topics.create_all(bootstrap, prefix=base_prefix)
    echo = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is measured
        [sys.executable, "-m", "bench.routing", "--echo", base_prefix],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    await asyncio.sleep(4)  # group join
    try:
        results["baseline: bare aiokafka consume→produce"] = await _measure(
            bootstrap, base_prefix, args.rate, args.seconds, args.warmup, expect_id=False)
    finally:
        echo.send_signal(signal.SIGTERM)
        echo.wait(10)

    # --- routing
    prefix = f"{run}-"
    schema = f"routing_{run}"
    topics.create_all(bootstrap, prefix=prefix)
    org, rules = read_org_file(settings.routing_org_file)
    for rep in org["reps"]:
        rep["capacity"] = 1_000_000  # the bench measures routing, not reps filling up
    tmp = Path(tempfile.mkdtemp(prefix="routing-bench-"))
    (tmp / "org.yaml").write_text(yaml.safe_dump({"org": org, "rules": rules}))
    port = args.port
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LEADBRIDGE_TOPIC_PREFIX": prefix,
           "LEADBRIDGE_SERVICE_NAME": schema, "LEADBRIDGE_HTTP_PORT": str(port),
           "LEADBRIDGE_ROUTING_ORG_FILE": str(tmp / "org.yaml"), "LEADBRIDGE_LOG_LEVEL": "WARNING"}
    proc = _start_routing(env, port, tmp / "routing.log")
    await asyncio.sleep(3)  # group join
    try:
        results["routing: lead-scored → lead-assigned"] = await _measure(
            bootstrap, prefix, args.rate, args.seconds, args.warmup, expect_id=True)
        async with httpx.AsyncClient() as client:
            print(_batch_summary((await client.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        conn = await asyncpg.connect(settings.database_url)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()
        topics.delete_with_prefix(bootstrap, prefix)

    print(f"\n{'path':42} {'leads':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, lat in results.items():
        p50, p99 = percentile(lat, 0.5), percentile(lat, 0.99)
        print(f"{name:42} {len(lat):7d} {p50:8.1f} {p99:8.1f} {max(lat or [0]):8.1f}")
    chart = latency_cdf(
        results, ROOT / "reports" / f"bench-routing-{time.strftime('%Y%m%d-%H%M%S')}.png",
        f"lead-scored → lead-assigned at {args.rate:g} leads/s for {args.seconds:g} s",
        "latency (ms, log scale): record sent → its lead-assigned read back")
    print(f"[bench] chart: {chart.relative_to(ROOT)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.routing", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--port", type=int, default=18903)
    parser.add_argument("--echo", help=argparse.SUPPRESS)  # internal: run the baseline hop for this prefix
    args = parser.parse_args(argv)
    if args.echo:
        try:
            asyncio.run(_echo(RoutingSettings().kafka_bootstrap, args.echo))
        except KeyboardInterrupt:
            pass
        return 0
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
