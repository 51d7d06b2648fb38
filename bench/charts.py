"""The one set of charts the benches and the what-if/replay reports draw (PNG, with
matplotlib, a development requirement). Every chart is made and saved the same way."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from bench.stats import percentile

K = TypeVar("K", bound=str)


@contextmanager
def _figure(path: Path, size: tuple[float, float], title: str, dpi: int = 110) -> Iterator[Any]:
    """Axes to draw on; on leaving, the figure is laid out, written to ``path`` and closed."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    try:
        yield ax
        ax.set_title(title, fontsize=10)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
    finally:
        plt.close(fig)


def latency_cdf(series: Mapping[str, Sequence[float]], path: Path, title: str, xlabel: str) -> Path:
    """A CDF of each series of latencies (ms, log scale), its p50 and p99 in the legend."""
    with _figure(path, (9, 5.5), title) as ax:
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
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right")
    return path


def throughput_bars(bars: Mapping[str, float], path: Path, title: str, target: float | None = None) -> Path:
    """Horizontal bars of throughputs (events/s), baselines in grey, the target as a dashed line."""
    names, values = list(bars)[::-1], list(bars.values())[::-1]
    with _figure(path, (9, 0.6 * len(names) + 1.6), title) as ax:
        shown = ax.barh(names, values, color=["#999999" if "baseline" in n else "#4c72b0" for n in names])
        ax.bar_label(shown, labels=[f"{v:,.0f}" for v in values], padding=3, fontsize=8)
        if target is not None:
            ax.axvline(target, color="#c44e52", linestyle="--", label=f"target {target:,.0f}/s")
            ax.legend(loc="lower right")
        ax.set_xlabel("events/s")
        ax.grid(True, axis="x", alpha=0.3)
    return path


def before_after_bars(categories: Sequence[K], before: Mapping[K, float], after: Mapping[K, float],
                      path: Path, title: str, labels: tuple[str, str] = ("before", "after"),
                      ylabel: str = "leads") -> Path:
    """Grouped bars: for each category, its count before beside its count after (a
    rubric replay's grades, a what-if's owners)."""
    xs = range(len(categories))
    with _figure(path, (max(7.0, 0.5 * len(categories) + 2), 4.5), title) as ax:
        ax.bar([x - 0.2 for x in xs], [before.get(c, 0) for c in categories], width=0.4, label=labels[0])
        ax.bar([x + 0.2 for x in xs], [after.get(c, 0) for c in categories], width=0.4, label=labels[1])
        many = len(categories) > 8
        ax.set_xticks(list(xs), list(categories), rotation=60 if many else 0, ha="right" if many else "center",
                      fontsize=8)
        ax.set_ylabel(ylabel)
        ax.legend()
    return path


def timelines(series: Mapping[str, Sequence[tuple[float, float]]], path: Path, title: str, ylabel: str,
              xlabel: str = "seconds since the start") -> Path:
    """One line per series of (seconds, value) points: progress or lag over a run."""
    with _figure(path, (9, 5), title) as ax:
        for name, points in series.items():
            if points:
                ax.plot([x for x, _ in points], [y for _, y in points], label=name)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    return path
