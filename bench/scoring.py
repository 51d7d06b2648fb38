"""Scoring throughput on one worker.

    python -m bench.scoring [--events 20000] [--skip-e2e]

(a) pure domain: merge + grade synthetic events in memory (and, separately, building
    and encoding the ``lead-scored`` events too);
(b) end to end on the real broker and database: the scoring service runs as its own
    process (``python -m services.scoring``) on fresh topics (a unique prefix) and a
    fresh database. Captures, then engagements for those leads, go in two phases so
    that every input yields exactly one ``lead-scored``. Two ways:
    - backlog: the input is written first and the service started after, so it
      drains a full topic (how Kafka's own consumer perf test measures a consumer);
      the rate is counted from the first output's broker timestamp to the last's.
      This is the worker's capacity: the load generator is not competing with it
      for this machine's two cores.
    - live: the service runs while the bench produces, and the clock runs from the
      first send until the last output has arrived.
(c) baseline, same runs, same shapes: a bare aiokafka consume→produce process doing
    no work moves the same records between two topics.

Broker and database come from ``LEADBRIDGE_KAFKA_BOOTSTRAP`` / ``LEADBRIDGE_DATABASE_URL``;
the bench creates its own database next to the given one and drops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Sequence
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.baseline import bare_hop
from bench.charts import throughput_bars
from bench.stack import ROOT, with_database
from bench.synthetic import SyntheticEvent, generate
from services.scoring.domain.lead import LeadState, apply_events
from services.scoring.domain.rubric import load_rubric
from services.scoring.handlers import scored_event
from services.scoring.settings import ScoringSettings
from shared import codec, topics
from shared.events import LeadCaptured

Record = tuple[str, bytes, bytes, list[tuple[str, bytes]]]  # topic, key, value, headers


def bench_domain(events: Sequence[SyntheticEvent]) -> tuple[float, float]:
    """Events/s for grading alone, and for grading + building + encoding lead-scored."""
    rubric = load_rubric(ScoringSettings().scoring_rubric_file.read_text())
    started = time.perf_counter()
    apply_events({}, events, rubric)
    pure = len(events) / (time.perf_counter() - started)
    started = time.perf_counter()
    leads: dict[str, LeadState] = {}
    for g in apply_events(leads, events, rubric):
        scored_event(g, 5)  # built and serialised
    full = len(events) / (time.perf_counter() - started)
    return pure, full


def _records(events: Sequence[SyntheticEvent], prefix: str) -> list[Record]:
    out = []
    for e in events:
        spec = topics.LEAD_CAPTURED if isinstance(e, LeadCaptured) else topics.LEAD_ENGAGED
        out.append((prefix + spec.name, e.lead_id.encode(), codec.encode(e), codec.cloudevent_headers(e, "bench")))
    return out


async def _produce(producer: AIOKafkaProducer, records: Sequence[Record]) -> None:
    futures = [await producer.send(t, v, key=k, headers=h) for t, k, v, h in records]
    await asyncio.gather(*futures)


class Counter:
    """Counts distinct records (by ce_id) arriving on a topic, from its current end."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.seen: set[bytes] = set()
        self.stamps: list[int] = []  # broker timestamps (ms) of distinct records, in arrival order
        self.changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                         auto_offset_reset="latest", fetch_max_wait_ms=50)
        await self.consumer.start()
        parts = self.consumer.partitions_for_topic(self.topic) or set()
        deadline = time.monotonic() + 30
        while not parts and time.monotonic() < deadline:  # a topic just created: metadata catches up
            await self.consumer._client.force_metadata_update()
            parts = self.consumer.partitions_for_topic(self.topic) or set()
            if not parts:
                await asyncio.sleep(0.2)
        tps = [TopicPartition(self.topic, p) for p in parts]
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:
            await self.consumer.position(tp)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=100, max_records=5000)
            for recs in batches.values():
                for r in recs:
                    ce_id = dict(r.headers).get("ce_id", r.value or b"")
                    if ce_id not in self.seen:
                        self.seen.add(ce_id)
                        self.stamps.append(r.timestamp)
            self.changed.set()

    async def wait_for(self, n: int, timeout_s: float) -> float:
        """Wait until ``n`` distinct records have arrived; returns the monotonic time."""
        deadline = time.monotonic() + timeout_s
        while len(self.seen) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.topic}: {len(self.seen)} of {n} records after {timeout_s}s")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 1)
        return time.monotonic()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.consumer.stop()


