"""Scoring throughput on one worker.

    python -m services.scoring.bench [--events 20000] [--skip-e2e]

(a) pure domain: merge + grade synthetic events in memory (and, separately, building
    and encoding the ``lead-scored`` events too);
(b) end to end on the real broker and database: the scoring service runs as its own
    process (``python -m services.scoring``) on fresh topics (a unique prefix) and a
    fresh database; N captures, then engagements for those leads, are produced to
    ``lead-captured``/``lead-engaged`` and the clock runs until every ``lead-scored``
    has arrived. Captures and engagements go in two phases so that every input yields
    exactly one output.
(c) baseline, same run, same shape: a bare aiokafka consume→produce process doing no
    work moves the same records between two topics.

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
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.scoring.domain.lead import LeadState, apply_events
from services.scoring.domain.rubric import load_rubric
from services.scoring.handlers import scored_event
from services.scoring.settings import REPO_ROOT, ScoringSettings
from services.scoring.synthetic import SyntheticEvent, generate
from shared import codec, topics
from shared.benchkit import bare_hop
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
        codec.encode(scored_event(g, 5))
    full = len(events) / (time.perf_counter() - started)
    return pure, full


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


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
        self.changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                         auto_offset_reset="latest", fetch_max_wait_ms=50)
        await self.consumer.start()
        parts = self.consumer.partitions_for_topic(self.topic) or set()
        if not parts:
            await self.consumer._client.force_metadata_update()
            parts = self.consumer.partitions_for_topic(self.topic) or set()
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
                    self.seen.add(ce_id)
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
    start = time.monotonic()
    target = len(counter.seen) + len(records)
    await _produce(producer, records)
    return await counter.wait_for(target, timeout_s) - start


async def bench_e2e(n_events: int, bootstrap: str, admin_db_url: str, log: Path) -> tuple[float, float, float]:
    """(captures/s, engagements/s, overall events/s) through the scoring service."""
    run = f"bench{uuid.uuid4().hex[:8]}"
    prefix, db = f"{run}-", f"lb_{run}"
    conn = await asyncpg.connect(admin_db_url)
    await conn.execute(f'CREATE DATABASE "{db}"')
    await conn.close()
    topics.create_all(bootstrap, prefix=prefix)
    env = {**os.environ, "LEADBRIDGE_KAFKA_BOOTSTRAP": bootstrap, "LEADBRIDGE_DATABASE_URL": _with_db(admin_db_url, db),
           "LEADBRIDGE_TOPIC_PREFIX": prefix, "LEADBRIDGE_HTTP_PORT": "18092", "LEADBRIDGE_LOG_LEVEL": "WARNING",
           "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "services.scoring"], cwd=REPO_ROOT, env=env,  # noqa: ASYNC220
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    counter = Counter(bootstrap, prefix + topics.LEAD_SCORED.name)
    try:
        await _wait_healthy(proc, "http://127.0.0.1:18092/healthz")
        await producer.start()
        await counter.start()
        events = generate(n_events, seed=11, events_per_lead=4, early_engagement=0.0)
        captures = [e for e in events if isinstance(e, LeadCaptured)]
        engagements = [e for e in events if not isinstance(e, LeadCaptured)]
        # One lead first: waits out the consumer group join, which is not throughput.
        warm = next(e for e in generate(10, seed=99, events_per_lead=10) if isinstance(e, LeadCaptured))
        await _phase(producer, counter, _records([warm], prefix), 120)
        t_cap = await _phase(producer, counter, _records(captures, prefix), 300)
        t_eng = await _phase(producer, counter, _records(engagements, prefix), 300)
        return len(captures) / t_cap, len(engagements) / t_eng, len(events) / (t_cap + t_eng)
    finally:
        await _teardown(counter, producer, proc)
        await _cleanup(bootstrap, prefix, admin_db_url, db)


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


async def _teardown(counter: Counter, producer: AIOKafkaProducer, proc: subprocess.Popen[bytes]) -> None:
    """Stop the bench's own clients and the process under test (killed if it lingers)."""
    with contextlib.suppress(Exception):
        await counter.stop()
    await producer.stop()
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(30)
    if proc.poll() is None:
        proc.kill()


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


async def bench_baseline(n_events: int, bootstrap: str) -> float:
    """Events/s through a bare relay process, same topics shape, same record sizes."""
    prefix = f"benchbase{uuid.uuid4().hex[:8]}-"
    topics.create_all(bootstrap, prefix=prefix)
    source, target = prefix + topics.LEAD_CAPTURED.name, prefix + topics.LEAD_SCORED.name
    proc = subprocess.Popen([sys.executable, "-m", "services.scoring.bench", "--relay", source, target,  # noqa: ASYNC220
                             "--bootstrap", bootstrap], cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    counter = Counter(bootstrap, target)
    try:
        await producer.start()
        await counter.start()
        events = generate(n_events, seed=11, events_per_lead=4, early_engagement=0.0)
        records = [(source, k, v, h) for _, k, v, h in _records(events, prefix)]
        await _phase(producer, counter, records[:1], 120)
        elapsed = await _phase(producer, counter, records[1:], 300)
        return (len(records) - 1) / elapsed
    finally:
        await _teardown(counter, producer, proc)
        await _cleanup(bootstrap, prefix, None, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.scoring.bench", description=__doc__,
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
    log = REPO_ROOT / "reports" / "bench-scoring.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"[bench] end to end with {args.events:,} events (service log: {log})", flush=True)
    cap, eng, overall = asyncio.run(bench_e2e(args.events, bootstrap, settings.database_url, log))
    print(f"(b) end to end, one scoring worker:            {overall:>10,.0f} events/s "
          f"(captures {cap:,.0f}/s, engagements {eng:,.0f}/s)")
    base = asyncio.run(bench_baseline(args.events, bootstrap))
    print(f"(c) baseline, bare aiokafka consume->produce:  {base:>10,.0f} events/s")
    print(f"    scoring reaches {overall / base:.0%} of the baseline; target 5,000 events/s: "
          f"{'met' if overall >= 5000 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
