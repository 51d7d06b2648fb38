"""make bench-idle: what each service costs while nothing happens.

    PYTHONPATH=. .venv/bin/python -m bench.idle [--seconds 60] [--warmup 15]

Starts every service (bench/stack.py: a namespace of its own on the real broker and
database) and the lag exporter, lets them settle (``--warmup``: migrations, the consumer
groups' first rebalance), then reads each process's CPU time (bench/cpu.py) over
``--seconds`` with no traffic at all, and prints it as a share of one core beside the
target (0.5 %). Exit status 1 when a process is over the target.

An idle service should sleep: its consumer waits in the broker's long poll, its outbox
relay and timers wake when PostgreSQL notifies them (with a slow fallback poll). Anything
that wakes it several times a second shows here.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from datetime import datetime

from bench import cpu, pipeline
from bench import stack as harness

TARGET = 0.005  # of one core


def running(stack: harness.Stack, *others: harness.ServiceProcess) -> dict[str, int]:
    """The pid of every process of the stack (and of ``others``), by name."""
    procs = [*stack.services.values(), *others]
    return {p.name: p.proc.pid for p in procs if p.proc is not None and p.proc.poll() is None}


def measure(pids: dict[str, int], seconds: float) -> cpu.CpuUse:
    before = cpu.sample(pids)
    time.sleep(seconds)
    return cpu.between(before, cpu.sample(pids))


def report(use: cpu.CpuUse, target: float = TARGET) -> tuple[str, bool]:
    lines = [f"idle CPU over {use.wall_s:.0f} s ({cpu.loadavg()} at the end)",
             f"  {'process':<10} {'CPU s':>7} {'of a core':>10} {'target':>8}"]
    ok = True
    for name, spent in use.seconds.items():
        share = use.share_of_a_core(name)
        ok &= share <= target
        lines.append(f"  {name:<10} {spent:7.2f} {share:10.2%} {target:8.1%}  {'ok' if share <= target else 'OVER'}")
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.idle", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="how long to measure (default 60)")
    p.add_argument("--warmup", type=float, default=15.0, help="settling time before measuring (default 15)")
    args = p.parse_args(argv)
    logs = harness.ROOT / "var" / "bench" / f"idle-{datetime.now():%Y%m%d-%H%M%S}"
    infra = harness.start_infra()
    ns = stack = watch = None
    try:
        print(f"[bench-idle] {cpu.loadavg()} (other work on the machine does not count: each process's own "
              "CPU time is read)", flush=True)
        ns = harness.open_namespace(infra, "idle")
        stack = harness.start_stack(ns, logs)
        watch = harness.start_lagwatch(ns, logs)
        print(f"[bench-idle] {', '.join(running(stack, watch))} up; settling {args.warmup:g} s, then measuring "
              f"{args.seconds:g} s with no traffic (logs {logs.relative_to(harness.ROOT)}/)", flush=True)
        time.sleep(args.warmup)
        text, ok = report(measure(running(stack, watch), args.seconds))
        print(text)
        return 0 if ok else 1
    except KeyboardInterrupt:
        return 130
    finally:
        with contextlib.suppress(KeyboardInterrupt):
            if watch is not None:
                watch.stop()
        pipeline.tear_down(infra, stack, ns)


if __name__ == "__main__":
    sys.exit(main())
