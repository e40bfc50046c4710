"""What the run compares with: a baseline report (``--flop-baseline``) or the last run, read
from pytest's cache; read and validated once, at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_flopbudget.plugin.warn import warn
from pytest_flopbudget.reporting.baseline import valid_totals
from pytest_flopbudget.reporting.lastrun import LAST_RUN_KEY, SEEN_KEY, read_seen

__all__ = ["LAST_RUN_DETAIL_KEY", "Earlier", "read_earlier"]

# the last run's module trees, op totals and fingerprints ({"context": ..., "tests": {...}})
LAST_RUN_DETAIL_KEY = "flopbudget/last-run-detail"


@dataclass
class Earlier:
    """The earlier run: its totals by node id (`previous`), its test entries (`details`) and
    how it was made (`context`); `against` is "baseline" or "last" (`compared_with` says it in
    words, None when there is no last run: a first run, or pytest's cache off; `source` is the
    baseline's path). The last-run cache as read (`last_run`, `seen`,
    `last_run_detail`), and whether it was corrupt (then this run rewrites it)."""

    previous: dict[str, dict]
    against: str
    compared_with: str | None
    context: dict[str, Any]
    details: dict[str, dict[str, Any]]
    source: str = ""
    last_run: dict[str, dict] = field(default_factory=dict)
    seen: tuple[int, dict[str, int]] = (0, {})
    last_run_detail: dict = field(default_factory=dict)
    last_run_corrupt: bool = False

    def over(self) -> str:
        """``the last run`` or ``the baseline``."""
        return "the last run" if self.against == "last" else "the baseline"

    def label(self) -> str:
        """``last run`` or ``baseline``."""
        return "last run" if self.against == "last" else "baseline"


def _read_last_run(config: pytest.Config) -> tuple[dict[str, dict], bool]:
    """The last run's totals from pytest's cache, and whether it was corrupt: a corrupt entry
    (the user did not write it) is dropped with a warning, never a crash."""
    cache = getattr(config, "cache", None)
    if cache is None:
        return {}, False
    try:
        data = cache.get(LAST_RUN_KEY, None)
    except (RecursionError, ValueError, OSError):
        data, problems = {}, ["cannot be read"]
    else:
        if not data:
            return {}, False
        data, problems = valid_totals(data)
    if problems and not hasattr(config, "workerinput"):
        more = f"; ... ({len(problems)} in all)" if len(problems) > 3 else ""
        shown = "; ".join(problems[:3]) + more
        warn(
            config,
            f"pytest's cache {LAST_RUN_KEY} is corrupt, ignored what is wrong ({shown}); "
            "this run rewrites it",
        )
    return data, bool(problems)


def read_earlier(config: pytest.Config, baseline: str) -> Earlier:
    """The baseline when `baseline` names one (a bad one is a usage error), else the last run."""
    cache = getattr(config, "cache", None)
    last_run, corrupt = _read_last_run(config)
    seen = read_seen(cache.get(SEEN_KEY, None) if cache else None)
    detail: dict = (cache.get(LAST_RUN_DETAIL_KEY, {}) if cache else {}) or {}
    kept = {"last_run": last_run, "seen": seen, "last_run_detail": detail}
    if not baseline:
        return Earlier(
            previous=last_run,
            against="last",
            compared_with="last run" if last_run else None,
            context=detail.get("context") or {},
            details=detail.get("tests") or {},
            last_run_corrupt=corrupt,
            **kept,
        )
    from pytest_flopbudget.reporting.baseline import BaselineError, baseline_details

    try:  # read and validated once: its totals, its test entries, how it was made
        context, details = baseline_details(Path(baseline))
    except BaselineError as error:
        raise pytest.UsageError(str(error)) from None
    return Earlier(
        previous={nodeid: t["totals"] for nodeid, t in details.items()},
        against="baseline",
        compared_with=f"baseline {baseline}",
        context=context,
        details=details,
        source=baseline,
        last_run_corrupt=corrupt,
        **kept,
    )
