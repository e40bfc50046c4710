"""Report files: the versioned JSON report (what `--flop-baseline` reads back) and the Markdown
table for pull-request comments and the GitHub job summary. No torch import.

JSON schema, version 1 (`"schema": "pytest-flopbudget/report"`):

    {
      "schema": "pytest-flopbudget/report", "schema_version": 1,
      "created": "2026-11-22T12:00:00+00:00",           # UTC, ISO 8601
      "plugin_version": "0.1.0", "torch_version": "2.13.0", "python_version": "3.11.7",
      "count": "all",                                     # the FLOP convention
      "compared_with": "last run" | "baseline <path>",
      "tests": [{
        "nodeid": "tests/test_x.py::test_a", "location": "tests/test_x.py:12",
        "outcome": "passed" | "failed",                   # the test's call phase
        "status": "ok" | "over:flops" | "grew:params" | ... ,  # report.status_label():
                  # the kind (ok, over, error, grew, uncounted, new, no-torch-work), then for a
                  # failure ":" and what failed it (over:flops+params, over:module, grew:flops,
                  # error:module); the same string as the terminal summary; compare the kind
                  # with status.split(":")[0]
        "totals": {"flops": int, "macs": int, "params": int, "nonzero_params": int | null,
                   "sparse_flops": int | null, "param_bytes": int},
        "budget": {"flops": int, "params": int, ...},    # resolved limits, base units
        "violations": [str, ...],                         # the failure lines (strict's too)
        "previous": {"flops": int, "params": int, ...} | null,   # last run or baseline
        "delta": {"budget": float | null, "flops": float | null, "params": float | null},
        "top_modules": [{"name": str, "type": str, "flops": int}, ...],
        "uncounted": {"aten.op": calls, ...},             # ops with no cost formula
        "module_budgets": {"backbone": {"limits": {"flops": int, ...},
                           "measured": {"flops": int, "macs": int, "params": int} | null,
                           "over": ["flops", ...], "sources": {"flops": str, ...}}, ...}
      }, ...],
      "gone": ["tests/test_old.py::test_b", ...]          # in the baseline, not in this run
    }

Deltas are fractions (0.05 is +5%): `budget` is FLOPs against the FLOP limit, `flops` and
`params` against `previous`. Status "uncounted": the test failed under `strict` for ops with no
cost formula. In the Markdown table, the FLOPs of a test with uncounted ops are marked ≥ (a lower
bound) and its ops are listed under the table.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .budget import format_delta, human
from .report import LOWER_BOUND, TestRow, delta, status, status_label

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "BaselineError",
    "json_report",
    "load_baseline",
    "markdown_report",
    "totals",
    "versions",
]

SCHEMA = "pytest-flopbudget/report"
SCHEMA_VERSION = 1
REMEMBERED = ("flops", "macs", "params", "nonzero_params", "sparse_flops", "param_bytes")
MARKS = {
    "over": "🔴 over",
    "grew": "🟠 grew",
    "uncounted": "🟣 uncounted",
    "no-torch-work": "⚪ no torch work",
    "new": "🆕 new",
    "ok": "✅ ok",
    "error": "⛔ error",
}


class BaselineError(ValueError):
    """A --flop-baseline file that cannot be read as a report."""


def totals(row: TestRow) -> dict[str, int | None]:
    return {key: getattr(row, key) for key in REMEMBERED}


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


def _test_entry(row: TestRow, outcome: str, previous: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "nodeid": row.nodeid,
        "location": row.location,
        "outcome": outcome,
        "status": status_label(row, previous),
        "totals": totals(row),
        "budget": dict(row.limits),
        "violations": list(row.failure_lines),
        "previous": dict(previous) if previous is not None else None,
        "delta": {
            "budget": delta(row.flops, row.limits.get("flops")),
            "flops": delta(row.flops, (previous or {}).get("flops")),
            "params": delta(row.params, (previous or {}).get("params")),
        },
        "top_modules": [
            {"name": name, "type": kind, "flops": flops} for name, kind, flops in row.top_modules
        ],
        "uncounted": dict(row.uncounted),
        "module_budgets": dict(row.module_budgets),
    }


def json_report(
    rows: Sequence[TestRow],
    outcomes: Mapping[str, str],
    previous: Mapping[str, Mapping[str, Any]],
    count: str,
    compared_with: str,
    gone: Sequence[str] = (),
) -> dict[str, Any]:
    """The report as a JSON-ready dict (schema above)."""
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **versions(),
        "count": count,
        "compared_with": compared_with,
        "tests": [
            _test_entry(row, outcomes.get(row.nodeid, "passed"), previous.get(row.nodeid))
            for row in sorted(rows, key=lambda r: r.nodeid)
        ],
        "gone": sorted(gone),
    }


def load_baseline(path: Path) -> dict[str, dict[str, Any]]:
    """{node id: totals} from a JSON report written by `--flop-report=json:PATH`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"--flop-baseline={path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BaselineError(f"--flop-baseline={path}: cannot be read ({error})") from None
    except json.JSONDecodeError as error:
        raise BaselineError(f"--flop-baseline={path}: not JSON ({error})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise BaselineError(
            f"--flop-baseline={path}: not a pytest-flopbudget report (no "
            f'"schema": "{SCHEMA}"); write one with --flop-report=json:PATH'
        )
    if data.get("schema_version") != SCHEMA_VERSION:
        raise BaselineError(
            f"--flop-baseline={path}: report schema version {data.get('schema_version')!r}, "
            f"this plugin reads version {SCHEMA_VERSION}"
        )
    tests = data.get("tests")
    if not isinstance(tests, list) or not all(_is_test_entry(t) for t in tests):
        raise BaselineError(f'--flop-baseline={path}: "tests" is not a list of test entries')
    return {t["nodeid"]: t["totals"] for t in tests}


