"""Small statistics for the benchmarks (plain Python): ranks with ties averaged, Spearman's rank
correlation, the median absolute relative error."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks of `values`, ascending; tied values share the average of their ranks
    (``[10, 20, 20, 30]`` -> ``[1, 2.5, 2.5, 4]``)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    result = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        shared = (start + end) / 2 + 1  # the mean of ranks start+1 .. end+1
        for i in order[start : end + 1]:
            result[i] = shared
        start = end + 1
    return result


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson's correlation of the ranks (ties averaged)."""
    if len(xs) != len(ys):
        raise ValueError(f"spearman: {len(xs)} values against {len(ys)}")
    if len(xs) < 2:
        raise ValueError(f"spearman needs at least 2 pairs, got {len(xs)}")
    rx, ry = ranks(xs), ranks(ys)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    covariance = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    spread = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    if spread == 0:
        raise ValueError("spearman: every value of one side is the same (no ranking)")
    return covariance / spread


def median_relative_error(estimates: Sequence[float], truths: Sequence[float]) -> float:
    """The median over pairs of |estimate - truth| / truth."""
    if len(estimates) != len(truths) or not truths:
        raise ValueError(f"{len(estimates)} estimates against {len(truths)} measured values")
    return statistics.median(abs(e - t) / t for e, t in zip(estimates, truths, strict=True))
