"""``flopbudget history PATH [TEST]``: the trend of a ``--flop-history`` file as text.

Per test (one test, or the tests a glob matches, when TEST is given; ``*`` and ``?`` are the
only wildcards, as in ``[tool.flopbudget.tests]``), one line per entry that measured it: the
date, the commit (12 characters, ``-`` when unknown), the FLOPs, and the change from the entry
before. A file with a bad line is read up to it, with one warning on stderr.

Exit status: 0 printed, 2 bad input (a missing or unreadable file, one with no entries, a TEST
that matches no test: one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_flopbudget.budgets.config import glob_matches
from pytest_flopbudget.cli.arguments import BadArguments, Parser
from pytest_flopbudget.reporting.history import read_history
from pytest_flopbudget.text import empty_path, format_delta, human, suggest

__all__ = ["EXIT_BAD_INPUT", "EXIT_OK", "history_lines", "main"]

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="flopbudget history",
        description="Print each test's FLOPs over a --flop-history file.",
        epilog="Exit status: 0 printed, 2 bad input.",
    )
    parser.add_argument("path", metavar="PATH", help="the history file (--flop-history=PATH)")
    parser.add_argument(
        "test", metavar="TEST", nargs="?", help="one node id, or a glob of them (* and ?)"
    )
    return parser


def history_lines(entries: Sequence[Mapping[str, Any]], nodeids: Sequence[str]) -> list[str]:
    """The trend of each of `nodeids` over `entries` (oldest first): the node id, then
    ``  2026-12-07T12:00:00+00:00  3f2a9c1e4b5d  880 FLOPs  +4.8%`` per entry that measured it
    (the change from the entry before that measured it; none on the first)."""
    lines: list[str] = []
    for nodeid in nodeids:
        lines.append(nodeid)
        before = None
        for entry in entries:
            totals = entry["tests"].get(nodeid)
            if totals is None:
                continue
            flops = totals.get("flops")
            commit = str(entry.get("commit") or "-")[:12]
            change = ""
            if isinstance(flops, int) and isinstance(before, int) and before:
                change = f"  {format_delta(flops / before - 1)}"
            lines.append(
                f"  {entry.get('date') or '-'}  {commit:<12}  {human(flops, 'FLOPs')}{change}"
            )
            before = flops
    return lines


def main(argv: Sequence[str]) -> int:
    """Run ``flopbudget history`` with `argv` (the arguments after ``history``)."""
    try:
        args = _parser().parse_args(list(argv))
        if not args.path.strip():
            raise BadArguments(empty_path("PATH"))
        path = Path(args.path)
        if not path.is_file():
            raise BadArguments(f"{path}: no such history file")
        entries, problem = read_history(path)
        if problem is not None:
            print(f"flopbudget history: warning: {problem}", file=sys.stderr)
        if not entries:
            raise BadArguments(f"{path} holds no history entries")
        tests = sorted({nodeid for entry in entries for nodeid in entry["tests"]})
        if args.test is not None:
            chosen = [t for t in tests if t == args.test or glob_matches(t, args.test)]
            if not chosen:
                raise BadArguments(
                    f"no test in {path} matches {args.test!r}{suggest(args.test, tests)}"
                )
            tests = chosen
    except BadArguments as error:
        print(f"flopbudget history: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print("\n".join(history_lines(entries, tests)))
    return EXIT_OK
