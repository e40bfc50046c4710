"""The end of the session, on the controller: the report files, the update of pyproject.toml,
pytest's cache, and the `flop budget` section of the terminal summary."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flopbudget.plugin.options import full_run, report_path

if TYPE_CHECKING:
    from pytest_flopbudget.budgets.verdict import TestRow
    from pytest_flopbudget.reporting.deltas import WhyItChanged
    from pytest_flopbudget.reporting.formats import Run

__all__ = ["finish", "module_changes", "terminal_summary"]

# The plugin's FlopBudgetSession (session.py imports this module when a run ends; naming the
# class here would close an import circle): its settings, options, earlier run, rows, outcomes,
# collected node ids, messages and errors.
Session = Any


def rows_of(session: Session) -> list[TestRow]:
    if not session.rows:
        return []
    from pytest_flopbudget.budgets.verdict import TestRow

    return [TestRow.from_dict(row) for row in session.rows.values()]


def gone(session: Session) -> list[str]:
    """The baseline's tests this full run did not collect."""
    if session.earlier.against != "baseline" or not full_run(session.config):
        return []
    return sorted(set(session.earlier.previous) - set(session.collected))


def module_changes(session: Session, row: TestRow) -> WhyItChanged | None:
    """The modules (and the phases) that explain the test's FLOP change against the earlier
    run."""
    before = session.earlier.details.get(row.nodeid)
    if before is None:
        return None
    from pytest_flopbudget.reporting.deltas import WhyItChanged, phase_changes
    from pytest_flopbudget.reporting.deltas import module_changes as changes
    from pytest_flopbudget.reporting.json_report import row_detail

    after = row_detail(row)
    return WhyItChanged(
        session.earlier.over(), changes(before, after), phase_changes(before, after)
    )


def finish(session: Session, pytest_session: pytest.Session) -> None:
    """Update pyproject.toml (first: the reports and the summary say what it did), write the
    report files, remember the run. Each step on its own: an update or a report that cannot be
    written (an error line) leaves the other steps to happen; a bug in one step propagates
    after the others ran."""
    steps = [partial(_update, session, pytest_session)] if session.options.updating else []
    steps += [
        partial(_write_report, session, kind, path) for kind, path in session.options.report_files
    ]
    if session.options.history is not None:
        steps.append(partial(_append_history, session))
    steps.append(partial(_remember, session))
    failure = None
    for step in steps:
        try:
            step()
        except Exception as error:
            failure = failure or error
    if failure is not None:
        raise failure


def _run(session: Session, rows: list[TestRow]) -> Run:
    from pytest_flopbudget.reporting.formats import Run
    from pytest_flopbudget.reporting.json_report import commit, run_context

    earlier = session.earlier
    return Run(
        rows=rows,
        previous=earlier.previous,
        against=earlier.against,
        count=session.settings.count,
        outcomes=session.outcomes,
        compared_with=earlier.compared_with,
        source=earlier.source,
        gone=gone(session),
        details=earlier.details,
        context=earlier.context,
        now=run_context(rows, session.settings.count),
        threshold=session.fail_on_increase,
        commit=commit(session.config.rootpath),
        history=_history(session, rows),
    )


def _history(session: Session, rows: list[TestRow]) -> list[dict]:
    """The --flop-history file's entries, then this run's (none without the option)."""
    if session.options.history is None:
        return []
    from pytest_flopbudget.reporting.history import history_entry
    from pytest_flopbudget.reporting.json_report import commit

    entry = history_entry(rows, commit(session.config.rootpath), session.settings.count)
    return [*session.history, entry]


def _append_history(session: Session) -> None:
    """This run's line at the end of the --flop-history file."""
    from pytest_flopbudget.reporting.history import append_history

    path = session.options.history
    entry = _history(session, rows_of(session))[-1]
    try:
        append_history(path, entry)
    except OSError as error:
        session.errors.append(f"flop budget: could not append to the history {path}: {error}")
        return
    session.messages.append(f"flop budget: appended this run to the history {path}")


