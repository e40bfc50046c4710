"""Reading reports back: a JSON report as a baseline (`--flop-baseline`, `flopbudget diff`) and
the last-run cache's totals, validated so that nothing malformed is ever trusted. No torch.

A report's `totals` are counts of the table of quantities: integers in [0, MAX_COUNT], null only
for a quantity that may be unknown; `flops` and `params` must be there; keys of a later schema
are tolerated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_flopbudget.budgets.quantities import NULLABLE, QUANTITIES
from pytest_flopbudget.text import shown

__all__ = [
    "READABLE_VERSIONS",
    "SCHEMA",
    "BaselineError",
    "baseline_details",
    "load_baseline",
    "parse_json",
    "read_report",
    "report_context",
    "totals_problem",
    "valid_totals",
]

SCHEMA = "pytest-flopbudget/report"
READABLE_VERSIONS = (1, 2)


class BaselineError(ValueError):
    """A --flop-baseline file that cannot be read as a report."""


MAX_BASELINE_BYTES = 256 * 2**20  # a report of 100k tests with module trees is well below
MAX_DEPTH = 64  # nesting levels; a report of today's schema has 5
MAX_COUNT = 10**30  # any count a test can measure; larger ones overflow a float in the deltas
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
    for key in QUANTITIES:
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
