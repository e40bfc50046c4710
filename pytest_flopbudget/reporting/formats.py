"""The table of report formats: ``--flop-report=NAME[:PATH]``. A format is a module with a
renderer and one row here; the option's parsing, its error text and its help read the table.
No torch, no pytest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_flopbudget.text import empty_path

if TYPE_CHECKING:
    from pytest_flopbudget.budgets.verdict import TestRow

__all__ = ["FORMATS", "Format", "ReportTargetError", "Run", "parse_targets", "targets_help"]


@dataclass(frozen=True)
class Run:
    """What a report of one run is made of: the rows, the test outcomes, the earlier run's
    totals (`previous`) and test entries (`details`) and how it was made (`context`), this run's
    (`now`), what it compares with (`against`: "last" or "baseline"; `compared_with`, `source`:
    the baseline's path), the allowed growth, the gone tests, the commit and the convention;
    `history`: the --flop-history file's entries, then this run's (empty without one)."""

    rows: Sequence[TestRow]
    previous: Mapping[str, Mapping[str, Any]]
    against: str = "last"
    count: str = "all"
    outcomes: Mapping[str, str] = field(default_factory=dict)
    compared_with: str | None = "last run"
    source: str = ""
    gone: Sequence[str] = ()
    details: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)
    now: Mapping[str, Any] = field(default_factory=dict)
    threshold: float | None = None
    commit: str | None = None
    history: Sequence[Mapping] = ()


def _report(run: Run) -> dict[str, Any]:
    from pytest_flopbudget.reporting.json_report import json_report

    return json_report(
        run.rows, run.outcomes, run.previous, run.count, run.compared_with, run.gone, run.commit
    )


def _json(run: Run) -> str:
    import json

    return json.dumps(_report(run), indent=2, allow_nan=False) + "\n"  # NaN is not JSON


def _html(run: Run) -> str:
    from pytest_flopbudget.reporting.html import html_report

    return html_report(_report(run), run.history, run.details, run.threshold)


def _markdown(run: Run) -> str:
    from pytest_flopbudget.reporting.markdown import markdown_report

    return markdown_report(
        run.rows,
        run.previous,
        run.against,
        run.gone,
        details=run.details,
        context=run.context,
        now=run.now,
        threshold=run.threshold,
        source=run.source,
    )


def _badge(run: Run) -> str:
    import json

    from pytest_flopbudget.budgets.verdict import status
    from pytest_flopbudget.reporting.badge import badge

    kinds = [status(row, run.previous.get(row.nodeid)) for row in run.rows]
    return json.dumps(badge(kinds), ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class Format:
    """A report format: `render` makes a file's text from a `Run`; None for the terminal's
    report, which takes no path. `appends_to_step_summary`: written to the file named by
    ``$GITHUB_STEP_SUMMARY``, it appends instead of replacing."""

    name: str
    description: str
    render: Callable[[Run], str] | None = None
    appends_to_step_summary: bool = False


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("term", "the per-module and per-op breakdown in the terminal (the default)"),
        Format("json", "the versioned JSON report (what --flop-baseline reads)", _json),
        Format(
            "markdown",
            "the pull-request comment (appends when PATH is $GITHUB_STEP_SUMMARY)",
            _markdown,
            appends_to_step_summary=True,
        ),
        Format("html", "one self-contained page: the table, module icicles, charts", _html),
        Format("badge", "a shields.io endpoint JSON: within budget, over, grew", _badge),
    )
}


class ReportTargetError(ValueError):
    """A ``--flop-report`` value that names no format, or a file format without a path (or with
    an empty one)."""


def _usage() -> str:
    """``term, json:PATH or markdown:PATH``."""
    forms = [name if f.render is None else f"{name}:PATH" for name, f in FORMATS.items()]
    return f"{', '.join(forms[:-1])} or {forms[-1]}" if len(forms) > 1 else forms[0]


def _empty(found: Format, value: str) -> str:
    """``--flop-report=markdown:`` (the path a variable that is not set): say so."""
    message = empty_path(f"the path of --flop-report={value}")
    if found.appends_to_step_summary:
        message += " ($GITHUB_STEP_SUMMARY is set only in a GitHub Actions job)"
    return f"{message}; write {found.name}:PATH"


def targets_help() -> str:
    """The help of ``--flop-report``, from the table."""
    listed = "; ".join(
        (name if f.render is None else f"{name}:PATH") + f" ({f.description})"
        for name, f in FORMATS.items()
    )
    return f"write a report after the summary (repeatable): {listed}"


def parse_targets(values: Sequence[str]) -> tuple[bool, list[tuple[str, Path]]]:
    """``--flop-report`` values -> (the terminal report wanted, [(format name, path)])."""
    terminal, files = False, []
    for value in values:
        name, _, target = value.partition(":")
        found = FORMATS.get(name)
        if found is not None and found.render is None and value == name:
            terminal = True
        elif found is not None and found.render is not None and target.strip():
            files.append((name, Path(target)))
        elif found is not None and found.render is not None and value != name:
            raise ReportTargetError(_empty(found, value))
        else:
            raise ReportTargetError(f"--flop-report={value}: use {_usage()}")
    return terminal, files