def _write_report(session: Session, kind: str, path: Path) -> None:
    from pytest_flopbudget.reporting.formats import FORMATS

    rows = rows_of(session)
    path = report_path(session.config, path)
    report = FORMATS[kind]
    try:
        text = report.render(_run(session, rows))
        path.parent.mkdir(parents=True, exist_ok=True)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        appending = (
            report.appends_to_step_summary
            and bool(summary)
            and Path(summary).resolve() == path.resolve()
        )
        with path.open("a" if appending else "w", encoding="utf-8") as stream:
            stream.write(text)
    except OSError as error:
        session.errors.append(f"flop budget: could not write the {kind} report to {path}: {error}")
        return
    session.messages.append(f"flop budget: wrote the {kind} report to {path}")


def _update(session: Session, pytest_session: pytest.Session) -> None:
    """Rewrite pyproject.toml; each test whose entry it wrote says so in its status (`update`
    on its row: "updated" or "new")."""
    rows = rows_of(session)
    if pytest_session.exitstatus == pytest.ExitCode.INTERRUPTED:
        session.messages.append(
            f"flop budget update: the run was interrupted; {session.pyproject} not updated"
        )
        return
    # tomlkit only when rewriting
    from pytest_flopbudget.budgets.update import UpdateError, update_pyproject

    failed = [row for row in rows if row.failed]
    if not session.options.update_failed:
        rows = [row for row in rows if not row.failed]
    pinned = {row.nodeid: row.location for row in rows if row.pinned}
    collected = session.collected if full_run(session.config) else None
    try:
        result = update_pyproject(session.pyproject, session.settings, rows, pinned, collected)
    except UpdateError as error:
        session.errors.append(f"flop budget update: {error}")
        return
    for what, nodeids in (("updated", result.updated), ("new", result.new)):
        for nodeid in nodeids:
            session.rows[nodeid]["update"] = what
    session.messages += result.lines(session.pyproject)
    with_modules = sum(1 for row in rows if row.module_budgets)
    if with_modules:
        session.messages.append(
            f"  module budgets of {with_modules} test(s) left as they are (edit by hand)"
        )
    if failed and not session.options.update_failed:
        session.messages.append(
            f"  {len(failed)} test(s) that failed for their own reason not written "
            "(--flop-budget-update-failed writes them too)"
        )


def _remember(session: Session) -> None:
    """This run's totals over the last run's in pytest's cache, pruned (see lastrun.py)."""
    cache = getattr(session.config, "cache", None)
    if cache is None:
        return
    rows = rows_of(session)
    from pytest_flopbudget.plugin.earlier import LAST_RUN_DETAIL_KEY
    from pytest_flopbudget.reporting.json_report import row_detail, run_context
    from pytest_flopbudget.reporting.lastrun import LAST_RUN_KEY, SEEN_KEY, remember

    earlier = session.earlier
    rows = [row for row in rows if not row.failed]  # it may have stopped short: not a last run
    measured = {row.nodeid: dict(row.totals) for row in rows}
    is_full = full_run(session.config)
    if not (measured or is_full or earlier.last_run_corrupt):
        return
    kept = remember(earlier.last_run, earlier.seen, measured, session.collected, is_full)
    if measured or earlier.last_run_corrupt or kept.last_run != earlier.last_run:
        cache.set(LAST_RUN_KEY, kept.last_run)
        cache.set(SEEN_KEY, kept.seen_value())
        # the detail: this run's entries over the earlier ones, only for the tests the
        # last-run cache still holds (each tree is already bounded)
        tests = dict(earlier.last_run_detail.get("tests") or {})
        tests.update({row.nodeid: row_detail(row) for row in rows})
        tests = {nodeid: entry for nodeid, entry in tests.items() if nodeid in kept.last_run}
        context = run_context(rows, session.settings.count)
        cache.set(LAST_RUN_DETAIL_KEY, {"context": context, "tests": tests})


