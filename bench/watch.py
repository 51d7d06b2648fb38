"""Each service's consume rate and lag during a bench run, read from its /metrics once
a second (``leadbridge_events_consumed_total`` and ``leadbridge_consumer_lag_records``,
summed over its topics and partitions), so a bench shows which hop falls behind."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx


@dataclass
class Sample:
    at: float  # monotonic
    consumed: float  # events handled so far
    lag: float  # records behind, all partitions


@dataclass
class ServiceWatch:
    """Samples of every service, kept until the run ends."""

    urls: Mapping[str, str]  # service -> base URL
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    async def run(self, every_s: float = 1.0) -> None:
        """Sample until cancelled."""
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                await asyncio.gather(*(self._sample(client, name, url) for name, url in self.urls.items()))
                await asyncio.sleep(every_s)

    async def _sample(self, client: httpx.AsyncClient, name: str, url: str) -> None:
        try:
            text = (await client.get(url + "/metrics")).text
        except httpx.HTTPError:
            return
        # (only the two series' lines: parsing a whole exposition costs the load generator
        # tens of milliseconds per service and sample)
        consumed = lag = 0.0
        for line in text.splitlines():
            if line.startswith("leadbridge_events_consumed_total{"):
                consumed += float(line.rpartition(" ")[2])
            elif line.startswith("leadbridge_consumer_lag_records{"):
                lag += float(line.rpartition(" ")[2])
        self.samples.setdefault(name, []).append(Sample(time.monotonic(), consumed, lag))

    async def drain(self, timeout_s: float = 600.0, every_s: float = 1.0) -> float:
        """Sample until every service's lag is zero twice in a row (the pipeline at rest),
        printing the laggards every few seconds; the seconds it took (NaN: not within
        ``timeout_s``)."""
        started = last_print = time.monotonic()
        calm = 0
        async with httpx.AsyncClient(timeout=5) as client:
            while time.monotonic() - started < timeout_s:
                await asyncio.gather(*(self._sample(client, name, url) for name, url in self.urls.items()))
                behind = {name: samples[-1].lag for name, samples in self.samples.items() if samples[-1].lag > 0}
                calm = 0 if behind else calm + 1
                if calm >= 2:
                    return time.monotonic() - started
                if behind and time.monotonic() - last_print >= 5:
                    last_print = time.monotonic()
                    print(f"[bench] draining {time.monotonic() - started:5.0f}s: "
                          + ", ".join(f"{n} {lag:,.0f} behind" for n, lag in behind.items()), flush=True)
                await asyncio.sleep(every_s)
        return float("nan")

    def table(self, since: float) -> str:
        """Per service: events handled and the mean rate over the run, the peak rate over
        one sampling interval, and the largest and last lag seen."""
        lines = [f"  {'service':10}{'events':>10}{'mean/s':>10}{'peak/s':>10}{'max lag':>10}{'lag at end':>12}"]
        for name in self.urls:
            samples = [s for s in self.samples.get(name, []) if s.at >= since]
            if len(samples) < 2:
                lines.append(f"  {name:10}{'-':>10}")
                continue
            handled = samples[-1].consumed - samples[0].consumed
            span = samples[-1].at - samples[0].at
            peak = max((b.consumed - a.consumed) / (b.at - a.at) for a, b in itertools.pairwise(samples)
                       if b.at > a.at)
            lines.append(f"  {name:10}{handled:>10,.0f}{handled / span:>10,.0f}{peak:>10,.0f}"
                         f"{max(s.lag for s in samples):>10,.0f}{samples[-1].lag:>12,.0f}")
        return "\n".join(lines)

    def series(self, since: float) -> dict[str, list[tuple[float, float]]]:
        """Each service's lag over time (seconds since ``since``, records)."""
        return {name: [(s.at - since, s.lag) for s in samples if s.at >= since]
                for name, samples in self.samples.items()}
