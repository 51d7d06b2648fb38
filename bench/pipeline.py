"""make bench: capture→assigned throughput and latency through the real stack, beside a
bare-Kafka baseline measured in the same run.

    PYTHONPATH=. .venv/bin/python -m bench.pipeline [--leads 3000] [--concurrency 64] [--rate R]
        [--steady-rate 100] [--steady-leads 1500]
    make bench BENCH_ARGS="--leads 5000 --rate 300"

1. **Pipeline.** A namespace of its own (topic prefix + database, bench/stack.py), the
   five services as real processes with the end-to-end organisation (tests/e2e/org.yaml:
   reps working round the clock, so the result does not depend on the hour; its short test
   SLAs lengthened to a day, so no follow-up is missed during the run). N leads (a
   third each of grade A, B and C) are posted to ``POST /v1/leads`` by ``--concurrency``
   clients (or at a steady ``--rate``). A consumer on the namespace's ``lead-assigned``
   topic, started before the first post, notes when each lead's first ``LeadAssigned``
   arrives. Latency of a lead = that moment − the moment its POST was sent.
2. **Baseline.** The same number of records, offered the same way (same concurrency or
   rate, each send awaiting its ack as a client awaits its 202), produced to topic ``h0``
   and carried ``h0 → h1 → h2 → h3`` by three bare aiokafka consume-produce hops doing no
   work (same producer settings as the services: acks=all, idempotent, linger 1 ms; offsets
   committed after each forwarded batch). The services are stopped first, so the two
   measurements do not share the CPU.

Then (3.) ``--steady-leads`` more leads at a steady ``--steady-rate`` (100/s), for the
latency at a load the pipeline carries, with its own baseline. Sustained rate = records
that arrived / (first send → last arrival); accept rate = 202s / (first post → last
answer). Prints each comparison, each service's consume rate and lag during the
closed-loop run (bench/watch.py), the issue's targets beside what was measured, and
writes CDF charts of the latency distributions to reports/. Everything it
starts or creates (services, topics, database) is removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
import orjson
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench import stack as harness
from bench.baseline import bare_hop
from bench.charts import latency_cdf
from bench.leads import grade_a, grade_b, grade_c
from bench.stats import percentile
from bench.watch import ServiceWatch
from shared import codec, topics
from shared.events import LeadAssigned

ROOT = harness.ROOT
ORG_FILE = ROOT / "tests" / "e2e" / "org.yaml"
REPORTS = ROOT / "reports"
HOPS = 3
PARTITIONS = topics.LEAD_CAPTURED.partitions  # the baseline topics are shaped like the pipeline's


# --------------------------------------------------------------------------- measurements


@dataclass
class Run:
    """One measured run: when each record was sent and when it arrived at the end."""

    name: str
    total: int
    sent_at: dict[str, float] = field(default_factory=dict)  # record id → send time (monotonic)
    arrived_at: dict[str, float] = field(default_factory=dict)  # record id → first arrival at the end
    send_latency: list[float] = field(default_factory=list)  # seconds the send took (HTTP 202 / produce ack)
    attempted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)  # status or error → count
    first_send: float | None = None
    sending_done: float | None = None

    @property
    def accepted(self) -> int:
        return len(self.sent_at)

    def arrived(self) -> int:
        return sum(1 for k in self.sent_at if k in self.arrived_at)

    def latencies(self) -> list[float]:
        return sorted(self.arrived_at[k] - t for k, t in self.sent_at.items() if k in self.arrived_at)

    def accept_rate(self) -> float:
        """Accepted sends per second while sending (first send → last answer)."""
        if self.first_send is None or self.sending_done is None or self.sending_done <= self.first_send:
            return 0.0
        return self.accepted / (self.sending_done - self.first_send)

    def sustained(self) -> float:
        done = [self.arrived_at[k] for k in self.sent_at if k in self.arrived_at]
        if not done or self.first_send is None:
            return 0.0
        span = max(done) - self.first_send
        return len(done) / span if span > 0 else math.inf


async def drive(run: Run, concurrency: int, rate: float | None,
                send_one: Callable[[int], Awaitable[tuple[str | None, str | None]]]) -> None:
    """Offer ``run.total`` records: ``concurrency`` clients, each waiting for its answer
    before the next send, optionally paced to ``rate`` sends/s overall. ``send_one(i)``
    returns (record id, None) when accepted or (None, why) when not."""
    next_index = iter(range(run.total))
    start = time.monotonic()
    run.first_send = start

    async def client() -> None:
        for i in next_index:
            if rate:
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent = time.monotonic()
            run.attempted += 1
            try:
                record_id, why = await send_one(i)
            except Exception as exc:  # a client error counts against the accept rate, the run goes on
                record_id, why = None, type(exc).__name__
            took = time.monotonic() - sent
            if record_id is None:
                key = why or "?"
                run.rejected[key] = run.rejected.get(key, 0) + 1
                continue
            run.sent_at.setdefault(record_id, sent)
            run.send_latency.append(took)

    await asyncio.gather(*(client() for _ in range(max(1, concurrency))))
    run.sending_done = time.monotonic()


async def watch_arrivals(run: Run, consumer: AIOKafkaConsumer, record_id: Callable[[Any], str | None]) -> None:
    """Note the first arrival of every record read by ``consumer`` (until cancelled)."""
    while True:
        batches = await consumer.getmany(timeout_ms=100, max_records=2000)
        now = time.monotonic()
        for records in batches.values():
            for rec in records:
                rid = record_id(rec)
                if rid is not None and rid not in run.arrived_at:
                    run.arrived_at[rid] = now


async def progress(run: Run, what: str) -> None:
    """A line a second: sent, accepted, arrived."""
    started = time.monotonic()
    while True:
        await asyncio.sleep(1.0)
        print(f"[bench] {run.name:8} {time.monotonic() - started:5.1f}s  sent {run.attempted}/{run.total}"
              f"  accepted {run.accepted}  {what} {run.arrived()}", flush=True)


async def wait_drained(run: Run, stall_s: float) -> None:
    """Until every accepted record arrived, or nothing new arrived for ``stall_s``."""
    last_count, last_change = -1, time.monotonic()
    while True:
        count = run.arrived()
        if run.sending_done is not None and count >= run.accepted:
            return
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        elif time.monotonic() - last_change > stall_s:
            missing = run.accepted - count
            print(f"[bench] {run.name}: {missing} record(s) did not arrive within {stall_s:.0f}s of the last one",
                  flush=True)
            return
        await asyncio.sleep(0.05)


async def reader_from_beginning(bootstrap: str, topic: str, partitions: int) -> AIOKafkaConsumer:
    """A group-less consumer on every partition of ``topic``, from the first record."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    return consumer


