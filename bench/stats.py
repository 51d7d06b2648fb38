"""The one percentile every bench prints and charts, so a printed p99 and a chart's agree."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (``q`` from 0 to 1) of ``values``, in any order, by linear
    interpolation between the closest ranks (numpy's default, and what most load tools
    print); NaN when there are no values."""
    if not values:
        return math.nan
    return float(numpy.quantile(values, q))
