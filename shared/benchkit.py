"""What every benchmark compares against: a bare aiokafka hop that consumes a topic and
produces each record unchanged to another, with the services' producer settings
(acks=all, idempotent, linger 1 ms, the same batch size) and no work. Written once for all the benches."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.publisher import PRODUCER_MAX_BATCH_BYTES


async def bare_hop(bootstrap: str, source: str, target: str, *, group: str,
                   ready: asyncio.Event | None = None) -> None:
    """Relay ``source`` → ``target`` until cancelled; ``ready`` is set once partitions are assigned."""
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                                enable_auto_commit=False, max_poll_records=500)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=1,
                                max_batch_size=PRODUCER_MAX_BATCH_BYTES)
    await consumer.start()
    await producer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=500)
            if ready is not None and consumer.assignment():
                ready.set()
            futures = [await producer.send(target, r.value, key=r.key, headers=list(r.headers))
                       for records in batches.values() for r in records]
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def latency_cdf_chart(series: dict[str, list[float]], path: Path, title: str, xlabel: str) -> Path:
    """Write a CDF of each series of latencies (ms, log scale) to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5))
    for name, latencies in series.items():
        lat = sorted(latencies)
        if not lat:
            continue
        ys = [(i + 1) / len(lat) for i in range(len(lat))]
        ax.step(lat, ys, where="post",
                label=f"{name}: p50 {percentile(lat, .5):,.1f} ms, p99 {percentile(lat, .99):,.1f} ms")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel("fraction of records")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def throughput_chart(bars: dict[str, float], path: Path, title: str, target: float | None = None) -> Path:
    """Write a horizontal bar chart of throughputs (events/s) to ``path`` (PNG), with
    the target as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, values = list(bars), list(bars.values())
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(names) + 1.6))
    shown = ax.barh(names[::-1], values[::-1], color=["#4c72b0" if "baseline" not in n else "#999999"
                                                       for n in names[::-1]])
    ax.bar_label(shown, labels=[f"{v:,.0f}" for v in values[::-1]], padding=3, fontsize=8)
    if target is not None:
        ax.axvline(target, color="#c44e52", linestyle="--", label=f"target {target:,.0f}/s")
        ax.legend(loc="lower right")
    ax.set_xlabel("events/s")
    ax.set_title(title)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