async def measured(run: Run, consumer: AIOKafkaConsumer, record_id: Callable[[Any], str | None],
                   what: str, drive_it: Awaitable[None], stall_s: float) -> None:
    """Run the driver with the arrival watcher and the progress line beside it."""
    background = [asyncio.create_task(watch_arrivals(run, consumer, record_id)),
                  asyncio.create_task(progress(run, what))]
    try:
        await drive_it
        await wait_drained(run, stall_s)
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        print(f"[bench] {run.name:8} end: sent {run.attempted}, accepted {run.accepted}, {what} {run.arrived()}",
              flush=True)


# --------------------------------------------------------------------------- the pipeline


_LEADS = (grade_a, grade_b, grade_c)


def _assigned_lead_id(rec: Any) -> str | None:
    try:
        return codec.decode(LeadAssigned, rec.value).lead_id
    except codec.DecodeError:
        return None


async def bench_pipeline(stack: harness.Stack, args: argparse.Namespace, watch: ServiceWatch | None = None) -> Run:
    run = Run("pipeline", args.leads)
    watching = asyncio.create_task(watch.run()) if watch is not None else None
    bodies = [_LEADS[i % len(_LEADS)]() for i in range(args.leads)]
    consumer = await reader_from_beginning(stack.ns.bootstrap, stack.ns.topic(topics.LEAD_ASSIGNED),
                                          topics.LEAD_ASSIGNED.partitions)
    # aiohttp, not httpx, sends the posts: httpx's connection pool tops out near 160
    # requests/s at 64 connections on this machine (a bare GET /livez: 164/s with httpx,
    # 4,189/s with aiohttp, against the same capture), so with it the bench measured its
    # own client rather than the pipeline.
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    payloads = [orjson.dumps(b) for b in bodies]
    try:
        async with aiohttp.ClientSession(stack.url("capture"), connector=connector,
                                         timeout=aiohttp.ClientTimeout(total=30),
                                         headers={**stack.headers("capture"),
                                                  "content-type": "application/json"}) as client:

            async def post(i: int) -> tuple[str | None, str | None]:
                async with client.post("/v1/leads", data=payloads[i]) as r:
                    body = await r.read()
                    if r.status != 202:
                        return None, f"HTTP {r.status}"
                return str(orjson.loads(body)["lead_id"]), None

            await measured(run, consumer, _assigned_lead_id, "assigned",
                           drive(run, args.concurrency, args.rate, post), args.stall)
    finally:
        if watching is not None:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
        await consumer.stop()
    return run