async def _phase(producer: AIOKafkaProducer, counter: Counter, records: Sequence[Record], timeout_s: float) -> float:
    """Live: seconds from the first send until every record's output has arrived."""
    start = time.monotonic()
    target = len(counter.seen) + len(records)
    await _produce(producer, records)
    return await counter.wait_for(target, timeout_s) - start


async def _drain(counter: Counter, first: int, n: int, timeout_s: float) -> float:
    """Backlog: wait for the ``n`` outputs after the ``first`` seen; seconds between
    the first and the last of them by broker timestamp, scaled to ``n`` records (n-1 gaps)."""
    await counter.wait_for(first + n, timeout_s)
    stamps = counter.stamps[first:first + n]
    span_s = max(1, max(stamps) - min(stamps)) / 1000
    return span_s * n / max(1, n - 1)


class Worker:
    """The process under test, started and stopped between phases."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, health: str | None) -> None:
        self.argv, self.env, self.log, self.health = argv, env, log, health
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env,  # noqa: ASYNC220
                                     stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        if self.health:
            await _wait_healthy(self.proc, self.health)

    async def stop(self) -> None:
        if self.proc is not None:
            await asyncio.to_thread(_terminate, self.proc)
            self.proc = None


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(30)
    if proc.poll() is None:
        proc.kill()
        proc.wait()


Rates = tuple[float, float, float]  # captures/s, engagements/s, all events/s


async def _measure(worker: Worker, producer: AIOKafkaProducer, counter: Counter,
                   phases: Sequence[Sequence[Record]], live: bool) -> list[float]:
    """Seconds each phase took, backlog (worker started on a full topic, stopped
    after) or live (worker running while the bench produces)."""
    spans = []
    for records in phases:
        if live:
            spans.append(await _phase(producer, counter, records, 300))
        else:
            await _produce(producer, records)
            first = len(counter.seen)
            await worker.start()
            spans.append(await _drain(counter, first, len(records), 300))
            await worker.stop()
    return spans


async def bench_e2e(n_events: int, bootstrap: str, admin_db_url: str, log: Path) -> dict[str, Rates]:
    """Rates through the scoring service, backlog and live."""
    run = f"bench{uuid.uuid4().hex[:8]}"
    prefix, db = f"{run}-", f"lb_{run}"
    conn = await asyncpg.connect(admin_db_url)
    await conn.execute(f'CREATE DATABASE "{db}"')
    await conn.close()
    topics.create_all(bootstrap, prefix=prefix)
    env = {**os.environ, "LEADBRIDGE_KAFKA_BOOTSTRAP": bootstrap,
           "LEADBRIDGE_DATABASE_URL": with_database(admin_db_url, db), "LEADBRIDGE_TOPIC_PREFIX": prefix,
           "LEADBRIDGE_HTTP_PORT": "18092", "LEADBRIDGE_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    worker = Worker([sys.executable, "-m", "services.scoring"], env, log, "http://127.0.0.1:18092/healthz")
    out: dict[str, Rates] = {}
    async with _session(bootstrap, prefix + topics.LEAD_SCORED.name, worker,
                        _cleanup(bootstrap, prefix, admin_db_url, db)) as (producer, counter):
        for mode, seed in (("backlog", 11), ("live", 12)):
            events = generate(n_events, seed=seed, events_per_lead=4, early_engagement=0.0)
            captures = [e for e in events if isinstance(e, LeadCaptured)]
            engagements = [e for e in events if not isinstance(e, LeadCaptured)]
            live = mode == "live"
            if live:
                await worker.start()
                # One lead first: waits out the consumer group join, which is not throughput.
                warm = next(e for e in generate(10, seed=99, events_per_lead=10) if isinstance(e, LeadCaptured))
                await _phase(producer, counter, _records([warm], prefix), 120)
            t_cap, t_eng = await _measure(worker, producer, counter,
                                          [_records(captures, prefix), _records(engagements, prefix)], live)
            out[mode] = (len(captures) / t_cap, len(engagements) / t_eng, len(events) / (t_cap + t_eng))
            print(f"[bench]   {mode:<8} {out[mode][2]:>8,.0f} events/s", flush=True)
        return out


@contextlib.asynccontextmanager
async def _session(bootstrap: str, output: str, worker: Worker,
                   cleanup: Awaitable[None]) -> AsyncIterator[tuple[AIOKafkaProducer, Counter]]:
    """The bench's producer and its counter of ``output``; at the end, stops them and
    the worker and runs ``cleanup`` (topics, database), whatever happened."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    counter = Counter(bootstrap, output)
    try:
        await producer.start()
        await counter.start()
        yield producer, counter
    finally:
        with contextlib.suppress(Exception):
            await counter.stop()
        await producer.stop()
        await worker.stop()
        await cleanup


