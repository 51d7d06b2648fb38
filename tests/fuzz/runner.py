"""Schemathesis against every service's OpenAPI document, the services running as real
processes on the real broker and database in a private namespace (tests/harness.py).

Each service gets one ``st run`` with every phase: examples, coverage (the edges of
each schema, and inputs just outside it), fuzzing (random inputs, valid and invalid)
and stateful (sequences following the documents' OpenAPI links, e.g. POST a lead,
then GET it and post its activities). Checks: no 5xx, and every response's status
code, content type and body are the ones its document declares.

``make test`` runs a short pass (tests/fuzz/test_openapi.py); ``make fuzz`` a long one::

    python -m tests.fuzz.runner --max-examples 60 --min-cases 1000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests import harness

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance")
PHASES = ("examples", "coverage", "fuzzing", "stateful")
ST = Path(sys.executable).with_name("st")


@dataclass(frozen=True)
class Outcome:
    """One service's run, from schemathesis's JSON report."""

    service: str
    cases: int
    failures: list[str]
    exit_code: int
    seconds: float
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.failures


def run_schemathesis(service: str, base_url: str, report_dir: Path, *, max_examples: int, seed: int,
                     phases: Iterable[str] = PHASES, headers: Mapping[str, str] | None = None) -> Outcome:
    report = report_dir / f"{service}.json"
    # --request-timeout 60: the largest documented bodies (capture's invitations of 1,000
    # people) take seconds on a loaded two-core machine; slow, but not what these checks judge.
    command = [str(ST), "run", f"{base_url}/openapi.json", "--checks", ",".join(CHECKS),
               "--phases", ",".join(phases), "--max-examples", str(max_examples), "--seed", str(seed),
               "--workers", "1", "--request-timeout", "60", "--generation-database", "none",
               "--report", "json", "--report-json-path", str(report), "--no-color",
               *(arg for name, value in (headers or {}).items() for arg in ("--header", f"{name}: {value}"))]
    done = subprocess.run(command, capture_output=True, text=True, cwd=report_dir,  # (its caches land there)
                          env={**os.environ, "NO_COLOR": "1"})
    output = done.stdout + done.stderr
    if not report.exists():
        return Outcome(service, 0, [f"no report: {output[-2000:]}"], done.returncode, 0.0, output)
    data = json.loads(report.read_text())
    failures = [f"{f['code']} {f['title']} x{f['count']} on {', '.join(f['operations'])}"
                for f in data.get("failures", [])]
    failures += [f"error: {e}" for e in data.get("errors", [])]
    return Outcome(service, int(data["test_cases"]["generated"]), failures, done.returncode,
                   float(data.get("running_time", 0.0)), output)


def fuzz_stack(stack: harness.Stack, report_dir: Path, *, max_examples: int | Mapping[str, int],
               seed: int | None = None, services: Iterable[str] = harness.SERVICES) -> list[Outcome]:
    """One schemathesis run per service, all at once: each spends most of its time
    waiting for its service's answers. ``max_examples`` per operation, for all or per service."""
    seed = random.randrange(2**31) if seed is None else seed
    report_dir.mkdir(parents=True, exist_ok=True)
    names = list(services)
    per = max_examples if isinstance(max_examples, Mapping) else dict.fromkeys(names, max_examples)
    with ThreadPoolExecutor(len(names)) as pool:
        return list(pool.map(lambda name: run_schemathesis(name, stack.url(name), report_dir, max_examples=per[name],
                                                           seed=seed, headers=stack.headers(name)), names))


def table(outcomes: Iterable[Outcome]) -> str:
    lines = [f"{'service':10} {'cases':>7} {'seconds':>8}  result"]
    for o in outcomes:
        lines.append(f"{o.service:10} {o.cases:>7} {o.seconds:>8.1f}  "
                     + ("ok" if o.ok else "FAILED: " + "; ".join(o.failures or [f"exit {o.exit_code}"])))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-examples", type=int, default=60, help="schemathesis --max-examples per operation")
    parser.add_argument("--min-cases", type=int, default=1000, help="fail unless each service got this many")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--report-dir", type=Path, default=None)
    args = parser.parse_args()
    infra = harness.start_infra()
    ns = harness.open_namespace(infra, "fz")
    work = Path(tempfile.mkdtemp(prefix="leadbridge-fuzz-"))
    stack = harness.start_stack(ns, work / "logs")
    try:
        outcomes = fuzz_stack(stack, args.report_dir or work / "reports", max_examples=args.max_examples,
                              seed=args.seed)
    finally:
        stack.stop()
        harness.close_namespace(ns)
    print(table(outcomes))
    for o in outcomes:
        if not o.ok:
            print(f"\n===== {o.service}\n{o.output[-6000:]}")
    short = [o.service for o in outcomes if o.cases < args.min_cases]
    if short:
        print(f"fewer than {args.min_cases} cases: {', '.join(short)}")
    print(f"reports and service logs: {work}")
    return 0 if all(o.ok for o in outcomes) and not short else 1


if __name__ == "__main__":
    sys.exit(main())
