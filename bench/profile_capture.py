"""Where a single-lead POST's time goes: capture alone (on its own namespace of the real
broker and database), loaded by concurrent clients while py-spy samples it, summarised
as text (the functions with the most samples, by their own time and with what they
call), beside the accept rate measured during the run.

    PYTHONPATH=. .venv/bin/python -m bench.profile_capture [--leads 4000] [--concurrency 64] [--label after]
    PYTHONPATH=. .venv/bin/python -m bench.profile_capture --import-rows 20000 --label import-after

With ``--import-rows N`` it profiles a list import instead: a CSV of N rows (bench/imports.py's
list) uploaded once, sampled from the upload until the import is done.

Writes ``reports/profile-capture-<label>.txt`` (and the raw collapsed stacks beside it,
``.folded``, for a flame graph). py-spy (a development requirement) samples the child
process it is given without root."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import aiohttp
import httpx
import orjson

from bench import stack as harness
from bench.leads import grade_a, grade_b, grade_c
from bench.stats import percentile

REPORTS = harness.ROOT / "reports"
_LEADS = (grade_a, grade_b, grade_c)


async def load(url: str, headers: dict[str, str], leads: int,
               concurrency: int) -> tuple[float, list[float], Counter[str]]:
    """Post ``leads`` leads with ``concurrency`` clients; the accept rate (202/s), each
    POST's seconds, and the answers by status."""
    bodies = [_LEADS[i % 3]() for i in range(leads)]
    todo = iter(range(leads))
    took: list[float] = []
    answers: Counter[str] = Counter()
    payloads = [orjson.dumps(b) for b in bodies]
    # aiohttp: httpx's pool, not capture, was the limit at 64 connections (bench/pipeline.py)
    async with aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=concurrency),
                                     timeout=aiohttp.ClientTimeout(total=60),
                                     headers={**headers, "content-type": "application/json"}) as client:
        async def one_client() -> None:
            for i in todo:
                sent = time.monotonic()
                try:
                    async with client.post("/v1/leads", data=payloads[i]) as r:
                        await r.read()
                except aiohttp.ClientError as exc:
                    answers[type(exc).__name__] += 1
                    continue
                took.append(time.monotonic() - sent)
                answers[str(r.status)] += 1

        started = time.monotonic()
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        span = time.monotonic() - started
    return answers["202"] / span, took, answers


async def load_import(url: str, headers: dict[str, str], rows: int) -> tuple[float, list[float], Counter[str]]:
    """Upload a list of ``rows`` rows and wait until capture has imported it; rows accepted
    per second from the upload to done, and the import's counts as the answers."""
    from bench import imports

    path = harness.ROOT / "var" / "bench" / f"profile-import-{rows}.csv"
    imports.write_list(path, rows)
    async with httpx.AsyncClient(base_url=url, timeout=600, headers=headers) as client:
        started = time.monotonic()
        with path.open("rb") as f:
            r = await client.post("/v1/imports", files={"file": (path.name, f, "text/csv")},
                                  data={"source": "list_import", "campaign": imports.CAMPAIGN["campaign_id"],
                                        "mapping": json.dumps(imports.COLUMNS)})
        r.raise_for_status()
        import_id = r.json()["import_id"]
        while (progress := (await client.get(f"/v1/imports/{import_id}")).json())["status"] != "done":
            await asyncio.sleep(0.25)
        span = time.monotonic() - started
    counts = Counter({k: int(progress[k]) for k in ("accepted", "rejected", "new_leads", "duplicates_in_file")})
    counts["202"] = counts["accepted"]
    return counts["accepted"] / span, [span], counts


