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
        "modules": [{"name": str, "type": str, "calls": int, "macs": int, "flops": int,
                     "params": int}, ...],                # the module tree, costliest first
        "modules_left_out": int,                          # modules past the first 200, not listed
        "ops": {"aten.addmm": {"calls": int, "macs": int, "flops": int}, ...},
        "uncounted": {"aten.op": calls, ...},             # ops with no cost formula
        "fingerprint": "4abaddb81721"                     # of the cost formulas it counted with
        "module_budgets": {"backbone": {"limits": {"flops": int, ...},
                           "measured": {"flops": int, "macs": int, "params": int} | null,
                           "over": ["flops", ...], "sources": {"flops": str, ...}}, ...}
      }, ...],
      "gone": ["tests/test_old.py::test_b", ...]          # in the baseline, not in this run
    }

Deltas are fractions (0.05 is +5%): `budget` is FLOPs against the FLOP limit, `flops` and
`params` against `previous`. Status "uncounted": the test failed under `strict` for ops with no
cost formula. `modules` holds every module that ran (a module's numbers include its children's),
at most 200 per test: the costliest by FLOPs first, the rest only counted in `modules_left_out`.
`fingerprint` is `registry.fingerprint` of the formulas the test counted with (the built-in
table, installed packages', its conftests'): another formula for any op gives another one.

