"""Report files: the versioned JSON report (what `--flop-baseline` reads back) and the Markdown
table for pull-request comments and the GitHub job summary. No torch import.

JSON schema, version 2 (`"schema": "pytest-flopbudget/report"`; version 1 baselines, which lack
`commit`, `modules`, `modules_left_out`, `ops` and `fingerprint`, are still read):

    {
      "schema": "pytest-flopbudget/report", "schema_version": 2,
      "created": "2026-11-22T12:00:00+00:00",           # UTC, ISO 8601
      "commit": "3f2a9c…" | null,                         # $GITHUB_SHA, else git rev-parse HEAD
      "plugin_version": "0.1.0", "torch_version": "2.13.0", "python_version": "3.11.7",
      "count": "all",                                     # the FLOP convention
      "compared_with": "last run" | "baseline <path>" | null,   # null: no earlier run
      "tests": [{
        "nodeid": "tests/test_x.py::test_a", "location": "tests/test_x.py:12",
        "outcome": "passed" | "failed",                   # the test's call phase (none
                                                          # for a skipped or xfailed test)
        "status": "ok" | "over:flops" | "grew:params" | ... ,  # report.status_label():
                  # the kind (failed, over, error, grew, uncounted, warn, updated,
                  # no-module-work, new, ok), then for a failure ":" and what failed it
                  # (over:flops+params, over:module, grew:flops, error:module; warn:flops for
                  # growth past warn_on_increase); the same string as the terminal
                  # summary; compare the kind with status.split(":")[0]
        "totals": {"flops": int, "macs": int, "params": int, "nonzero_params": int | null,
                   "sparse_flops": int | null, "param_bytes": int, "bytes_moved": int,
                   "latency_ns": int | null},             # latency_ns: with a device only
        "hardware": "h100" | null,                        # the device of the estimate
        "budget": {"flops": int, "params": int, ...},    # resolved limits, base units
        "violations": [str, ...],                         # the failure lines (strict's too)
        "warnings": [str, ...],                           # growth past warn_on_increase
        "previous": {"flops": int, "params": int, ...} | null,   # last run or baseline
        "delta": {"budget": float | null, "flops": float | null, "params": float | null},
        "top_modules": [{"name": str, "type": str, "flops": int}, ...],
        "modules": [{"name": str, "type": str, "calls": int, "macs": int, "flops": int,
                     "params": int, "bytes_moved": int,
                     "latency_ns": int}, ...],            # the module tree, costliest first;
                                                          # latency_ns with a device only
        "modules_left_out": int,                          # modules past the first 200, not listed
        "ops": {"aten.addmm": {"calls": int, "macs": int, "flops": int,
                               "bytes_moved": int}, ...},
        "uncounted": {"aten.op": calls, ...},             # ops with no cost formula
        "fingerprint": "4abaddb81721"                     # of the cost formulas it counted with
        "module_budgets": {"backbone": {"limits": {"flops": int, ...},
                           "measured": {"flops": int, "macs": int, "params": int} | null,
                           "over": ["flops", ...], "sources": {"flops": str, ...}}, ...},
        "statistic": "mean" | "p50" | "p95" | "max" | null,   # gated, with a distribution
        "distribution": {"count": int, "statistic": str,      # inputs of profile_each
                         "mean": {"flops": int, ...}, "std": {...} | null, "min": {...},
                         "p50": {...}, "p95": {...}, "max": {...}} | null,
        "phases": {"decode": {"entries": int, "total": {"flops": int, "macs": int,
                              "bytes_moved": int}, "mean": {...}, "max": {...},
                              "last": {...}}, ...},
        "phase_budgets": {"decode": {"statistic": "max" | "mean" | "total",
                          "limits": {...}, "measured": {...} | null, "over": [...],
                          "sources": {...}}, ...}
      }, ...],
      "gone": ["tests/test_old.py::test_b", ...]          # in the baseline, not in this run
    }

Deltas are fractions (0.05 is +5%): `budget` is FLOPs against the FLOP limit, `flops` and
`params` against `previous`. Status "uncounted": the test failed under `strict` for ops with no
cost formula. `modules` holds every module that ran (a module's numbers include its children's),
at most 200 per test: the costliest by FLOPs first, the rest only counted in `modules_left_out`.
`fingerprint` is `registry.fingerprint` of the formulas the test counted with (the built-in
table, installed packages', its conftests'): another formula for any op gives another one.

The test entries' `totals` hold every quantity of the table of quantities, in its order; for a
test that recorded a distribution (``profile_each``) they are its `statistic`'s values, each
rounded up to a whole number, and `distribution` holds every statistic (over several
distributions each adds up and `std` is null). `phases` holds every phase the test entered over
everything it recorded (`mean` rounded up; `max` per quantity; `last` the last entry).
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_flopbudget.budgets.verdict import TestRow, status_label
from pytest_flopbudget.reporting.baseline import SCHEMA
from pytest_flopbudget.text import relative_change

__all__ = [
    "SCHEMA_VERSION",
    "commit",
    "json_report",
    "row_detail",
    "run_context",
    "versions",
]

SCHEMA_VERSION = 2


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {
        "plugin_version": installed("pytest-flopbudget"),
        "torch_version": installed("torch"),
        "python_version": platform.python_version(),
    }


def commit(directory: Path | None = None) -> str | None:
    """The commit being tested: ``$GITHUB_SHA``, else ``git rev-parse HEAD`` in `directory`
    when git answers within a second; None otherwise."""
    sha = os.environ.get("GITHUB_SHA")
    if sha:
        return sha
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=1,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = done.stdout.strip()
    return text if done.returncode == 0 and text else None


def row_detail(row: TestRow) -> dict[str, Any]:
    """What the deltas compare, JSON-shaped: a test entry's `totals`, `modules`,
    `modules_left_out`, `ops`, `uncounted`, `fingerprint` and `phases` (the last-run cache
    keeps it too)."""
    return {
        "totals": dict(row.totals),
        "modules": [
            {
                "name": n,
                "type": t,
                "calls": c,
                "macs": m,
                "flops": f,
                "params": p,
                "bytes_moved": b,
                **({"latency_ns": ns} if ns is not None else {}),
            }
            for n, t, c, m, f, p, b, ns in row.tree
        ],
        "modules_left_out": row.tree_left_out,
        "ops": {
            n: {"calls": c, "macs": m, "flops": f, "bytes_moved": b} for n, c, m, f, b in row.ops
        },
        "uncounted": dict(row.uncounted),
        "fingerprint": row.fingerprint,
        "phases": dict(row.phases),
    }


def _test_entry(row: TestRow, outcome: str, previous: Mapping[str, Any] | None) -> dict[str, Any]:
    detail = row_detail(row)
    return {
        "nodeid": row.nodeid,
        "location": row.location,
        "outcome": outcome,
        "status": status_label(row, previous),
        "totals": dict(row.totals),
        "hardware": row.hardware or None,
        "budget": dict(row.limits),
        "violations": list(row.failure_lines),
        "warnings": list(row.warnings),
        "previous": dict(previous) if previous is not None else None,
        "delta": {
            "budget": relative_change(row.flops, row.limits.get("flops")),
            "flops": relative_change(row.flops, (previous or {}).get("flops")),
            "params": relative_change(row.params, (previous or {}).get("params")),
        },
        "top_modules": [
            {"name": name, "type": kind, "flops": flops} for name, kind, flops in row.top_modules
        ],
        "modules": detail["modules"],
        "modules_left_out": detail["modules_left_out"],
        "ops": detail["ops"],
        "uncounted": dict(row.uncounted),
        "fingerprint": row.fingerprint,
        "module_budgets": dict(row.module_budgets),
        "statistic": row.statistic or None,
        "distribution": dict(row.distribution) or None,
        "phases": detail["phases"],
        "phase_budgets": dict(row.phase_budgets),
    }


def json_report(
    rows: Sequence[TestRow],
    outcomes: Mapping[str, str],
    previous: Mapping[str, Mapping[str, Any]],
    count: str,
    compared_with: str | None,
    gone: Sequence[str] = (),
    sha: str | None = None,
) -> dict[str, Any]:
    """The report as a JSON-ready dict (schema above); `sha` is the commit tested."""
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": sha,
        **versions(),
        "count": count,
        "compared_with": compared_with,
        "tests": [
            _test_entry(row, outcomes.get(row.nodeid, "passed"), previous.get(row.nodeid))
            for row in sorted(rows, key=lambda r: r.nodeid)
        ],
        "gone": sorted(gone),
    }


def run_context(rows: Sequence[TestRow], count: str) -> dict[str, Any]:
    """`report_context` for this run."""
    found = versions()
    return {
        "torch_version": found["torch_version"],
        "plugin_version": found["plugin_version"],
        "count": count,
        "fingerprints": sorted({row.fingerprint for row in rows if row.fingerprint}),
    }
