"""What the last runs measured, kept in pytest's cache, and how long it is kept.

Two cache keys: ``flopbudget/last-run`` maps a node id to its totals (what the summary's Δ and
``--flop-fail-on-increase`` compare with), ``flopbudget/seen`` holds a run counter and, per node
id, the number of the last run that saw the test (collected and selected it, or measured it).

Pruning: a test's entry is dropped when none of the last :data:`KEEP_RUNS` runs saw it, and a
full run (no paths, ``-k``, ``-m``, ``--lf`` or ``--deselect``) drops at once every test it did
not collect: those tests are gone. A run that measured no budgeted test leaves the cache alone
(and does not advance the counter) unless it is a full run that drops something. Whatever in the
cache is malformed (hand-edited, an older format) is ignored, never an error.

Pure Python: this module never imports torch or pytest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pytest_flopbudget.reporting.baseline import valid_totals

__all__ = [
    "KEEP_RUNS",
    "LAST_RUN_KEY",
    "SEEN_KEY",
    "Remembered",
    "read_last_run",
    "read_seen",
    "remember",
]

LAST_RUN_KEY = "flopbudget/last-run"
SEEN_KEY = "flopbudget/seen"
KEEP_RUNS = 10
"""An entry is kept while one of the last KEEP_RUNS runs saw its test."""


@dataclass(frozen=True)
class Remembered:
    """The cache's two values after one run."""

    run: int
    last_run: dict[str, dict] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)

    def seen_value(self) -> dict:
        """The value stored under :data:`SEEN_KEY`."""
        return {"run": self.run, "tests": self.seen}


def read_last_run(value: object) -> dict[str, dict]:
    """The cached totals by node id, without the entries a baseline would be refused for
    (`baseline.totals_problem`: the same rules)."""
    return {nodeid: dict(totals) for nodeid, totals in valid_totals(value)[0].items()}


def read_seen(value: object) -> tuple[int, dict[str, int]]:
    """The run counter and the last run that saw each test; (0, {}) when malformed."""
    if not isinstance(value, dict):
        return 0, {}
    run, tests = value.get("run"), value.get("tests")
    if not (isinstance(run, int) and not isinstance(run, bool) and run >= 0):
        return 0, {}
    if not isinstance(tests, dict):
        return run, {}
    return run, {
        nodeid: last
        for nodeid, last in tests.items()
        if isinstance(nodeid, str) and isinstance(last, int) and not isinstance(last, bool)
    }


def remember(
    last_run: Mapping[str, dict],
    seen: tuple[int, Mapping[str, int]],
    measured: Mapping[str, dict],
    collected: Iterable[str],
    full_run: bool,
) -> Remembered:
    """The cache after this run: ``measured`` (this run's totals by node id) over ``last_run``,
    pruned as the module docstring says. ``collected`` is what this run collected and selected.
    """
    previous_run, last_seen = seen
    run = previous_run + 1
    collected = set(collected)
    seen_now = {nodeid: run for nodeid in (*collected, *measured)}
    # an entry the counter never saw (a cache from before the counter) counts as seen now
    unknown = {nodeid: run for nodeid in last_run if nodeid not in last_seen}
    merged = {**unknown, **last_seen, **seen_now}
    kept = {
        nodeid: last
        for nodeid, last in merged.items()
        if last > run - KEEP_RUNS and (not full_run or nodeid in collected or nodeid in measured)
    }
    totals = {**last_run, **measured}
    return Remembered(
        run=run,
        last_run={nodeid: dict(t) for nodeid, t in totals.items() if nodeid in kept},
        seen={nodeid: last for nodeid, last in kept.items() if nodeid in totals},
    )