# --------------------------------------------------------------------------- the baseline


def baseline_topics(prefix: str) -> list[str]:
    return [f"{prefix}bench-h{i}" for i in range(HOPS + 1)]


def create_topics(bootstrap: str, names: list[str]) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="leadbridge-bench")
    try:
        admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names], timeout_ms=30_000)
        # every partition led before the first fetch (else the hops log NotLeaderForPartition once)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            described = admin.describe_topics(names)
            if all(t.get("error_code", 0) == 0 and len(t["partitions"]) == PARTITIONS
                   and all(p.get("leader_id", -1) >= 0 for p in t["partitions"]) for t in described):
                return
            time.sleep(0.2)
    finally:
        admin.close()


def delete_topics_with_prefix(bootstrap: str, prefix: str) -> int:
    return len(topics.delete_with_prefix(bootstrap, prefix))


class _FreshTopicNoise(logging.Filter):
    """The hops start right after their topics are created; aiokafka logs (and retries) a
    NotLeaderForPartition on its first offset fetch while the broker's metadata settles."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "NotLeaderForPartitionError" not in record.getMessage()


def _producer(bootstrap: str) -> AIOKafkaProducer:
    # The services' publisher settings (shared/runtime.py), so the baseline pays the same acks.
    return AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=1)


async def hop(bootstrap: str, source: str, target: str, group: str, ready: asyncio.Event) -> None:
    """Consume ``source``, produce every record unchanged to ``target``, commit. No work."""
    await bare_hop(bootstrap, source, target, group=group, ready=ready)


async def bench_baseline(bootstrap: str, prefix: str, args: argparse.Namespace) -> Run:
    run = Run("baseline", args.leads)
    logging.getLogger("aiokafka.consumer.fetcher").addFilter(_FreshTopicNoise())
    names = baseline_topics(prefix)
    readies = [asyncio.Event() for _ in range(HOPS)]
    hops = [asyncio.create_task(hop(bootstrap, names[i], names[i + 1], f"{prefix}bench-hop{i}", readies[i]))
            for i in range(HOPS)]
    consumer: AIOKafkaConsumer | None = None
    producer = _producer(bootstrap)
    try:
        # The hops join their groups before the first record, as the services had before the first post.
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=60)
        consumer = await reader_from_beginning(bootstrap, names[-1], PARTITIONS)
        await producer.start()
        ids = [uuid.uuid4().hex for _ in range(args.leads)]
        # a record about the size of a LeadCaptured on the wire
        payloads = [orjson.dumps({"id": rid, "pad": "x" * 480}) for rid in ids]

        async def produce(i: int) -> tuple[str | None, str | None]:
            await producer.send_and_wait(names[0], payloads[i], key=ids[i].encode())
            return ids[i], None

        def record_key(rec: Any) -> str | None:
            return rec.key.decode() if rec.key else None

        await measured(run, consumer, record_key, f"at h{HOPS}",
                       drive(run, args.concurrency, args.rate, produce), args.stall)
    finally:
        for task in hops:
            task.cancel()
        await asyncio.gather(*hops, return_exceptions=True)
        await producer.stop()
        if consumer is not None:
            await consumer.stop()
    return run


# --------------------------------------------------------------------------- report


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:,.1f}"


def _ratio(a: float, b: float) -> str:
    if math.isnan(a) or math.isnan(b) or b == 0 or math.isinf(a) or math.isinf(b):
        return "-"
    return f"{a / b:,.2f}x"


def report(pipeline: Run, baseline: Run, args: argparse.Namespace) -> str:
    pl, bl = pipeline.latencies(), baseline.latencies()
    ps, bs = sorted(pipeline.send_latency), sorted(baseline.send_latency)
    accept = pipeline.accepted / pipeline.attempted * 100 if pipeline.attempted else 0.0
    rejected = ", ".join(f"{k}: {v}" for k, v in sorted(pipeline.rejected.items())) or "none"
    offered = f"{args.rate:g}/s steady" if args.rate else f"closed loop, {args.concurrency} concurrent clients"
    lines = [
        "",
        f"Pipeline: capture → scoring → routing, {args.leads} leads offered ({offered})",
        f"  leads posted            {pipeline.attempted}",
        f"  HTTP accept rate        {accept:.2f}% ({pipeline.accepted} × 202; rejected: {rejected})",
        f"  leads assigned          {pipeline.arrived()} of {pipeline.accepted} accepted",
        f"  sustained               {pipeline.sustained():,.1f} leads/s (assigned / first post → last assignment)",
        f"  capture→assigned        p50 {_ms(percentile(pl, .5))} ms   p90 {_ms(percentile(pl, .9))} ms   "
        f"p99 {_ms(percentile(pl, .99))} ms   max {_ms(pl[-1] if pl else math.nan)} ms",
        f"  HTTP POST               p50 {_ms(percentile(ps, .5))} ms   p99 {_ms(percentile(ps, .99))} ms",
        "",
        f"Baseline: bare aiokafka, h0 → h1 → h2 → h{HOPS} ({HOPS} hops, no work), same records offered the same way",
        "",
        f"  {'':26}{'pipeline':>12}{'baseline':>12}{'pipeline/baseline':>20}",
        f"  {'records in / out':26}{f'{pipeline.accepted}/{pipeline.arrived()}':>12}"
        f"{f'{baseline.accepted}/{baseline.arrived()}':>12}",
        f"  {'sustained (records/s)':26}{pipeline.sustained():>12,.1f}{baseline.sustained():>12,.1f}"
        f"{_ratio(pipeline.sustained(), baseline.sustained()):>20}",
    ]
    for label, q in (("p50", .5), ("p90", .9), ("p99", .99), ("max", 1.0)):
        a, b = percentile(pl, q), percentile(bl, q)
        lines.append(f"  {'end-to-end ' + label + ' (ms)':26}{_ms(a):>12}{_ms(b):>12}{_ratio(a, b):>20}")
    for label, q in (("p50", .5), ("p99", .99)):
        a, b = percentile(ps, q), percentile(bs, q)
        lines.append(f"  {'send ' + label + ' (ms)':26}{_ms(a):>12}{_ms(b):>12}{_ratio(a, b):>20}")
    lines.append("  (send = HTTP POST until 202 for the pipeline, produce until acked for the baseline)")
    return "\n".join(lines)


def targets(pipeline: Run, baseline: Run, steady: Run | None, steady_baseline: Run | None,
            args: argparse.Namespace) -> str:
    """The issue's targets for the capture path, each beside what was measured and the
    bare-Kafka baseline of the same run."""
    def ok(good: bool) -> str:
        return "met" if good else "NOT met"

    accept, accept_bl = pipeline.accept_rate(), baseline.accept_rate()
    lines = ["", "Targets (issue 14)", "",
             f"  {'figure':52}{'measured':>12}{'target':>10}{'':>9}{'baseline':>12}",
             f"  {f'sustained capture→assigned, {args.concurrency} clients (leads/s)':52}{pipeline.sustained():>12,.0f}"
             f"{'≥ 500':>10}{ok(pipeline.sustained() >= 500):>9}{baseline.sustained():>12,.0f}",
             f"  {'HTTP accept rate of capture (202/s)':52}{accept:>12,.0f}{'≥ 1,500':>10}{ok(accept >= 1500):>9}"
             f"{accept_bl:>12,.0f}"]
    if steady is not None and steady_baseline is not None:
        sl, bl = steady.latencies(), steady_baseline.latencies()
        p50, p99 = percentile(sl, .5) * 1000, percentile(sl, .99) * 1000
        lines += [
            f"  {f'capture→assigned at {args.steady_rate:g}/s: p50 (ms)':52}{_ms(p50 / 1000):>12}{'≤ 15':>10}"
            f"{ok(p50 <= 15):>9}{_ms(percentile(bl, .5)):>12}",
            f"  {f'capture→assigned at {args.steady_rate:g}/s: p99 (ms)':52}{_ms(p99 / 1000):>12}{'≤ 50':>10}"
            f"{ok(p99 <= 50):>9}{_ms(percentile(bl, .99)):>12}"]
    lines.append("  (accept rate = 202s / first post → last 202; baseline: produce acks/s the same way)")
    return "\n".join(lines)


def chart(pipeline: Run, baseline: Run, path: Path, args: argparse.Namespace) -> Path:
    offered = f"{args.rate:g}/s" if args.rate else f"{args.concurrency} concurrent clients"
    return latency_cdf(
        {f"{run.name} ({run.sustained():,.0f}/s)": [x * 1000 for x in run.latencies()]
         for run in (pipeline, baseline)},
        path, f"Leadbridge capture→assigned vs bare Kafka ({HOPS} hops): {args.leads} records, {offered}",
        "latency (ms, log scale): pipeline = POST sent → first LeadAssigned read; "
        f"baseline = produce → read at h{HOPS}")


# --------------------------------------------------------------------------- main


def bench_org(path: Path) -> Path:
    """tests/e2e/org.yaml (round-the-clock hours) with a day to follow up instead of its
    test SLAs (8 s for inside sales): otherwise a third of the leads would breach during the
    run and the breach/reassign/nurture traffic would be measured along with the captures."""
    doc = yaml.safe_load(ORG_FILE.read_text())
    for team in doc["org"]["teams"]:
        team["sla"] = {"seconds": 86_400}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--leads", type=int, default=3000, help="leads (and baseline records) to push (default 3000)")
    p.add_argument("--concurrency", type=int, default=64, help="concurrent HTTP clients / producers (default 64)")
    p.add_argument("--rate", type=float, default=None, help="steady pace in leads/s (default: as fast as the "
                                                           "clients get answers)")
    p.add_argument("--steady-rate", type=float, default=100.0,
                   help="then a steady pace for the latency figure, leads/s (default 100)")
    p.add_argument("--steady-leads", type=int, default=1500,
                   help="leads offered at the steady pace (default 1500; 0: no steady run)")
    p.add_argument("--stall", type=float, default=30.0,
                   help="give up waiting when nothing new arrived for this many seconds (default 30)")
    args = p.parse_args(argv)
    if args.leads < 1 or args.concurrency < 1 or (args.rate is not None and args.rate <= 0):
        p.error("--leads, --concurrency and --rate must be positive")
    return args


def _terminate(signum: int, frame: FrameType | None) -> None:
    """SIGTERM cleans up like Ctrl-C: through SIGINT's handler, which asyncio.run turns into
    a clean cancellation of the running measurement."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started in the background by a shell
        raise KeyboardInterrupt
    signal.raise_signal(signal.SIGINT)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    logs = ROOT / "var" / "bench" / f"pipeline-{stamp}"
    infra = harness.start_infra()
    ns: harness.Namespace | None = None
    stack: harness.Stack | None = None
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"[bench] {os.cpu_count()} CPUs, load average {load} (other work on the machine skews the figures)",
              flush=True)
        print(f"[bench] broker {infra.bootstrap}; opening a namespace of its own", flush=True)
        ns = harness.open_namespace(infra, "bench")
        print(f"[bench] namespace: topics {ns.topic_prefix}*, database {ns.database_name}; starting the five "
              f"services (logs {logs.relative_to(ROOT)}/)", flush=True)
        extra: dict[str, dict[str, str]] = {name: {} for name in harness.SERVICES}
        extra["routing"]["LEADBRIDGE_ROUTING_ORG_FILE"] = str(bench_org(logs / "org.yaml"))
        started = time.monotonic()
        # harness.start_stack, unrolled so that a Ctrl-C while they come up still stops them
        logs.mkdir(parents=True, exist_ok=True)
        stack = harness.planned_stack(ns, logs, extra)
        for svc in stack.services.values():
            svc.start(wait=False)
        for svc in stack.services.values():
            svc.wait_healthy()
        print(f"[bench] services healthy in {time.monotonic() - started:.1f}s: "
              + ", ".join(f"{n} :{s.port}" for n, s in stack.services.items()), flush=True)

        watch = ServiceWatch({name: svc.url for name, svc in stack.services.items()})
        watch_since = time.monotonic()
        pipeline = asyncio.run(bench_pipeline(stack, args, watch))
        # The burst leaves consumers behind (capture's own projection, nurture): the steady
        # run starts from a pipeline at rest, or it would measure their catching up.
        drained_s = asyncio.run(watch.drain())
        print(f"[bench] every service caught up {drained_s:.1f}s after the closed-loop run", flush=True)
        steady_args = argparse.Namespace(**{**vars(args), "leads": args.steady_leads, "rate": args.steady_rate})
        steady: Run | None = None
        if args.steady_leads:
            print(f"[bench] then {args.steady_leads} leads at a steady {args.steady_rate:g}/s", flush=True)
            steady = asyncio.run(bench_pipeline(stack, steady_args))
        print("[bench] stopping the services before the baseline (they would share the CPU)", flush=True)
        stack.stop()

        create_topics(infra.bootstrap, baseline_topics(ns.topic_prefix))
        baseline = asyncio.run(bench_baseline(infra.bootstrap, ns.topic_prefix, args))
        steady_baseline = asyncio.run(bench_baseline(infra.bootstrap, ns.topic_prefix, steady_args)) \
            if steady is not None else None

        print(report(pipeline, baseline, args))
        print("\nEach service during the closed-loop run and until it caught up (from its /metrics, once a second):")
        print(watch.table(watch_since))
        print(f"  (every service's lag back to zero {drained_s:.1f} s after the last lead was assigned)")
        if steady is not None and steady_baseline is not None:
            print(report(steady, steady_baseline, steady_args))
        print(targets(pipeline, baseline, steady, steady_baseline, args))
        print(f"  (load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())} "
              f"on {os.cpu_count()} CPUs)")
        path = chart(pipeline, baseline, REPORTS / f"bench-pipeline-{stamp}.png", args)
        print(f"\n[bench] chart: {path.relative_to(ROOT)}")
        if steady is not None and steady_baseline is not None:
            path = chart(steady, steady_baseline, REPORTS / f"bench-pipeline-steady-{stamp}.png", steady_args)
            print(f"[bench] chart: {path.relative_to(ROOT)}")
        return 0 if pipeline.arrived() == pipeline.accepted and baseline.arrived() == baseline.accepted else 1
    except KeyboardInterrupt:
        print("\n[bench] interrupted; cleaning up", file=sys.stderr, flush=True)
        return 130
    except Exception as exc:
        print(f"\n[bench] failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        tear_down(infra, stack, ns)


def tear_down(infra: harness.Infra, stack: harness.Stack | None, ns: harness.Namespace | None) -> None:
    """What every bench does last, also after a failure or a Ctrl-C: stop its services,
    delete its namespace's topics (the baseline's too) and database."""
    with contextlib.suppress(KeyboardInterrupt):
        if stack is not None:
            stack.stop()
        if ns is not None:
            with contextlib.suppress(Exception):
                n = delete_topics_with_prefix(infra.bootstrap, ns.topic_prefix)
                print(f"[bench] deleted {n} topics {ns.topic_prefix}*", flush=True)
            harness.close_namespace(ns)
            print(f"[bench] dropped database {ns.database_name}", flush=True)
        infra.stop()


if __name__ == "__main__":
    sys.exit(main())
