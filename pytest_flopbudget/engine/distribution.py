"""Statistics over inputs: one profile per sample, and their distribution.

A data-dependent model (an early-exit network, a detector whose heads run per proposal, a
mixture of experts) costs what its input makes it cost; `profile_each` profiles it once per
sample and returns a `Distribution` (mean, std, min, p50, p95, max of every quantity).

This module imports no torch until `profile_each` runs: a Distribution is plain data.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import IO, Any

from pytest_flopbudget.engine.profile import Profile
from pytest_flopbudget.engine.statistics import mean, percentile, std
from pytest_flopbudget.text import human, suggest

__all__ = [
    "SHOW_AFTER",
    "STATISTICS",
    "STAT_QUANTITIES",
    "Distribution",
    "Progress",
    "Stat",
    "percentile",
    "profile_each",
    "progress_text",
    "stderr_progress",
]

# The quantities of budgets' table of quantities that a Profile has as attributes (the engine
# may not import the budgets layer; a test keeps the two lists equal). The latency estimate
# needs a device and is no Profile attribute: it is not here.
STAT_QUANTITIES: tuple[str, ...] = (
    "flops",
    "macs",
    "params",
    "nonzero_params",
    "sparse_flops",
    "param_bytes",
    "bytes_moved",
)
STATISTICS: tuple[str, ...] = ("mean", "std", "min", "p50", "p95", "max")

SHOW_AFTER = 2.0  # seconds: a progress bar shows only for a run longer than this
_REDRAW_EVERY = 0.1  # seconds between two redraws of the bar

Progress = Callable[[int, "int | None", float, bool], None]
"""A progress bar: called with (samples done, samples in all or None when unknown, seconds
elapsed, finished). `profile_each` calls it only once `SHOW_AFTER` seconds have passed, at most
every 0.1 s, and once with finished=True at the end when it was called at all."""


@dataclass(frozen=True)
class Stat:
    """One statistic (the mean, the p95, ...) of every quantity over a distribution's profiles.

    None where some profile does not know the quantity (nonzero params on meta). `min` and
    `max` are measured values (ints); the mean, std and percentiles are floats."""

    flops: float
    macs: float
    params: float
    nonzero_params: float | None
    sparse_flops: float | None
    param_bytes: float
    bytes_moved: float


_REDUCE: dict[str, Callable[[list[float]], float]] = {
    "mean": mean,
    "std": std,
    "min": min,
    "p50": lambda values: percentile(values, 50),
    "p95": lambda values: percentile(values, 95),
    "max": max,
}


@dataclass(frozen=True)
class Distribution:
    """What a model cost over `count` samples: each sample's `Profile`, and the statistics of
    every quantity over them (``dist.p95.flops``). Percentiles interpolate linearly between the
    sorted values (numpy's default); the std is the population one (ddof=0)."""

    count: int
    profiles: tuple[Profile, ...]

    def statistic(self, name: str) -> Stat:
        """The Stat of `name`: "mean", "std", "min", "p50", "p95" or "max"."""
        if name not in _REDUCE:
            raise ValueError(
                f"statistic {name!r} is not one of {', '.join(STATISTICS)}"
                f"{suggest(name, list(STATISTICS))}"
            )
        reduce = _REDUCE[name]
        values: dict[str, float | None] = {}
        for quantity in STAT_QUANTITIES:
            column = [getattr(p, quantity) for p in self.profiles]
            values[quantity] = None if any(v is None for v in column) else reduce(column)
        return Stat(**values)

    @property
    def mean(self) -> Stat:
        return self.statistic("mean")

    @property
    def std(self) -> Stat:
        return self.statistic("std")

    @property
    def min(self) -> Stat:
        return self.statistic("min")

    @property
    def p50(self) -> Stat:
        return self.statistic("p50")

    @property
    def p95(self) -> Stat:
        return self.statistic("p95")

    @property
    def max(self) -> Stat:
        return self.statistic("max")

    @property
    def module_mean(self) -> dict[str, float]:
        """The mean FLOPs of each module over the samples (0 for a sample where it is absent)."""
        totals: dict[str, float] = {}
        for p in self.profiles:
            for name, module in p.modules.items():
                totals[name] = totals.get(name, 0) + module.flops
        return {name: total / self.count for name, total in totals.items()}

    @property
    def model_name(self) -> str:
        return self.profiles[0].model_name

    def table(self) -> str:
        """One line per quantity known: its mean, std, min, p50, p95 and max."""
        from pytest_flopbudget.text import columns

        stats = {name: self.statistic(name) for name in STATISTICS}
        rows = [("quantity", *STATISTICS)]
        for field in fields(Stat):
            if getattr(stats["mean"], field.name) is not None:
                rows.append(
                    (field.name, *(human(getattr(stats[s], field.name)) for s in STATISTICS))
                )
        return "\n".join([f"{self.model_name} over {self.count} inputs:", *columns(rows)])

    def __str__(self) -> str:
        return self.table()


def progress_text(done: int, total: int | None, elapsed: float) -> str:
    """``profile_each: 37/100 samples [#######.............] 12.3 s``."""
    if total:
        filled = 20 * done // total
        bar = "#" * filled + "." * (20 - filled)
        return f"profile_each: {done}/{total} samples [{bar}] {elapsed:.1f} s"
    return f"profile_each: {done} samples {elapsed:.1f} s"


def stderr_progress(stream: IO[str] | None = None) -> Progress:
    """A progress bar redrawn in place on `stream` (stderr by default), for the Python API."""

    def show(done: int, total: int | None, elapsed: float, finished: bool) -> None:
        out = stream if stream is not None else sys.stderr
        out.write("\r" + progress_text(done, total, elapsed) + ("\n" if finished else ""))
        out.flush()

    return show


def _default_progress() -> Progress | None:
    return stderr_progress() if sys.stderr.isatty() else None


def _call(model: Callable[..., Any], sample: Any, **options: Any) -> Profile:
    from pytest_flopbudget.engine.counter import profile

    if isinstance(sample, Mapping):
        return profile(model, **options, **sample)
    if isinstance(sample, (tuple, list)):
        return profile(model, *sample, **options)
    return profile(model, sample, **options)


def profile_each(
    model: Callable[..., Any],
    samples: Iterable[Any],
    *,
    limit: int | None = None,
    count: str = "all",
    strict: bool = False,
    formulas: Mapping[Any, Any] | None = None,
    progress: Progress | bool | None = None,
) -> Distribution:
    """Profile `model` once per sample of `samples` (any iterable: a list, a generator, a
    DataLoader) with :func:`pytest_flopbudget.profile` and return their `Distribution`.

    A dict (any mapping) sample is passed as keyword arguments, a tuple or a list (a
    DataLoader's batch) as positional arguments, anything else (a tensor) as the one argument.
    `limit` stops after that many samples. `progress`: None shows a bar on stderr when it is
    a terminal and the run takes more than two seconds, False none, or a `Progress` callable.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"profile_each: limit={limit!r} is not a positive number of samples")
    if isinstance(samples, Mapping) or not isinstance(samples, Iterable):
        raise TypeError(
            "profile_each(model, samples) takes an iterable of samples (a list, a DataLoader); "
            f"got {type(samples).__name__}"
        )
    if progress is None:
        progress = _default_progress()
    elif progress is True:
        progress = stderr_progress()
    total = _total(samples, limit)
    start = time.monotonic()
    shown_at: float | None = None
    profiles: list[Profile] = []
    for index, sample in enumerate(itertools.islice(samples, limit)):  # never one too many
        try:
            profiles.append(_call(model, sample, count=count, strict=strict, formulas=formulas))
        except Exception as error:
            if hasattr(error, "add_note"):
                error.add_note(f"(on sample {index} of pytest_flopbudget.profile_each)")
            raise
        now = time.monotonic()
        if progress and now - start >= SHOW_AFTER:
            if shown_at is None or now - shown_at >= _REDRAW_EVERY:
                shown_at = now
                progress(len(profiles), total, now - start, False)
    if not profiles:
        raise ValueError("profile_each: samples gave no sample to profile")
    if progress and shown_at is not None:
        progress(len(profiles), total, time.monotonic() - start, True)
    return Distribution(len(profiles), tuple(profiles))


def _total(samples: Iterable[Any], limit: int | None) -> int | None:
    """How many samples there will be, when `samples` knows its length or `limit` caps it."""
    try:
        known = len(samples)  # type: ignore[arg-type]
    except TypeError:
        return limit
    return known if limit is None else min(known, limit)