The Markdown report: its first line is the verdict (a heading: how many budgeted tests failed,
over budget, grown past the threshold, uncounted under strict), then what it compares with (the
baseline's path, when it was made, its commit; the threshold), a line when the baseline counted
with another torch, plugin version, convention or formulas, then the table of the failing and
changed tests (unchanged ones only as a count; tests whose set of ops changed are marked †), the
ops with no cost formula, a collapsible `<details>` per failing or grown test with the modules
whose FLOPs changed most, and the gone tests. It is capped (rows, gone tests, details; and at
GitHub's 1 MiB step-summary limit as a whole), with a count of what was left out.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .budget import format_delta, human, shown
from .deltas import change_lines, counter_note, module_changes, ops_change, ops_change_text
from .report import LOWER_BOUND, TestRow, delta, status, status_label

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "BaselineError",
    "baseline_details",
    "capped",
    "commit",
    "json_report",
    "load_baseline",
    "markdown_report",
    "parse_json",
    "read_report",
    "report_context",
    "row_detail",
    "run_context",
    "totals",
    "totals_problem",
    "valid_totals",
    "versions",
]

SCHEMA = "pytest-flopbudget/report"
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
MARKDOWN_LIMIT = 1_000_000  # bytes: under GitHub's 1 MiB job-summary limit, with room to spare
MARKDOWN_ROWS = 100  # table rows shown; the rest counted
MARKDOWN_DETAILS = 20  # <details> blocks shown
GONE_SHOWN = 20  # gone tests named in the terminal and the Markdown; the rest counted
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
    `modules_left_out`, `ops`, `uncounted` and `fingerprint` (the last-run cache keeps it too)."""
    return {
        "totals": totals(row),
        "modules": [
            {"name": n, "type": t, "calls": c, "macs": m, "flops": f, "params": p}
            for n, t, c, m, f, p in row.tree
        ],
        "modules_left_out": row.tree_left_out,
        "ops": {n: {"calls": c, "macs": m, "flops": f} for n, c, m, f in row.ops},
        "uncounted": dict(row.uncounted),
        "fingerprint": row.fingerprint,
    }


def _test_entry(row: TestRow, outcome: str, previous: Mapping[str, Any] | None) -> dict[str, Any]:
    detail = row_detail(row)
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
        "modules": detail["modules"],
        "modules_left_out": detail["modules_left_out"],
        "ops": detail["ops"],
        "uncounted": dict(row.uncounted),
        "fingerprint": row.fingerprint,
        "module_budgets": dict(row.module_budgets),
    }


def json_report(
    rows: Sequence[TestRow],
    outcomes: Mapping[str, str],
    previous: Mapping[str, Mapping[str, Any]],
    count: str,
    compared_with: str,
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
    """A JSON value for a message, as JSON writes it (true, null, "abc"), cut to 40 characters."""
    text = json.dumps(value) if isinstance(value, (str, bool, type(None))) else shown(value)
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


def read_report(path: Path, what: str) -> dict[str, Any]:
    """A JSON report (schema version 1 or 2) as a dict, validated: anything malformed is a
    `BaselineError` starting with `what` (``--flop-baseline=PATH``) and naming, where there is
    one, the test."""
    try:
        size = Path(path).stat().st_size
        if size > MAX_BASELINE_BYTES:
            raise BaselineError(
                f"{what}: {size} bytes, more than a report can be ({MAX_BASELINE_BYTES})"
            )
        data = parse_json(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"{what}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BaselineError(f"{what}: cannot be read ({error})") from None
    except ValueError as error:  # json.JSONDecodeError, NaN, too deep, too many digits
        raise BaselineError(f"{what}: not JSON ({error})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise BaselineError(
            f"{what}: not a pytest-flopbudget report (no "
            f'"schema": "{SCHEMA}"); write one with --flop-report=json:PATH'
        )
    version = data.get("schema_version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise BaselineError(
            f"{what}: report schema version {version!r}, "
            f"this plugin reads versions {', '.join(map(str, READABLE_VERSIONS))}"
        )
    tests = data.get("tests")
    if not isinstance(tests, list):
        raise BaselineError(f'{what}: "tests" must be a list of test entries')
    seen: set[str] = set()
    for index, entry in enumerate(tests):
        nodeid = entry.get("nodeid") if isinstance(entry, dict) else None
        if not isinstance(nodeid, str) or not nodeid:
            raise BaselineError(
                f'{what}: tests[{index}] must be an object with a "nodeid" string and a '
                f'"totals" object, got {_shown(entry)}'
            )
        if nodeid in seen:
            raise BaselineError(f"{what}: test {nodeid} is listed twice")
        seen.add(nodeid)
        problem = totals_problem(entry["totals"]) if "totals" in entry else 'no "totals"'
        if problem is not None:
            raise BaselineError(f"{what}: test {nodeid}: {problem}")
    return data


def load_baseline(path: Path) -> dict[str, dict[str, Any]]:
    """{node id: totals} from a JSON report written by `--flop-report=json:PATH`."""
    data = read_report(path, f"--flop-baseline={path}")
    return {t["nodeid"]: t["totals"] for t in data["tests"]}


def report_context(data: Mapping[str, Any]) -> dict[str, Any]:
    """What a report says about how it was made: `created`, `commit`, the versions, `count`
    and the fingerprints of its tests (`deltas.counter_note` compares these)."""
    prints = {t.get("fingerprint") for t in data.get("tests", []) if isinstance(t, dict)}
    return {
        "created": data.get("created"),
        "commit": data.get("commit"),
        "torch_version": data.get("torch_version"),
        "plugin_version": data.get("plugin_version"),
        "count": data.get("count"),
        "fingerprints": sorted(p for p in prints if isinstance(p, str) and p),
    }


def baseline_details(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(how the baseline was made, {node id: its test entry}) from a JSON report."""
    data = read_report(path, f"--flop-baseline={path}")
    return report_context(data), {t["nodeid"]: t for t in data["tests"]}


def run_context(rows: Sequence[TestRow], count: str) -> dict[str, Any]:
    """`report_context` for this run."""
    found = versions()
    return {
        "torch_version": found["torch_version"],
        "plugin_version": found["plugin_version"],
        "count": count,
        "fingerprints": sorted({row.fingerprint for row in rows if row.fingerprint}),
    }


def capped(names: Sequence[str], shown: int = GONE_SHOWN, quote: str = "") -> str:
    """``a, b, … and 98 more``: at most `shown` names."""
    listed = ", ".join(f"{quote}{n}{quote}" for n in names[:shown])
    rest = len(names) - shown
    return listed + (f" … and {rest} more" if rest > 0 else "")


def _cell(value: float | None) -> str:
    return "" if value is None else format_delta(value)


def _base(row_status: str) -> str:
    return row_status.split(":")[0]


def verdict(statuses: Sequence[str], threshold: float | None) -> str:
    """``❌ 3 budgeted tests failed: 1 over budget, 2 grew past +5.0%`` or
    ``✅ 12 budgeted tests within budget``."""
    bases = [_base(s) for s in statuses]
    over, grew, uncounted = (bases.count(s) for s in ("over", "grew", "uncounted"))
    failed = over + grew + uncounted
    if not failed:
        n = len(bases)
        return f"✅ {n} budgeted test{'' if n == 1 else 's'} within budget"
    past = f" past {format_delta(threshold)}" if threshold is not None else ""
    parts = [
        text
        for n, text in (
            (over, f"{over} over budget"),
            (grew, f"{grew} grew{past}"),
            (uncounted, f"{uncounted} ran ops with no cost formula (strict)"),
        )
        if n
    ]
    return f"❌ {failed} budgeted test{'' if failed == 1 else 's'} failed: " + ", ".join(parts)


def _compared_line(
    against: str, source: str, context: Mapping[str, Any] | None, threshold: float | None
) -> str:
    if against == "last":
        what = "the last run"
    else:
        made = []
        if context and context.get("created"):
            made.append(f"made {context['created']}")
        if context and context.get("commit"):
            made.append(f"commit `{str(context['commit'])[:12]}`")
        what = f"the baseline `{source}`" + (f" ({', '.join(made)})" if made else "")
    allowed = (
        f"growth allowed: {format_delta(threshold)}"
        if threshold is not None
        else "growth not checked (no --flop-fail-on-increase)"
    )
    return f"Compared with {what}; {allowed}."


def markdown_report(
    rows: Sequence[TestRow],
    previous: Mapping[str, Mapping[str, Any]],
    against: str,
    gone: Sequence[str] = (),
    *,
    details: Mapping[str, Mapping[str, Any]] | None = None,
    context: Mapping[str, Any] | None = None,
    now: Mapping[str, Any] | None = None,
    threshold: float | None = None,
    source: str = "",
) -> str:
    """The pull-request comment (shape in the module docstring): the verdict, what it compares
    with, the failing and changed rows (over budget first, then the largest change), the rest
    as a count, then the uncounted ops, the changed op sets, the modules behind each failing or
    grown test and the gone tests. `details` are the earlier run's test entries, `context`
    how it was made (`report_context`), `now` this run's (`run_context`), `threshold` the
    allowed growth, `source` the baseline's path."""
    details = details or {}
    statuses = {row.nodeid: status(row, previous.get(row.nodeid)) for row in rows}
    compared = "the last run" if against == "last" else f"the {against}"

    def change(row: TestRow) -> float:
        moved = delta(row.flops, (previous.get(row.nodeid) or {}).get("flops"))
        return abs(moved) if moved else 0.0

    def unchanged(row: TestRow) -> bool:
        before = previous.get(row.nodeid)
        return (
            _base(statuses[row.nodeid]) == "ok"
            and before is not None
            and before.get("flops") == row.flops
            and before.get("params") == row.params
        )

    failing = ("over", "error", "grew", "uncounted")
    ordered = sorted(
        (row for row in rows if not unchanged(row)),
        key=lambda r: (
            failing.index(_base(statuses[r.nodeid]))
            if _base(statuses[r.nodeid]) in failing
            else len(failing),
            -change(r),
            r.nodeid,
        ),
    )
    same = len(rows) - len(ordered)
    ops_changed = {}
    for row in ordered:
        if row.nodeid in details:
            added, removed = ops_change(details[row.nodeid], row_detail(row))
            if added or removed:
                ops_changed[row.nodeid] = ops_change_text(added, removed)
    mark, _, outcome = verdict(list(statuses.values()), threshold).partition(" ")
    labels = {row.nodeid: status_label(row, previous.get(row.nodeid)) for row in rows}
    lines = [
        f"### {mark} FLOP budget: {outcome}",
        "",
        _compared_line(against, source, context, threshold),
    ]
    note = counter_note(context or {}, now or {}, "baseline" if against != "last" else "last run")
    if note:
        lines += ["", f"⚠️ {note[0].upper()}{note[1:]}."]
    lines += [
        "",
        f"| status | test | FLOPs | budget | Δ budget | Δ {against} | params | Δ params |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for row in ordered[:MARKDOWN_ROWS]:
        before = previous.get(row.nodeid) or {}
        lower_bound = LOWER_BOUND if row.uncounted else ""
        row_status = statuses[row.nodeid]
        mark = MARKS.get(row_status) or f"{MARKS[_base(row_status)].split()[0]} {row_status}"
        dagger = " †" if row.nodeid in ops_changed else ""
        lines.append(
            f"| {mark}{labels[row.nodeid][len(statuses[row.nodeid]) :]}{dagger} "
            f"| `{row.nodeid}` | {lower_bound}{human(row.flops)} | "
            f"{human(row.limits.get('flops'))} | "
            f"{_cell(delta(row.flops, row.limits.get('flops')))} | "
            f"{_cell(delta(row.flops, before.get('flops')))} | {human(row.params)} | "
            f"{_cell(delta(row.params, before.get('params')))} |"
        )
    not_shown = []
    if len(ordered) > MARKDOWN_ROWS:
        not_shown.append(f"{len(ordered) - MARKDOWN_ROWS} more changed tests")
    if same:
        not_shown.append(f"{same} unchanged test{'' if same == 1 else 's'}")
    if not_shown:
        lines += ["", " and ".join(not_shown) + " not shown."]
    hidden = sorted((row for row in rows if unchanged(row)), key=lambda r: r.nodeid)
    uncounted = [row for row in [*ordered, *hidden] if row.uncounted]
    if uncounted:  # in the table's order, then the unchanged tests
        lines += [
            "",
            f"Ops with no cost formula (these FLOPs, marked {LOWER_BOUND}, are a lower bound):",
        ]
        for row in uncounted[:MARKDOWN_ROWS]:
            listed = ", ".join(f"`{name}` ×{calls}" for name, calls in row.uncounted.items())
            lines.append(f"- `{row.nodeid}`: {listed}")
        if len(uncounted) > MARKDOWN_ROWS:
            lines.append(f"- … and {len(uncounted) - MARKDOWN_ROWS} more tests")
    if ops_changed:
        lines += ["", f"† The set of ops changed since {compared} (a delta may come from it):"]
        lines += [f"- `{nodeid}`: {text}" for nodeid, text in list(ops_changed.items())[:50]]
    blocks = 0
    for row in ordered:
        grown = (delta(row.flops, (previous.get(row.nodeid) or {}).get("flops")) or 0) > 0
        if row.nodeid not in details or not (_base(statuses[row.nodeid]) in failing or grown):
            continue
        found = change_lines(module_changes(details[row.nodeid], row_detail(row)))
        if not found:
            continue
        if blocks == MARKDOWN_DETAILS:
            lines += ["", "(more tests changed: see `flopbudget diff` on the JSON reports)"]
            break
        blocks += 1
        lines += [
            "",
            f"<details><summary><code>{row.nodeid}</code>: FLOPs by module against {compared}"
            "</summary>",
            "",
            *(f"- `{line}`" for line in found),
            "",
            "</details>",
        ]
    if gone:
        names = sorted(gone)
        lines += ["", f"Gone since {compared} ({len(names)}): " + capped(names, quote="`")]
    return _within_limit(lines)


def _within_limit(lines: list[str]) -> str:
    """The lines as text, cut at whole lines (and outside a `<details>` block) when longer than
    MARKDOWN_LIMIT bytes, saying so."""
    text = "\n".join(lines) + "\n"
    if len(text.encode("utf-8")) <= MARKDOWN_LIMIT:
        return text
    kept, size, open_block = [], 0, False
    room = MARKDOWN_LIMIT - 200
    for line in lines:
        size += len(line.encode("utf-8")) + 1
        if size > room:
            break
        kept.append(line)
        open_block = line.startswith("<details>") or (open_block and line != "</details>")
    if open_block:
        kept.append("</details>")
    kept += ["", f"(report cut: {len(lines) - len(kept) + open_block} more lines past 1 MB)"]
    return "\n".join(kept) + "\n"