def _is_test_entry(entry: object) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("nodeid"), str)
        and isinstance(entry.get("totals"), dict)
    )


def _cell(value: float | None) -> str:
    return "" if value is None else format_delta(value)


def markdown_report(
    rows: Sequence[TestRow],
    previous: Mapping[str, Mapping[str, Any]],
    against: str,
    gone: Sequence[str] = (),
) -> str:
    """A table for a pull-request comment: over-budget rows first, then the changed ones (the
    largest change first), then the rest."""
    statuses = {row.nodeid: status(row, previous.get(row.nodeid)) for row in rows}

    def change(row: TestRow) -> float:
        moved = delta(row.flops, (previous.get(row.nodeid) or {}).get("flops"))
        return abs(moved) if moved else 0.0

    failing = ("over", "error", "grew", "uncounted")
    ordered = sorted(
        rows,
        key=lambda r: (statuses[r.nodeid] not in failing, -change(r), r.nodeid),
    )
    over = sum(1 for s in statuses.values() if s == "over")
    labels = {row.nodeid: status_label(row, previous.get(row.nodeid)) for row in rows}
    compared = "the last run" if against == "last" else f"the {against}"
    lines = [
        "### FLOP budget",
        "",
        f"{len(rows)} budgeted test(s), {over} over budget; Δ {against} compares with {compared}.",
        "",
        f"| status | test | FLOPs | budget | Δ budget | Δ {against} | params | Δ params |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for row in ordered:
        before = previous.get(row.nodeid) or {}
        lower_bound = LOWER_BOUND if row.uncounted else ""
        lines.append(
            f"| {MARKS[statuses[row.nodeid]]}{labels[row.nodeid][len(statuses[row.nodeid]) :]} "
            f"| `{row.nodeid}` | {lower_bound}{human(row.flops)} | "
            f"{human(row.limits.get('flops'))} | "
            f"{_cell(delta(row.flops, row.limits.get('flops')))} | "
            f"{_cell(delta(row.flops, before.get('flops')))} | {human(row.params)} | "
            f"{_cell(delta(row.params, before.get('params')))} |"
        )
    uncounted = [row for row in ordered if row.uncounted]
    if uncounted:
        lines += [
            "",
            f"Ops with no cost formula (these FLOPs, marked {LOWER_BOUND}, are a lower bound):",
        ]
        for row in uncounted:
            listed = ", ".join(f"`{name}` ×{calls}" for name, calls in row.uncounted.items())
            lines.append(f"- `{row.nodeid}`: {listed}")
    if gone:
        lines += ["", f"Gone since {compared}: " + ", ".join(f"`{g}`" for g in sorted(gone))]
    return "\n".join(lines) + "\n"