def _summary_notes(session: Session, rows: list[TestRow]) -> list[str]:
    """Under the summary: the gone tests (capped), a line when the earlier run counted with
    another torch, plugin, convention or formulas, and the tests whose set of ops changed."""
    from pytest_flopbudget.reporting.deltas import counter_note, ops_change, ops_change_text
    from pytest_flopbudget.reporting.json_report import row_detail, run_context
    from pytest_flopbudget.reporting.markdown import GONE_SHOWN, capped

    earlier = session.earlier
    lines = []
    gone_tests = gone(session)
    if gone_tests:
        count = f" ({len(gone_tests)})" if len(gone_tests) > GONE_SHOWN else ""
        lines.append(f"gone since the baseline{count}: {capped(gone_tests)}")
    label = earlier.label()
    note = counter_note(earlier.context, run_context(rows, session.settings.count), label)
    if note:
        lines.append(f"flop budget: {note}")
    changed = []
    for row in sorted(rows, key=lambda r: r.nodeid):
        before = earlier.details.get(row.nodeid)
        added, removed = ops_change(before, row_detail(row)) if before else ([], [])
        if added or removed:
            changed.append(f"  {row.nodeid}: {ops_change_text(added, removed)}")
    if changed:
        lines.append(f"ops changed since the {label} (a delta may come from them):")
        lines += changed[:GONE_SHOWN]
        if len(changed) > GONE_SHOWN:
            lines.append(f"  … and {len(changed) - GONE_SHOWN} more")
    return lines


def _strict_disabled(session: Session, rows: list[TestRow]) -> list[str]:
    """The summary's first line when strict is on but --flop-budget-disable fails nothing."""
    strict = session.options.strict or session.settings.strict
    if not session.options.disabled or not (strict or any(row.strict_failure for row in rows)):
        return []
    return ["flop budget: strict reports but fails nothing under --flop-budget-disable"]


def terminal_summary(session: Session, terminalreporter: Any) -> None:
    """The `flop budget` section: GitHub annotations, the summary table and its notes, the
    detailed reports, the messages of the session's end, then its errors."""
    rows = rows_of(session)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        from pytest_flopbudget.budgets.verdict import status
        from pytest_flopbudget.plugin.github import github_error, github_warning

        for row in rows:
            if not row.failed and (row.violations or row.strict_failure or row.module_errors):
                terminalreporter.write_line(github_error(row))
            elif status(row, session.earlier.previous.get(row.nodeid)) == "warn":
                terminalreporter.write_line(github_warning(row))
    verbosity = terminalreporter.verbosity
    if verbosity > -2 and (rows or session.messages):
        _write_summary(session, terminalreporter, rows, verbosity)
    for error in session.errors:
        terminalreporter.write_line(error, red=True, bold=True)


def _write_summary(session: Session, tr: Any, rows: list, verbosity: int) -> None:
    from pytest_flopbudget.reporting.terminal import detail_lines, summary_lines

    if rows:
        width = tr._tw.fullwidth
        markup = tr._tw.markup  # colours only when pytest colours its output
        previous, against = session.earlier.previous, session.earlier.against
        report = session.options.terminal_report
        lines = summary_lines(rows, previous, verbosity, width, against, markup, report)
        if verbosity >= 0:
            tr.write_sep("=", "flop budget")
        for line in [*_strict_disabled(session, rows), *lines, *_summary_notes(session, rows)]:
            tr.write_line(line)
    if session.options.terminal_report:
        for row in sorted(rows, key=lambda r: r.nodeid):
            tr.write_sep("-", "flop report")
            for line in detail_lines(row, session.options.depth):
                tr.write_line(line)
    for message in session.messages:
        tr.write_line(message)