def define_campaign(stack: harness.Stack) -> None:
    from bench import imports

    with stack.client("nurture") as nurture, stack.client("capture") as capture:
        r = nurture.post("/v1/campaigns", json=imports.CAMPAIGN)
        assert r.status_code in (201, 409), r.text
        deadline = time.monotonic() + 60
        while imports.CAMPAIGN["campaign_id"] not in {c["campaign_id"] for c in capture.get("/v1/campaigns").json()}:
            if time.monotonic() > deadline:
                raise RuntimeError("capture never heard of the bench campaign")
            time.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summarise(folded: Path, top: int = 30) -> str:
    """py-spy's raw output (one line per distinct stack: frames root first, ``;``
    separated, then a sample count) as two tables: own samples and inclusive samples
    per function."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f.strip() for f in stack.split(";") if f.strip()]
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"samples: {total}", "", f"top {top} by own samples (where the CPU was):"]
    lines += [f"  {n / total * 100:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines += ["", f"top {top} by inclusive samples (with what they call):"]
    lines += [f"  {n / total * 100:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile_capture", description=__doc__.split("\n\n")[0])
    p.add_argument("--leads", type=int, default=4000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--label", default=datetime.now().strftime("%Y%m%d-%H%M%S"))
    p.add_argument("--rate", type=int, default=100, help="py-spy samples per second (default 100)")
    p.add_argument("--import-rows", type=int, default=0, help="profile a list import of this many rows instead")
    args = p.parse_args(argv)
    infra = harness.start_infra()
    ns = harness.open_namespace(infra, "prof")
    logs = harness.ROOT / "var" / "bench" / f"profile-{args.label}"
    stack: harness.Stack | None = None
    spy: subprocess.Popen[bytes] | None = None
    try:
        stack = harness.start_stack(ns, logs, names=("capture", "nurture") if args.import_rows else ("capture",))
        if args.import_rows:  # the list's campaign, defined in nurture and heard by capture; then capture alone
            define_campaign(stack)
            stack.services["nurture"].stop()
        capture = stack.services["capture"]
        assert capture.proc is not None
        REPORTS.mkdir(exist_ok=True)
        folded = REPORTS / f"profile-capture-{args.label}.folded"
        spy_bin = Path(sys.executable).with_name("py-spy")
        spy = subprocess.Popen([str(spy_bin), "record", "--pid", str(capture.proc.pid), "--format", "raw",
                                "--rate", str(args.rate), "--nonblocking", "--gil", "-o", str(folded)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        cpu_before = cpu_seconds(capture.proc.pid)
        if args.import_rows:
            accept, took, answers = asyncio.run(load_import(capture.url, stack.headers("capture"), args.import_rows))
        else:
            accept, took, answers = asyncio.run(load(capture.url, stack.headers("capture"), args.leads,
                                                     args.concurrency))
        cpu = cpu_seconds(capture.proc.pid) - cpu_before
        spy.send_signal(signal.SIGINT)
        spy.wait(30)
        what = (f"a list import of {args.import_rows} rows (rows accepted/s from upload to done)" if args.import_rows
                else f"{args.leads} POST /v1/leads by {args.concurrency} concurrent clients")
        head = [f"capture alone, {what} "
                f"({os.cpu_count()} CPUs, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())})",
                f"accept rate {accept:,.0f} leads/s; answers {dict(answers)}; POST p50 "
                f"{percentile(took, .5) * 1000:,.1f} ms, p99 {percentile(took, .99) * 1000:,.1f} ms",
                f"capture's CPU: {cpu:,.1f} s for {answers['202']} leads = "
                f"{cpu / max(1, answers['202']) * 1000:,.2f} ms "
                "per lead (the figure that does not depend on what else runs on the machine)",
                "py-spy --gil: samples of the thread holding the GIL (CPU, not waiting)", ""]
        text = "\n".join(head) + summarise(folded) + "\n"
        out = REPORTS / f"profile-capture-{args.label}.txt"
        out.write_text(text)
        print(text)
        print(f"[profile] {out.relative_to(harness.ROOT)} (raw stacks: {folded.relative_to(harness.ROOT)})")
        return 0
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
        if stack is not None:
            stack.stop()
        harness.close_namespace(ns)
        infra.stop()


if __name__ == "__main__":
    sys.exit(main())
