"""``flopbudget diff BASE.json NEW.json [--fail-on-increase PCT]``: compare two JSON reports
outside pytest, per test and per module (the computation is `deltas.compare_reports`).

Exit status: 0 nothing grew past the threshold (or no threshold was given), 1 some test's FLOPs
or params grew past it, 2 bad input (a missing, unreadable or malformed report, a bad PCT, a
wrong argument: one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_flopbudget.budgets.values import BudgetError, parse_percent
from pytest_flopbudget.cli.arguments import BadArguments, Parser
from pytest_flopbudget.reporting.baseline import BaselineError, read_report, report_context
from pytest_flopbudget.reporting.deltas import compare_reports, counter_note
from pytest_flopbudget.text import empty_path, format_delta, human

__all__ = ["EXIT_BAD_INPUT", "EXIT_GREW", "EXIT_OK", "diff_lines", "main"]

EXIT_OK = 0
EXIT_GREW = 1
EXIT_BAD_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="flopbudget diff",
        description="Compare two JSON reports (--flop-report=json:PATH) per test and module.",
        epilog="Exit status: 0 nothing grew past PCT, 1 something did, 2 bad input.",
    )
    parser.add_argument("base", metavar="BASE.json", help="the earlier report (the baseline)")
    parser.add_argument("new", metavar="NEW.json", help="the later report")
    parser.add_argument(
        "--fail-on-increase",
        metavar="PCT",
        help='exit 1 when a test\'s FLOPs or params grew by more than PCT ("5%%")',
    )
    return parser


def _flops(entry: Any) -> str:
    return human(entry["totals"].get("flops"))


def _change(entry_before: Any, entry_after: Any, key: str) -> str:
    old, new = entry_before["totals"].get(key), entry_after["totals"].get(key)
    moved = f" ({format_delta(new / old - 1)})" if isinstance(new, int) and old else ""
    return f"{human(old)} → {human(new)}{moved}"


def diff_lines(base: dict, new: dict, threshold: float | None) -> tuple[list[str], bool]:
    """The output of ``flopbudget diff`` and whether something grew past `threshold`."""
    diffs = compare_reports(base, new, threshold)
    lines = []
    note = counter_note(report_context(base), report_context(new), "BASE")
    if note:
        lines.append(note)
    shown = [d for d in diffs if d.status != "unchanged"]
    order = ("grew", "changed", "new", "gone")
    for diff in sorted(shown, key=lambda d: (order.index(d.status), d.nodeid)):
        if diff.status == "new":
            lines.append(f"new      {diff.nodeid}: {_flops(diff.after)} FLOPs")
        elif diff.status == "gone":
            lines.append(f"gone     {diff.nodeid}: {_flops(diff.before)} FLOPs")
        else:
            lines.append(
                f"{diff.status:<8} {diff.nodeid}: FLOPs {_change(diff.before, diff.after, 'flops')}"
                f", params {_change(diff.before, diff.after, 'params')}"
            )
            lines += [f"  {line}" for line in diff.lines]
    counts = {s: sum(1 for d in diffs if d.status == s) for s in (*order, "unchanged")}
    past = f" past {format_delta(threshold)}" if threshold is not None else ""
    labels = {"grew": f"grew{past}", "unchanged": "unchanged (not shown)"}
    parts = [f"{n} {labels.get(s, s)}" for s, n in counts.items() if n]
    tests = "1 test" if len(diffs) == 1 else f"{len(diffs)} tests"
    lines.append(f"{tests}: " + (", ".join(parts) if parts else "none"))
    return lines, counts["grew"] > 0


def main(argv: Sequence[str]) -> int:
    """Run ``flopbudget diff`` with `argv` (the arguments after ``diff``)."""
    try:
        args = _parser().parse_args(list(argv))
        for what, value in (("BASE.json", args.base), ("NEW.json", args.new)):
            if not value.strip():
                raise BadArguments(empty_path(what))
        threshold = None
        if args.fail_on_increase is not None:
            threshold = parse_percent(
                args.fail_on_increase, "--fail-on-increase", "the command line"
            )
        base = read_report(Path(args.base), args.base)  # validated: see exports.read_report
        new = read_report(Path(args.new), args.new)
    except (BadArguments, BudgetError, BaselineError) as error:
        print(f"flopbudget diff: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    lines, grew = diff_lines(base, new, threshold)
    print("\n".join(lines))
    return EXIT_GREW if grew else EXIT_OK
