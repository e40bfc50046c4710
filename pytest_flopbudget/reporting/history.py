"""The history file of ``--flop-history=PATH``: one JSON line per run, appended at its end.

Each line::

    {"commit": "3f2a9c…" | null, "date": "2026-12-07T12:00:00+00:00",
     "torch_version": "2.13.0" | null, "plugin_version": "0.1.0" | null, "count": "all",
     "tests": {"tests/test_x.py::test_a": {"flops": int, "macs": int, ...}, ...}}

`tests` holds each budgeted test's totals as in the JSON report (tests that failed for their
own reason left out: they stopped short). A file with a bad line is read up to it, with one
message saying so (never a traceback). No torch, no pytest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_flopbudget.budgets.verdict import TestRow

__all__ = ["append_history", "history_entry", "read_history"]


def history_entry(rows: Sequence[TestRow], commit: str | None, count: str) -> dict[str, Any]:
    """This run's line: its commit, the date (UTC), the versions, the convention and the totals
    of each test that did not fail for its own reason."""
    from pytest_flopbudget.reporting.json_report import versions

    found = versions()
    return {
        "commit": commit,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch_version": found["torch_version"],
        "plugin_version": found["plugin_version"],
        "count": count,
        "tests": {
            row.nodeid: dict(row.totals)
            for row in sorted(rows, key=lambda r: r.nodeid)
            if not row.failed
        },
    }


def append_history(path: Path, entry: Mapping[str, Any]) -> None:
    """Append `entry` as one line of `path` (created, with its directory, when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as stream:
        stream.write(json.dumps(entry, allow_nan=False, ensure_ascii=False) + "\n")


def _problem(line: str) -> tuple[dict[str, Any] | None, str]:
    """The entry of one line, or None and what is wrong with it."""
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError) as error:
        return None, f"not JSON ({error})"
    if not isinstance(entry, dict):
        return None, f"not a JSON object but {type(entry).__name__}"
    tests = entry.get("tests")
    if not isinstance(tests, dict) or not all(isinstance(t, dict) for t in tests.values()):
        return None, 'no "tests" object of totals by node id'
    for nodeid, totals in tests.items():
        for quantity, value in totals.items():
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                return None, f"{nodeid}'s {quantity} is {value!r}, not a whole number"
    return entry, ""


def read_history(path: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The entries of the history file `path`, oldest first, and a message when it could not
    be read whole: up to the first bad line (blank lines are skipped); none for a file that
    cannot be read. A missing file is an empty history, no message."""
    path = Path(path)
    if not path.exists():
        return [], None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return [], f"cannot read the history file {path}: {error}; read no entries"
    entries: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        entry, problem = _problem(line)
        if entry is None:
            n = len(entries)
            return entries, (
                f"{path}:{number}: {problem}; read the {n} entr{'y' if n == 1 else 'ies'} "
                "before it, ignored the rest"
            )
        entries.append(entry)
    return entries, None
