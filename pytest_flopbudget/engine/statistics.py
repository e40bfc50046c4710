"""Statistics over a list of measured values, as the docs state them: the mean, the population
standard deviation and percentiles by linear interpolation (numpy's defaults). Pure Python, no
torch: the budgets layer judges a distribution by the same rule the engine reports it with."""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction

__all__ = ["mean", "percentile", "std"]


def percentile(values: Iterable[float], q: float) -> float:
    """The `q`-th percentile (0 to 100) by linear interpolation between the sorted values,
    numpy's default: at position ``(n - 1) * q / 100`` of the sorted values, between the value
    below and the value above in proportion. Computed exactly, rounded once to a float."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q={q!r} is not between 0 and 100")
    position = (len(ordered) - 1) * Fraction(q) / 100
    below = math.floor(position)
    low = Fraction(ordered[below])
    high = Fraction(ordered[min(below + 1, len(ordered) - 1)])
    return float(low + (high - low) * (position - below))


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def std(values: list[float]) -> float:
    """The population standard deviation (numpy's default, ddof=0)."""
    average = mean(values)
    return math.sqrt(sum((v - average) ** 2 for v in values) / len(values))
