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
        "status": "ok" | "over" | "grew" | "uncounted" | "new" | "no-torch-work",
        "totals": {"flops": int, "macs": int, "params": int, "nonzero_params": int | null,
                   "sparse_flops": int | null, "param_bytes": int},
        "budget": {"flops": int, "params": int, ...},    # resolved limits, base units
        "violations": [str, ...],                         # the failure lines (strict's too)
        "previous": {"flops": int, "params": int, ...} | null,   # last run or baseline
        "delta": {"budget": float | null, "flops": float | null, "params": float | null},
        "top_modules": [{"name": str, "type": str, "flops": int}, ...],
        "uncounted": {"aten.op": calls, ...}              # ops with no cost formula
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
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .budget import format_delta, human
from .report import LOWER_BOUND, TestRow, delta, status

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "BaselineError",
    "json_report",
    "load_baseline",
    "markdown_report",
    "parse_json",
    "totals",
    "totals_problem",
    "valid_totals",
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
        "status": status(row, previous),
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


MAX_BASELINE_BYTES = 256 * 2**20  # a report of 100k tests with module trees is well below
MAX_DEPTH = 64  # nesting levels; a report of today's schema has 5
MAX_COUNT = 10**30  # any count a test can measure; larger ones overflow a float in the deltas
NULLABLE = frozenset({"nonzero_params", "sparse_flops"})  # unknown on meta tensors
REQUIRED = ("flops", "params")  # what every comparison reads
_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


class _NotFinite(ValueError):
    pass


def _refuse_constant(name: str) -> None:
    raise _NotFinite(f"{name} is not a number JSON allows")


def _too_deep(text: str, limit: int) -> bool:
    """Whether `text` nests arrays and objects deeper than `limit`, counted before parsing (so
    json.loads never recurses that far). Brackets inside strings do not count."""
    depth = 0
    for match in _BRACKETS.finditer(_STRINGS.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > limit:
            return True
    return False


def parse_json(text: str) -> Any:
    """Strict JSON: no NaN or Infinity, at most MAX_DEPTH levels; ValueError otherwise."""
    if _too_deep(text, MAX_DEPTH):
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None


def totals_problem(values: object) -> str | None:
    """What is wrong with a test's `totals` (None when nothing): a dict whose counts are
    integers (not booleans) in [0, MAX_COUNT], null only where the schema allows it, with
    `flops` and `params` present. Unknown keys are tolerated (a later schema's)."""
    if not isinstance(values, dict):
        return f'"totals" must be an object, got {_shown(values)}'
    for key in REQUIRED:
        if key not in values:
            return f'"totals" has no "{key}"'
    for key in REMEMBERED:
        if key not in values:
            continue
        value = values[key]
        if value is None and key in NULLABLE:
            continue
        if type(value) is not int or not 0 <= value <= MAX_COUNT:
            nullable = " or null" if key in NULLABLE else ""
            return f'totals "{key}" must be a non-negative integer{nullable}, got {_shown(value)}'
    return None


def _shown(value: object) -> str:
    text = json.dumps(value) if isinstance(value, (str, bool, type(None))) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def valid_totals(data: object) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """{node id: totals} (the last-run cache's shape) split into its valid entries and one line
    per invalid one."""
    if not isinstance(data, dict):
        return {}, [f"not an object of tests: {_shown(data)}"]
    valid, problems = {}, []
    for nodeid, values in data.items():
        problem = totals_problem(values)
        if problem is None:
            valid[nodeid] = values
        else:
            problems.append(f"{nodeid}: {problem}")
    return valid, problems


def load_baseline(path: Path) -> dict[str, dict[str, Any]]:
    """{node id: totals} from a JSON report written by `--flop-report=json:PATH`, validated:
    anything malformed is a BaselineError naming the file and, where there is one, the test."""
    where = f"--flop-baseline={path}"
    try:
        size = Path(path).stat().st_size
        if size > MAX_BASELINE_BYTES:
            raise BaselineError(
                f"{where}: {size} bytes, more than a report can be ({MAX_BASELINE_BYTES})"
            )
        data = parse_json(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BaselineError(f"{where}: cannot be read ({error})") from None
    except ValueError as error:  # json.JSONDecodeError, NaN, too deep, too many digits
        raise BaselineError(f"{where}: not JSON ({error})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise BaselineError(
            f"{where}: not a pytest-flopbudget report (no "
            f'"schema": "{SCHEMA}"); write one with --flop-report=json:PATH'
        )
    version = data.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise BaselineError(
            f"{where}: report schema version {version!r}, "
            f"this plugin reads version {SCHEMA_VERSION}"
        )
    tests = data.get("tests")
    if not isinstance(tests, list):
        raise BaselineError(f'{where}: "tests" must be a list of test entries')
    baseline: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(tests):
        nodeid = entry.get("nodeid") if isinstance(entry, dict) else None
        if not isinstance(nodeid, str) or not nodeid:
            raise BaselineError(
                f'{where}: tests[{index}] must be an object with a "nodeid" string and a '
                f'"totals" object, got {_shown(entry)}'
            )
        if nodeid in baseline:
            raise BaselineError(f"{where}: test {nodeid} is listed twice")
        problem = totals_problem(entry["totals"]) if "totals" in entry else 'no "totals"'
        if problem is not None:
            raise BaselineError(f"{where}: test {nodeid}: {problem}")
        baseline[nodeid] = entry["totals"]
    return baseline


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

    failing = ("over", "grew", "uncounted")
    ordered = sorted(
        rows,
        key=lambda r: (statuses[r.nodeid] not in failing, -change(r), r.nodeid),
    )
    over = sum(1 for s in statuses.values() if s == "over")
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
            f"| {MARKS[statuses[row.nodeid]]} | `{row.nodeid}` | {lower_bound}{human(row.flops)} | "
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
