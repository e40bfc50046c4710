"""The HTML report: one self-contained page (styles and script inline, no network) drawn in the
browser from the JSON report of the run. No torch.

The page holds the JSON report (`reporting.json_report`) as it is, gzip-compressed and base64
encoded in a ``<script type="application/gzip+base64" id="flopbudget-data">`` (the browser
unpacks it with ``DecompressionStream``): 200 tests of 200 modules are some 7 MB of JSON and
about 1 MB so. Besides the report it holds, per test, the history's FLOPs (one point per
history entry that has the test) and, when the earlier run's module tree is known, each module's
FLOP change against it. Every number on the page is read from those.

The page's markup, styles and script are the files in ``page/`` next to this module.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import Any

from pytest_flopbudget.reporting.markdown import verdict
from pytest_flopbudget.text import relative_change

__all__ = ["DATA_ID", "html_report", "module_deltas", "trends", "verdict_line"]

DATA_ID = "flopbudget-data"
# the Markdown verdict's mark -> the page's (a text symbol: no emoji font needed) and colour
MARKS = {"✅": ("✓", "green"), "❌": ("✗", "red"), "⚠️": ("⚠", "yellow")}


def verdict_line(tests: Sequence[Mapping[str, Any]], threshold: float | None) -> dict[str, str]:
    """The page's verdict: the Markdown report's (`markdown.verdict`), its mark a text symbol,
    and its colour; for tests that have no budget at all (``flopbudget MODEL --html``)
    ``1 measured, no budget set``."""
    if tests and not any(test.get("budget") for test in tests):
        return {"text": f"{len(tests)} measured, no budget set", "tone": ""}
    mark, _, outcome = verdict([test["status"] for test in tests], threshold).partition(" ")
    symbol, tone = MARKS.get(mark, (mark, ""))
    return {"text": f"{symbol} {outcome}", "tone": tone}


def trends(history: Sequence[Mapping[str, Any]], nodeids: Sequence[str]) -> dict[str, list]:
    """Per test, its FLOPs over `history` (entries with its totals only):
    ``[{"commit", "date", "flops"}, ...]`` oldest first, as the entries are."""
    found: dict[str, list] = {nodeid: [] for nodeid in nodeids}
    for entry in history:
        tests = entry.get("tests") or {}
        for nodeid, points in found.items():
            totals = tests.get(nodeid)
            if isinstance(totals, Mapping) and isinstance(totals.get("flops"), int):
                points.append(
                    {
                        "commit": entry.get("commit"),
                        "date": entry.get("date"),
                        "flops": totals["flops"],
                    }
                )
    return {nodeid: points for nodeid, points in found.items() if points}


def module_deltas(
    tests: Sequence[Mapping[str, Any]], earlier: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, float | None]]:
    """Per test, each module's FLOP change against the earlier run's module of that name
    (`earlier`: its test entries by node id, with their ``modules``): a fraction, or None for a
    module the earlier run did not list (new, or past its 200)."""
    found: dict[str, dict[str, float | None]] = {}
    for test in tests:
        before = earlier.get(test["nodeid"])
        if not before or not before.get("modules"):
            continue
        flops = {m["name"]: m["flops"] for m in before["modules"]}
        found[test["nodeid"]] = {
            m["name"]: relative_change(m["flops"], flops.get(m["name"]))
            for m in test.get("modules") or []
        }
    return found


def _packed(data: Any) -> str:
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode("ascii")


def html_report(
    report: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]] = (),
    earlier: Mapping[str, Mapping[str, Any]] | None = None,
    threshold: float | None = None,
) -> str:
    """The page of `report` (what `json_report` returns), with each test's FLOPs trend over
    `history` (history entries, oldest first) and, with `earlier` (the earlier run's test
    entries by node id), its modules coloured by their own growth; `threshold` (the allowed
    growth) as the verdict line names it."""
    tests = report.get("tests") or []
    data = {
        "report": report,
        "verdict": verdict_line(tests, threshold),
        "trends": trends(history, [t["nodeid"] for t in tests]),
        "module_deltas": module_deltas(tests, earlier or {}),
    }
    title = "FLOP budget report"
    if report.get("commit"):
        title += f" · {str(report['commit'])[:12]}"
    filled = {
        "title": _escape(title),
        "style": _page("report.css"),
        "script": _page("report.js"),
        "data_id": DATA_ID,
        "data": _packed(data),
    }
    # one pass: what is filled in is never searched for another {{name}}
    return re.sub(r"\{\{(\w+)\}\}", lambda found: filled[found.group(1)], _page("report.html"))


@cache
def _page(name: str) -> str:
    """One of the page's files (markup, styles, script)."""
    return files("pytest_flopbudget.reporting").joinpath("page", name).read_text(encoding="utf-8")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