async def _wait_healthy(proc: subprocess.Popen[bytes], url: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"scoring exited with {proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url, timeout=2)).status_code == 200:
                    return
            await asyncio.sleep(0.3)
    raise TimeoutError("scoring did not become healthy")


async def _cleanup(bootstrap: str, prefix: str, admin_db_url: str | None, db: str | None) -> None:
    if admin_db_url and db:
        with contextlib.suppress(Exception):
            conn = await asyncpg.connect(admin_db_url)
            await conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            await conn.close()
    with contextlib.suppress(Exception):
        topics.delete_with_prefix(bootstrap, prefix)


# --------------------------------------------------------------------------- baseline


async def relay(bootstrap: str, source: str, target: str) -> None:
    """Bare aiokafka consume → produce with no work (the baseline's worker)."""
    await bare_hop(bootstrap, source, target, group=f"{source}-relay")


async def bench_baseline(n_events: int, bootstrap: str) -> dict[str, float]:
    """Events/s through a bare relay process, same shapes and record sizes, backlog and live."""
    prefix = f"benchbase{uuid.uuid4().hex[:8]}-"
    topics.create_all(bootstrap, prefix=prefix)
    source, target = prefix + topics.LEAD_CAPTURED.name, prefix + topics.LEAD_SCORED.name
    worker = Worker([sys.executable, "-m", "bench.scoring", "--relay", source, target,
                     "--bootstrap", bootstrap], {**os.environ, "PYTHONPATH": str(ROOT)},
                    ROOT / "reports" / "bench-scoring-relay.log", None)
    out: dict[str, float] = {}
    async with _session(bootstrap, target, worker, _cleanup(bootstrap, prefix, None, None)) as (producer, counter):
        for mode, seed in (("backlog", 11), ("live", 12)):
            events = generate(n_events, seed=seed, events_per_lead=4, early_engagement=0.0)
            records = [(source, k, v, h) for _, k, v, h in _records(events, prefix)]
            live = mode == "live"
            if live:
                await worker.start()
                await _phase(producer, counter, records[:1], 120)
                records = records[1:]
            (elapsed,) = await _measure(worker, producer, counter, [records], live)
            out[mode] = len(records) / elapsed
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scoring", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--domain-events", type=int, default=100_000)
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--relay", nargs=2, metavar=("SOURCE", "TARGET"), help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args(argv)
    settings = ScoringSettings()
    bootstrap = args.bootstrap or settings.kafka_bootstrap
    if args.relay:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(relay(bootstrap, *args.relay))
        return 0

    print(f"[bench] generating {args.domain_events:,} synthetic events", flush=True)
    events = generate(args.domain_events, seed=3)
    pure, full = bench_domain(events)
    print(f"(a) domain, grading only:                      {pure:>10,.0f} events/s")
    print(f"    domain + build + encode lead-scored:       {full:>10,.0f} events/s")
    if args.skip_e2e:
        return 0
    log = ROOT / "reports" / "bench-scoring.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"")
    print(f"[bench] end to end with {args.events:,} events, backlog then live (service log: {log})", flush=True)
    rates = asyncio.run(bench_e2e(args.events, bootstrap, settings.database_url, log))
    print("[bench] baseline: the same records through a bare relay", flush=True)
    base = asyncio.run(bench_baseline(args.events, bootstrap))
    for mode, label in (("backlog", "draining a backlog"), ("live", "while the bench produces")):
        cap, eng, overall = rates[mode]
        print(f"(b) one scoring worker, {label + ':':<26}{overall:>8,.0f} events/s "
              f"(captures {cap:,.0f}/s, engagements {eng:,.0f}/s)")
        print(f"(c) bare relay, {label + ':':<34}{base[mode]:>8,.0f} events/s "
              f"-> scoring is {overall / base[mode]:.0%} of it")
    backlog = rates["backlog"][2]
    print(f"    capacity of one worker (backlog): {backlog:,.0f} events/s; target 5,000 events/s: "
          f"{'met' if backlog >= 5000 else 'NOT met'}")
    chart = throughput_bars(
        {"domain only (in memory)": full, "scoring worker, backlog": backlog, "bare relay baseline, backlog":
         base["backlog"], "scoring worker, live": rates["live"][2], "bare relay baseline, live": base["live"]},
        ROOT / "reports" / f"bench-scoring-{time.strftime('%Y%m%d-%H%M%S')}.png",
        f"Scoring throughput on one worker, {args.events:,} events", target=5000)
    print(f"[bench] chart: {chart.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
