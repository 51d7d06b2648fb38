"""make bench-import: a list import of 100,000 rows through the real stack, beside a
bare-Kafka baseline measured in the same run.

    PYTHONPATH=. .venv/bin/python -m bench.imports [--rows 100000]
    make bench-import BENCH_ARGS="--rows 20000"

1. **Import.** A namespace of its own and the five services (as ``make bench``). A CSV of
   N generated rows (a third each of grade A, B and C people; every 50th row with a
   malformed email, every 97th with an unknown country, every 33rd a duplicate of the
   row before with its email in capitals) is uploaded to ``POST /v1/imports``. Timed from
   the upload's first byte: the 202 (the file's records kept), every record validated
   (each accepted or rejected, committed, the report complete: the import's ``phase``
   leaves ``validating``), the import ``done`` (each accepted one captured: lead, capture
   and event committed), and the moment every valid person's first ``lead-scored`` and
   ``lead-assigned`` has been read from the namespace's topics. Rows accepted/s = accepted
   rows / (upload → every record validated); the leads captured per second are printed
   beside it. Each service's consume rate and lag are sampled from its /metrics during
   the run.
2. **Baseline.** The services stopped, the same number of ~500-byte records produced as
   fast as one producer sends them to ``h0`` and carried ``h0 → h1 → h2 → h3`` by three
   bare aiokafka hops (bench/baseline.py); timed from the first send to the last record
   read at ``h3``.

Prints the figures beside the issue's targets and the baseline, writes a chart of the
run (rows imported, leads graded and assigned, each service's lag, over time) to
reports/. Everything it creates is removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import math
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench import pipeline
from bench import stack as harness
from bench.charts import timelines
from bench.watch import ServiceWatch
from shared import codec, topics
from shared.events import LeadAssigned, LeadScored, lead_id_for_email

ROOT = harness.ROOT
REPORTS = ROOT / "reports"
CAMPAIGN = {"campaign_id": "bench-expo", "name": "Bench Expo", "type": "trade_show", "owner": "marketing",
            "starts_at": "2026-01-01T00:00:00+00:00",
            "event": {"starts_at": "2026-11-20T09:00", "ends_at": "2026-11-22T18:00", "time_zone": "Europe/Berlin"}}
COLUMNS = {"email": "Email", "name": "Full name", "company": "Company", "country": "Country", "consent": "Consent",
           "title": "Job title", "company_size": "Staff", "industry": "Industry"}
PEOPLE = (  # title, staff, industry: grades A, B and C under the demo rubric (bench/leads.py)
    ("VP Marketing", "5000", "software"), ("Marketing Manager", "400", "software"), ("Sales Manager", "20", ""))
TARGET_ROWS_S = 20_000
TARGET_ASSIGNED_S = 60.0


def write_list(path: Path, rows: int) -> tuple[set[str], int, int]:
    """A CSV of ``rows`` rows; the lead ids of its valid people, the malformed rows, the duplicates."""
    tag = uuid.uuid4().hex[:6]
    valid: set[str] = set()
    malformed = duplicates = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(list(COLUMNS.values()))
        email, country, ok = "", "US", False
        for i in range(rows):
            title, staff, industry = PEOPLE[i % 3]
            if i % 33 == 5 and i:  # the row before's person again (a malformed one stays malformed)
                email, duplicates = email.upper(), duplicates + 1
            else:
                email, country, ok = f"p{i}.{tag}@company{i % 2000}.example.com", "US", True
                if i % 50 == 7:
                    email, ok = f"not-an-email-{i}", False
                elif i % 97 == 3:
                    country, ok = "Atlantis", False
                if ok:
                    valid.add(lead_id_for_email(email))
                else:
                    malformed += 1
            writer.writerow([email, f"Person {i}", f"Company {i % 2000}", country, "yes", title, staff, industry])
    return valid, malformed, duplicates


@dataclass
class ImportRun:
    rows: int
    expected: set[str]
    started: float = 0.0
    answered: float = math.nan  # the upload's 202
    validated: float = math.nan  # every record validated: each one accepted or rejected, the report complete
    done: float = math.nan  # the import done: every accepted record a lead
    progress: dict[str, Any] = field(default_factory=dict)
    rows_read: list[tuple[float, float]] = field(default_factory=list)
    scored: dict[str, float] = field(default_factory=dict)
    assigned: dict[str, float] = field(default_factory=dict)

    def all_in(self, seen: dict[str, float]) -> float:
        """When the last expected lead arrived (NaN if some did not)."""
        if not self.expected <= seen.keys():
            return math.nan
        return max(seen[k] for k in self.expected) - self.started


async def _arrivals(consumer: AIOKafkaConsumer, model: Any, into: dict[str, float]) -> None:
    while True:
        batches = await consumer.getmany(timeout_ms=200, max_records=5000)
        now = time.monotonic()
        for records in batches.values():
            for rec in records:
                with contextlib.suppress(codec.DecodeError):
                    into.setdefault(codec.decode(model, rec.value).lead_id, now)


async def bench_import(stack: harness.Stack, path: Path, run: ImportRun, watch: ServiceWatch,
                       stall_s: float) -> None:
    ns = stack.ns
    scored = await pipeline.reader_from_beginning(ns.bootstrap, ns.topic(topics.LEAD_SCORED),
                                                  topics.LEAD_SCORED.partitions)
    assigned = await pipeline.reader_from_beginning(ns.bootstrap, ns.topic(topics.LEAD_ASSIGNED),
                                                    topics.LEAD_ASSIGNED.partitions)
    background = [asyncio.create_task(_arrivals(scored, LeadScored, run.scored)),
                  asyncio.create_task(_arrivals(assigned, LeadAssigned, run.assigned)),
                  asyncio.create_task(watch.run())]
    try:
        async with httpx.AsyncClient(base_url=stack.url("capture"), timeout=600,
                                     headers=stack.headers("capture")) as client:
            run.started = time.monotonic()
            with path.open("rb") as f:
                r = await client.post("/v1/imports", files={"file": (path.name, f, "text/csv")},
                                      data={"source": "list_import", "campaign": CAMPAIGN["campaign_id"],
                                            "mapping": orjson.dumps(COLUMNS).decode()})
            run.answered = time.monotonic() - run.started
            if r.status_code != 202:
                raise RuntimeError(f"upload answered {r.status_code}: {r.text[:500]}")
            import_id = r.json()["import_id"]
            print(f"[bench] upload answered 202 after {run.answered:.1f}s: import {import_id}", flush=True)
            last_print = 0.0
            while True:
                run.progress = (await client.get(f"/v1/imports/{import_id}")).json()
                now = time.monotonic() - run.started
                run.rows_read.append((now, run.progress["rows_read"]))
                if run.progress.get("phase") != "validating" and math.isnan(run.validated):
                    run.validated = now
                    print(f"[bench] every record validated after {now:.1f}s: accepted {run.progress['accepted']:,}, "
                          f"rejected {run.progress['rejected']:,}", flush=True)
                if run.progress["status"] == "done":
                    run.done = now
                    break
                if now - last_print >= 2:
                    last_print = now
                    print(f"[bench] {now:6.1f}s  rows read {run.progress['rows_read']:,}/{run.progress['rows']:,}"
                          f"  graded {len(run.scored):,}  assigned {len(run.assigned):,}", flush=True)
                await asyncio.sleep(0.25)
        print(f"[bench] import done after {run.done:.1f}s", flush=True)
        last, last_change = -1, time.monotonic()
        while not run.expected <= run.assigned.keys() or not run.expected <= run.scored.keys():
            count = len(run.assigned) + len(run.scored)
            if count != last:
                last, last_change = count, time.monotonic()
            elif time.monotonic() - last_change > stall_s:
                print(f"[bench] {len(run.expected - run.assigned.keys())} lead(s) not assigned within {stall_s:.0f}s "
                      "of the last arrival", flush=True)
                break
            if int(time.monotonic()) % 2 == 0:
                print(f"[bench] {time.monotonic() - run.started:6.1f}s  graded {len(run.scored):,}  "
                      f"assigned {len(run.assigned):,} of {len(run.expected):,}", flush=True)
            await asyncio.sleep(1.0)
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await scored.stop()
        await assigned.stop()


async def bench_baseline(bootstrap: str, prefix: str, records: int, stall_s: float) -> tuple[float, int]:
    """Seconds from the first send to the last of ``records`` read at h3, and how many arrived."""
    names = pipeline.baseline_topics(prefix)
    readies = [asyncio.Event() for _ in range(pipeline.HOPS)]
    hops = [asyncio.create_task(pipeline.hop(bootstrap, names[i], names[i + 1], f"{prefix}bench-hop{i}", readies[i]))
            for i in range(pipeline.HOPS)]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=1)
    consumer: AIOKafkaConsumer | None = None
    try:
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=60)
        consumer = await pipeline.reader_from_beginning(bootstrap, names[-1], pipeline.PARTITIONS)
        await producer.start()
        arrived: set[bytes] = set()
        last_at = time.monotonic()

        async def read() -> None:
            nonlocal last_at
            while len(arrived) < records:
                assert consumer is not None
                batches = await consumer.getmany(timeout_ms=200, max_records=5000)
                for recs in batches.values():
                    for rec in recs:
                        arrived.add(rec.key)
                        last_at = time.monotonic()

        reader = asyncio.create_task(read())
        started = time.monotonic()
        futures = [await producer.send(names[0], orjson.dumps({"i": i, "pad": "x" * 480}), key=str(i).encode())
                   for i in range(records)]
        await asyncio.gather(*futures)
        while not reader.done() and time.monotonic() - last_at < stall_s:
            await asyncio.sleep(0.1)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        return last_at - started, len(arrived)
    finally:
        for task in hops:
            task.cancel()
        await asyncio.gather(*hops, return_exceptions=True)
        await producer.stop()
        if consumer is not None:
            await consumer.stop()


def _s(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds:,.1f} s"


def report(run: ImportRun, watch: ServiceWatch, watch_since: float, baseline_s: float, baseline_n: int,
           malformed: int, duplicates: int) -> str:
    p = run.progress
    accepted_rate = p.get("accepted", 0) / run.validated if run.validated > 0 else math.nan
    leads = p.get("new_leads", 0) + p.get("known_people", 0)
    captured_rate = leads / run.done if run.done > 0 else math.nan
    graded, assigned = run.all_in(run.scored), run.all_in(run.assigned)
    baseline_rate = baseline_n / baseline_s if baseline_s > 0 else math.nan

    def ok(good: bool) -> str:
        return "met" if good else "NOT met"

    lines = [
        "",
        f"List import: {run.rows:,} rows ({malformed:,} malformed, {duplicates:,} repeating the row before, "
        "malformed ones too), one CSV upload",
        f"  upload answered (202)   {_s(run.answered)}  (records read and kept)",
        f"  every record validated  {_s(run.validated)}  (each accepted or rejected, durably; the report complete)",
        f"  import done             {_s(run.done)}  (each accepted one a lead, capture and event: "
        f"{captured_rate:,.0f} leads/s)",
        f"  report                  rows {p.get('rows', 0):,}: accepted {p.get('accepted', 0):,}, rejected "
        f"{p.get('rejected', 0):,}, new leads {p.get('new_leads', 0):,}, known people {p.get('known_people', 0):,}, "
        f"duplicates {p.get('duplicates_in_file', 0):,}",
        f"  every lead graded       {_s(graded)}  ({len(run.expected & run.scored.keys()):,} of {len(run.expected):,})",
        f"  every lead assigned     {_s(assigned)}  ({len(run.expected & run.assigned.keys()):,} of "
        f"{len(run.expected):,})",
        "",
        "Each service during the run (from its /metrics, once a second):",
        watch.table(watch_since),
        "",
        f"Baseline: {baseline_n:,} records through {pipeline.HOPS} bare aiokafka hops in {_s(baseline_s)} "
        f"= {baseline_rate:,.0f} records/s",
        "",
        f"  {'figure':44}{'measured':>14}{'target':>12}{'':>9}{'baseline':>16}",
        f"  {'rows accepted/s (upload → all validated)':44}{accepted_rate:>14,.0f}{f'≥ {TARGET_ROWS_S:,}':>12}"
        f"{ok(accepted_rate >= TARGET_ROWS_S):>9}{baseline_rate:>16,.0f}",
        f"  {'upload → every lead graded and assigned':44}{_s(max(graded, assigned)):>14}"
        f"{f'≤ {TARGET_ASSIGNED_S:.0f} s':>12}{ok(max(graded, assigned) <= TARGET_ASSIGNED_S):>9}"
        f"{_s(baseline_s):>16}",
    ]
    return "\n".join(lines)


def chart(run: ImportRun, watch: ServiceWatch, watch_since: float, path: Path) -> Path:
    def arrivals(seen: dict[str, float]) -> list[tuple[float, float]]:
        times = sorted(t - run.started for k, t in seen.items() if k in run.expected)
        step = max(1, len(times) // 200)
        return [(t, i + 1) for i, t in enumerate(times) if i % step == 0 or i == len(times) - 1]

    series = {"rows read by the import": run.rows_read, "leads graded": arrivals(run.scored),
              "leads assigned": arrivals(run.assigned)}
    offset = run.started - watch_since
    series |= {f"{name} lag": [(t - offset, lag) for t, lag in points]
               for name, points in watch.series(watch_since).items()}
    return timelines(series, path, f"Leadbridge list import of {run.rows:,} rows: progress and each service's lag",
                     "rows / leads / records behind")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=100_000, help="rows in the uploaded list (default 100000)")
    p.add_argument("--stall", type=float, default=60.0,
                   help="give up waiting when nothing new arrived for this many seconds (default 60)")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, pipeline._terminate)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    logs = ROOT / "var" / "bench" / f"imports-{stamp}"
    infra = harness.start_infra()
    ns: harness.Namespace | None = None
    stack: harness.Stack | None = None
    try:
        print(f"[bench] {os.cpu_count()} CPUs, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} "
              "(other work on the machine skews the figures)", flush=True)
        path = logs / "list.csv"
        expected, malformed, duplicates = write_list(path, args.rows)
        print(f"[bench] wrote {path.relative_to(ROOT)}: {args.rows:,} rows, {path.stat().st_size / 1e6:,.1f} MB, "
              f"{len(expected):,} valid people", flush=True)
        ns = harness.open_namespace(infra, "bench")
        extra: dict[str, dict[str, str]] = {name: {} for name in harness.SERVICES}
        extra["routing"]["LEADBRIDGE_ROUTING_ORG_FILE"] = str(pipeline.bench_org(logs / "org.yaml"))
        stack = harness.planned_stack(ns, logs, extra)
        for svc in stack.services.values():
            svc.start(wait=False)
        for svc in stack.services.values():
            svc.wait_healthy()
        with stack.client("nurture") as nurture:  # (marketing defines campaigns)
            r = nurture.post("/v1/campaigns", json=CAMPAIGN)
            assert r.status_code in (201, 409), r.text
        with stack.client("capture") as capture:
            deadline = time.monotonic() + 60
            while CAMPAIGN["campaign_id"] not in {c["campaign_id"] for c in capture.get("/v1/campaigns").json()}:
                if time.monotonic() > deadline:
                    raise TimeoutError("capture did not hear of the bench campaign")
                time.sleep(0.2)
        print("[bench] services healthy, campaign defined; uploading", flush=True)
        run = ImportRun(args.rows, expected)
        watch = ServiceWatch({name: svc.url for name, svc in stack.services.items()})
        watch_since = time.monotonic()
        asyncio.run(bench_import(stack, path, run, watch, args.stall))
        print("[bench] stopping the services before the baseline (they would share the CPU)", flush=True)
        stack.stop()
        pipeline.create_topics(infra.bootstrap, pipeline.baseline_topics(ns.topic_prefix))
        baseline_s, baseline_n = asyncio.run(bench_baseline(infra.bootstrap, ns.topic_prefix, args.rows, args.stall))
        print(report(run, watch, watch_since, baseline_s, baseline_n, malformed, duplicates))
        print(f"  (load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs)")
        out = chart(run, watch, watch_since, REPORTS / f"bench-import-{stamp}.png")
        print(f"\n[bench] chart: {out.relative_to(ROOT)}")
        return 0 if run.expected <= run.assigned.keys() and baseline_n == args.rows else 1
    except KeyboardInterrupt:
        print("\n[bench] interrupted; cleaning up", file=sys.stderr, flush=True)
        return 130
    except Exception as exc:
        print(f"\n[bench] failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        pipeline.tear_down(infra, stack, ns)


if __name__ == "__main__":
    sys.exit(main())
