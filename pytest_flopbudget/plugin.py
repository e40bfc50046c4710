"""The pytest plugin: registered through the `pytest11` entry point.

pytest imports this module in every run wherever the package is installed, so nothing here
imports torch at module level: the counter is imported when a budgeted test actually runs.

Flow: budgets are read and validated at start-up (`[tool.flopbudget]`) and at collection (marker
arguments); a budgeted test's call phase runs under the counter; its row travels on the call
report; the controller prints the summary and remembers the run in pytest's cache.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .budget import Budget, BudgetError, budgeted_by_config, check, parse_percent, resolve
from .config import (
    Config,
    find_pyproject,
    load_config,
    misspelled_tables,
    unmatched_entries,
    validate_marker,
)
from .lastrun import LAST_RUN_KEY, SEEN_KEY, read_seen

if TYPE_CHECKING:
    from .counter import Counting
    from .registry import Extensions
    from .report import TestRow
    from .result import Profile

# The rendering layer (report, exports) is imported where it is used: a project whose tests
# budget nothing never loads it.

MARKER = "flop_budget"
MARKER_HELP = (
    "flop_budget(max_gflops=..., max_params=..., tolerance=..., strict=..., modules=...): count "
    "the torch work of this test's call phase and fail it when a limit is exceeded (with "
    "strict=True, also when it ran ops with no cost formula). Keys: max_flops, max_kflops, "
    "max_mflops, max_gflops, max_tflops, max_macs, max_gmacs, max_params, max_nonzero_params, "
    "max_sparse_flops, max_param_bytes, tolerance, strict, and modules={'backbone': "
    "{'max_gflops': 3}} (per-module FLOP, MAC and params limits)."
)
# the last run's module trees, op totals and fingerprints ({"context": ..., "tests": {...}})
LAST_RUN_DETAIL_KEY = "flopbudget/last-run-detail"
REPORT_ATTRIBUTE = "flopbudget"


class FlopBudgetWarning(pytest.PytestWarning):
    """Something to look at that fails nothing: a budgeted test that measured nothing, a
    ``tests`` entry no test matched, a misspelled ``[tool.flopbudget]`` table, a corrupt cache."""


class TestBudget:
    """What the plugin knows about one budgeted test; kept in `item.stash`."""

    __test__ = False

    def __init__(self, budget: Budget, count: str, pinned: bool) -> None:
        self.budget = budget
        self.count = count
        self.pinned = pinned
        self.recorded: list[Profile] = []
        self.extensions: Extensions | None = None  # the formulas its conftest files add


BUDGET_KEY = pytest.StashKey[TestBudget]()
ROW_KEY = pytest.StashKey[dict]()


class FlopBudgetFixture:
    """The `flop_budget` fixture: explicit control over what a test's budget measures.

    When it recorded something, only that counts for the test (not the marker's whole-call
    counting).
    """

    def __init__(self, state: TestBudget) -> None:
        self._state = state

    @property
    def budget(self) -> Budget:
        """The resolved limits (marker > pyproject entry > defaults)."""
        return self._state.budget

    def profile(self, model: Any, *args: Any, **kwargs: Any) -> Profile:
        """`pytest_flopbudget.profile(model, *args, **kwargs)`, recorded for this test."""
        from .counter import profile

        result = profile(model, *args, count=self._state.count, **kwargs)
        self._state.recorded.append(result)
        return result

    @contextlib.contextmanager
    def counting(self, model: Any = None) -> Iterator[Counting]:
        """`pytest_flopbudget.counting(model)`: count a block, recorded for this test."""
        from .counter import counting

        with counting(model, count=self._state.count) as counted:
            yield counted
        self._state.recorded.append(counted.profile)


@pytest.fixture
def flop_budget(request: pytest.FixtureRequest) -> FlopBudgetFixture:
    """Profile models explicitly and see the resolved budget (`flop_budget.budget`)."""
    return FlopBudgetFixture(request.node.stash[BUDGET_KEY])


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flopbudget", "compute budgets for PyTorch models")
    group.addoption(
        "--flop-report",
        action="append",
        nargs="?",
        const="term",
        default=[],
        metavar="TYPE",
        help="after the summary, the per-module and per-op breakdown of each budgeted test "
        "(term, the default), or write it: json:PATH, markdown:PATH (repeatable; markdown "
        "appends when PATH is $GITHUB_STEP_SUMMARY)",
    )
    group.addoption(
        "--flop-report-depth",
        type=_report_depth,
        default=2,
        metavar="N",
        help="module levels below the model in --flop-report's tree (default 2)",
    )
    group.addoption(
        "--flop-baseline",
        metavar="PATH",
        help="a JSON report of an earlier run (the main branch's): deltas are shown against it "
        "instead of the last run",
    )
    group.addoption(
        "--flop-fail-on-increase",
        metavar="PCT",
        help="fail a budgeted test whose FLOPs or params grew by more than PCT (e.g. 5%%) over "
        "the baseline (or the last run); overrides fail_on_increase in pyproject.toml",
    )
    group.addoption(
        "--flop-budget-update",
        action="store_true",
        default=False,
        help="write the measured values into pyproject.toml as budgets at the end of the run "
        "(budget overruns do not fail the run)",
    )
    group.addoption(
        "--flop-budget-disable",
        action="store_true",
        default=False,
        help="measure and report budgeted tests, but fail none of them for their budget",
    )
    group.addoption(
        "--flop-strict",
        action="store_true",
        default=False,
        help="fail every budgeted test that ran ops with no cost formula (their FLOPs would be "
        "a lower bound), as strict = true in pyproject.toml does",
    )


def _report_depth(text: str) -> int:
    """--flop-report-depth's value: ASCII digits, 0 to 64 (argparse makes an error of it a
    usage error)."""
    import argparse

    from .budget import parse_depth

    try:
        return parse_depth(text, "--flop-report-depth", "the command line")
    except BudgetError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def _extensions(item: pytest.Item) -> Extensions:
    """The formulas and module-cost hooks a budgeted test counts with; a malformed one is a
    usage error naming its conftest or entry point."""
    from .registry import ExtensionError, for_pytest

    try:
        return for_pytest(item.ihook)
    except ExtensionError as error:
        raise pytest.UsageError(f"flop budget: {error}") from None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    pyproject = find_pyproject(config.rootpath, config.inipath)
    settings = load_config(pyproject)
    session = FlopBudgetSession(config, settings, pyproject or config.rootpath / "pyproject.toml")
    config.pluginmanager.register(session, "flopbudget-session")
    if not hasattr(config, "workerinput"):  # the controller warns, once
        for table in misspelled_tables(pyproject):
            _warn(
                config,
                f"{pyproject}: [tool.{table}] is not read by pytest-flopbudget; "
                "did you mean [tool.flopbudget]?",
            )


def _warn(config: pytest.Config, message: str) -> None:
    """A FlopBudgetWarning in the warnings summary, from any hook (also on the xdist
    controller, which collects nothing); a usage error where filters make it an error
    (``-W error::pytest_flopbudget.plugin.FlopBudgetWarning``)."""
    try:
        config.issue_config_time_warning(FlopBudgetWarning(message), stacklevel=2)
    except FlopBudgetWarning:
        raise pytest.UsageError(f"flop budget: {message}") from None


def _report_targets(values: list[str]) -> tuple[bool, list[tuple[str, Path]]]:
    """--flop-report values -> (terminal report wanted, [(kind, path)])."""
    terminal, files = False, []
    for value in values:
        kind, _, target = value.partition(":")
        if value == "term":
            terminal = True
        elif kind in ("json", "markdown") and target:
            files.append((kind, Path(target)))
        else:
            raise pytest.UsageError(f"--flop-report={value}: use term, json:PATH or markdown:PATH")
    return terminal, files


def _report_path(config: pytest.Config, path: Path) -> Path:
    return path if path.is_absolute() else config.invocation_params.dir / path


def _report_path_problem(path: Path) -> str | None:
    """Why a report could not be written to `path` (checked at start-up), or None."""
    try:
        if path.is_dir():
            return "it is a directory"
        if path.exists():
            return None if os.access(path, os.W_OK) else "it is not writable"
        existing = path.parent
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            return f"{existing} is not a directory"
        if not os.access(existing, os.W_OK | os.X_OK):
            return f"the directory {existing} is not writable"
    except OSError as error:  # a name too long, a loop of symlinks
        return error.strerror or str(error)
    return None


def _check_report_path(path: Path) -> None:
    problem = _report_path_problem(path)
    if problem is not None:
        raise pytest.UsageError(f"--flop-report: cannot write a report to {path}: {problem}")


def _full_run(config: pytest.Config) -> bool:
    """Whether the run collected everything (no paths, -k, -m or --lf narrowed it)."""
    option = config.option
    narrowed = bool(
        getattr(option, "keyword", "")
        or getattr(option, "markexpr", "")
        or getattr(option, "lf", False)
        or getattr(option, "deselect", None)
    )
    return not narrowed and config.args_source != pytest.Config.ArgsSource.ARGS


class FlopBudgetSession:
    """The session's state: the validated settings, what earlier runs measured, and the rows
    the controller collects from the test reports."""

    def __init__(self, config: pytest.Config, settings: Config, pyproject: Path) -> None:
        self.config = config
        self.settings = settings
        self.pyproject = pyproject
        self.rows: dict[str, dict] = {}
        self.outcomes: dict[str, str] = {}
        self.collected: list[str] = []
        self.deselected = False  # -k, -m, a sharding plugin...: a partial run
        self.unmatched_checked = False
        self.messages: list[str] = []
        self.errors: list[str] = []  # a report or update that could not be written, one line each
        self.disabled = bool(config.getoption("flop_budget_disable"))
        self.updating = bool(config.getoption("flop_budget_update"))
        self.strict = bool(config.getoption("flop_strict"))
        self.terminal_report, self.report_files = _report_targets(config.getoption("flop_report"))
        if not hasattr(config, "workerinput"):
            for _, path in self.report_files:
                _check_report_path(_report_path(config, path))
        self.depth = config.getoption("flop_report_depth")
        self.fail_on_increase = settings.fail_on_increase
        option = config.getoption("flop_fail_on_increase")
        if option is not None:
            try:
                self.fail_on_increase = parse_percent(
                    option, "--flop-fail-on-increase", "the command line"
                )
            except BudgetError as error:
                raise pytest.UsageError(str(error)) from None
        cache = getattr(config, "cache", None)
        self.last_run_corrupt = False  # then the cache is rewritten without the bad entries
        self.last_run: dict[str, dict] = self._read_last_run()
        self.seen = read_seen(cache.get(SEEN_KEY, None) if cache else None)
        baseline = config.getoption("flop_baseline")
        self.baseline_source = baseline or ""
        self.last_run_detail: dict = (cache.get(LAST_RUN_DETAIL_KEY, {}) if cache else {}) or {}
        if baseline:
            from .exports import BaselineError, baseline_details

            try:  # read and validated once: its totals, its test entries, how it was made
                self.previous_context, self.previous_details = baseline_details(Path(baseline))
            except BaselineError as error:
                raise pytest.UsageError(str(error)) from None
            self.previous = {nodeid: t["totals"] for nodeid, t in self.previous_details.items()}
            self.against, self.compared_with = "baseline", f"baseline {baseline}"
        else:
            self.previous, self.against, self.compared_with = self.last_run, "last", "last run"
            self.previous_context = self.last_run_detail.get("context") or {}
            self.previous_details = self.last_run_detail.get("tests") or {}

    # ---- collection: which tests are budgeted, with what budget --------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            marker = item.get_closest_marker(MARKER)
            uses_fixture = MARKER in getattr(item, "fixturenames", ())
            if marker is None and not uses_fixture:
                if not budgeted_by_config(item.nodeid, self.settings):
                    continue
            kwargs = dict(marker.kwargs) if marker is not None else {}
            if marker is not None:
                validate_marker(kwargs, marker.args, item.nodeid)
            try:
                budget = resolve(kwargs, item.nodeid, self.settings)
            except BudgetError as error:
                raise pytest.UsageError(str(error)) from None
            pinned = any(key not in ("tolerance", "strict", "modules") for key in kwargs)
            state = item.stash[BUDGET_KEY] = TestBudget(budget, self.settings.count, pinned)
            state.extensions = _extensions(item)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected = [item.nodeid for item in session.items]
        if not session.testsfailed:  # a module that failed to import hides its tests
            self._warn_unmatched()

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.collected = list(ids)
        self._warn_unmatched()

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected = True

    def _warn_unmatched(self) -> None:
        """In a full run, on the controller: each ``tests`` entry that matched no collected test
        (syrupy's unused snapshots); never in a partial or sharded run."""
        if self.unmatched_checked or hasattr(self.config, "workerinput"):
            return
        self.unmatched_checked = True
        if self.deselected or not _full_run(self.config):
            return
        for entry in unmatched_entries(self.settings, self.collected):
            kind = "glob" if entry.is_glob else "node id"
            _warn(
                self.config,
                f'{self.settings.path}: [tool.flopbudget.tests."{entry.pattern}"] matched no '
                f"collected test (a {kind}: renamed or removed test? --flop-budget-update "
                "lists it as stale)",
            )

    def _read_last_run(self) -> dict[str, dict]:
        """The last run's totals from pytest's cache; a corrupt entry (the user did not write
        it) is dropped with a warning, never a crash."""
        cache = getattr(self.config, "cache", None)
        if cache is None:
            return {}
        try:
            data = cache.get(LAST_RUN_KEY, None)
        except (RecursionError, ValueError, OSError):
            self.last_run_corrupt = True
            data, problems = {}, ["cannot be read"]
        else:
            if not data:
                return {}
            from .exports import valid_totals

            data, problems = valid_totals(data)
        self.last_run_corrupt = bool(problems)
        if problems and not hasattr(self.config, "workerinput"):
            more = f"; ... ({len(problems)} in all)" if len(problems) > 3 else ""
            shown = "; ".join(problems[:3]) + more
            _warn(
                self.config,
                f"pytest's cache {LAST_RUN_KEY} is corrupt, ignored what is wrong ({shown}); "
                "this run rewrites it",
            )
        return data

    # ---- the call phase: count, check, fail ---------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        state = item.stash.get(BUDGET_KEY, None)
        if state is None:
            if not item.ihook.pytest_flopbudget_formulas.get_hookimpls():
                return (yield)
            from .registry import using

            with using(_extensions(item)):  # its conftest formulas for profile() in the test
                return (yield)
        from .counter import counting
        from .exports import totals
        from .module_budgets import check_modules
        from .registry import fingerprint_for, using
        from .report import build_row, failure_text, grown_quantities, growth_messages, measured

        # The test's own failure propagates from the yield and wins over any budget.
        with using(state.extensions), counting(count=state.count, only_modules=True) as whole_call:
            result = yield
        profiles = state.recorded or [whole_call.profile]
        values = measured(profiles)
        violations = check(values, state.budget)
        growth, grown = [], []
        if self.fail_on_increase is not None:
            previous = self.previous.get(item.nodeid)
            growth = growth_messages(values, previous, self.fail_on_increase, self.against)
            grown = grown_quantities(values, previous, self.fail_on_increase)
        path, line, _ = item.location
        row = build_row(
            item.nodeid,
            f"{path}:{(line or 0) + 1}",
            profiles,
            state.budget,
            violations,
            growth,
            pinned=state.pinned,
            detail_depth=self.depth if self.terminal_report else None,
            strict=state.budget.strict or self.strict,
            fingerprint=fingerprint_for(state.extensions),
            grown=grown,
            module_check=check_modules(profiles, state.budget),
        )
        item.stash[ROW_KEY] = row.to_dict()
        for key, value in totals(row).items():
            item.user_properties.append((f"flopbudget_{key}", value))
        unseen = sum(p.unseen_thread_calls for p in profiles)
        if unseen:
            warnings.warn(
                FlopBudgetWarning(
                    f"{item.nodeid} ran {unseen} module call(s) on another thread: their torch "
                    "work is not counted (the counter sees only the test's thread), so its FLOPs "
                    "are a lower bound; run the model on the test's thread"
                ),
                stacklevel=1,
            )
        if not row.ran_torch_work:
            warnings.warn(
                FlopBudgetWarning(
                    f"{item.nodeid} is budgeted but ran no torch work through a module: "
                    "nothing was measured (call the model, or use the flop_budget fixture)"
                ),
                stacklevel=1,
            )
        over_budget = row.violations and not (self.disabled or self.updating)
        unchecked = row.strict_failure or row.module_errors  # fails even while updating
        if over_budget or (unchecked and not self.disabled):
            pytest.fail(failure_text(row, self._module_changes(row)), pytrace=False)
        return result

    def _module_changes(self, row: TestRow) -> list[str]:
        """The lines naming the modules whose FLOPs changed most against the earlier run."""
        before = self.previous_details.get(row.nodeid)
        if before is None:
            return []
        from .deltas import change_lines, module_changes
        from .exports import row_detail

        found = change_lines(module_changes(before, row_detail(row)))
        over = "the last run" if self.against == "last" else "the baseline"
        return (
            [f"FLOPs by module against {over}:", *(f"  {line}" for line in found)] if found else []
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
        report = yield
        if call.when == "call" and ROW_KEY in item.stash:
            setattr(report, REPORT_ATTRIBUTE, item.stash[ROW_KEY])
        return report

    # ---- the controller: collect, write, summarize, remember ----------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        row = getattr(report, REPORT_ATTRIBUTE, None)
        if report.when == "call" and row is not None:
            self.rows[report.nodeid] = row
            self.outcomes[report.nodeid] = report.outcome

    def _rows(self) -> list[TestRow]:
        if not self.rows:
            return []
        from .report import TestRow

        return [TestRow.from_dict(row) for row in self.rows.values()]

    def _gone(self) -> list[str]:
        if self.against != "baseline" or not _full_run(self.config):
            return []
        return sorted(set(self.previous) - set(self.collected))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return
        rows = self._rows()
        # Each step on its own: a report that cannot be written (an error line) leaves the
        # update and the cache to happen; a bug in one step propagates after the others ran.
        steps = [partial(self._write_report, kind, path, rows) for kind, path in self.report_files]
        if self.updating:
            steps.append(partial(self._update, session, rows))
        steps.append(partial(self._remember, rows))
        failure = None
        for step in steps:
            try:
                step()
            except Exception as error:
                failure = failure or error
        if failure is not None:
            raise failure

    def _update(self, session: pytest.Session, rows: list[TestRow]) -> None:
        if session.exitstatus == pytest.ExitCode.INTERRUPTED:
            self.messages.append(
                f"flop budget update: the run was interrupted; {self.pyproject} not updated"
            )
            return
        from .update import UpdateError, update_pyproject  # tomlkit only when rewriting

        pinned = {row.nodeid: row.location for row in rows if row.pinned}
        collected = self.collected if _full_run(self.config) else None
        try:
            result = update_pyproject(self.pyproject, self.settings, rows, pinned, collected)
        except UpdateError as error:
            self.errors.append(f"flop budget update: {error}")
            return
        self.messages += result.lines(self.pyproject)
        with_modules = sum(1 for row in rows if row.module_budgets)
        if with_modules:
            self.messages.append(
                f"  module budgets of {with_modules} test(s) left as they are (edit by hand)"
            )

    def _remember(self, rows: list[TestRow]) -> None:
        """This run's totals over the last run's in pytest's cache, pruned (see lastrun.py)."""
        cache = getattr(self.config, "cache", None)
        if cache is None:
            return
        from .exports import totals
        from .lastrun import remember

        measured = {row.nodeid: totals(row) for row in rows}
        full_run = _full_run(self.config)
        if not (measured or full_run or self.last_run_corrupt):
            return
        kept = remember(self.last_run, self.seen, measured, self.collected, full_run)
        if measured or self.last_run_corrupt or kept.last_run != self.last_run:
            cache.set(LAST_RUN_KEY, kept.last_run)
            cache.set(SEEN_KEY, kept.seen_value())
            self._remember_details(cache, rows, kept.last_run)

    def _remember_details(self, cache: Any, rows: list[TestRow], remembered: dict) -> None:
        """The last-run detail cache: this run's entries over the earlier ones, only for the
        tests the last-run cache still holds (each tree is already bounded)."""
        from .exports import row_detail, run_context

        tests = dict(self.last_run_detail.get("tests") or {})
        tests.update({row.nodeid: row_detail(row) for row in rows})
        tests = {nodeid: entry for nodeid, entry in tests.items() if nodeid in remembered}
        context = run_context(rows, self.settings.count)
        cache.set(LAST_RUN_DETAIL_KEY, {"context": context, "tests": tests})

    def _summary_notes(self, rows: list[TestRow]) -> list[str]:
        """Under the summary: the gone tests (capped), a line when the earlier run counted with
        another torch, plugin, convention or formulas, and the tests whose set of ops changed."""
        from .deltas import counter_note, ops_change, ops_change_text
        from .exports import GONE_SHOWN, capped, row_detail, run_context

        lines = []
        gone = self._gone()
        if gone:
            count = f" ({len(gone)})" if len(gone) > GONE_SHOWN else ""
            lines.append(f"gone since the baseline{count}: {capped(gone)}")
        label = "baseline" if self.against == "baseline" else "last run"
        note = counter_note(self.previous_context, run_context(rows, self.settings.count), label)
        if note:
            lines.append(f"flop budget: {note}")
        changed = []
        for row in sorted(rows, key=lambda r: r.nodeid):
            before = self.previous_details.get(row.nodeid)
            added, removed = ops_change(before, row_detail(row)) if before else ([], [])
            if added or removed:
                changed.append(f"  {row.nodeid}: {ops_change_text(added, removed)}")
        if changed:
            lines.append(f"ops changed since the {label} (a delta may come from them):")
            lines += changed[:GONE_SHOWN]
            if len(changed) > GONE_SHOWN:
                lines.append(f"  … and {len(changed) - GONE_SHOWN} more")
        return lines

    def _write_report(self, kind: str, path: Path, rows: list[TestRow]) -> None:
        path = _report_path(self.config, path)
        try:
            self._write_report_file(kind, path, rows)
        except OSError as error:
            self.errors.append(f"flop budget: could not write the {kind} report to {path}: {error}")

    def _write_report_file(self, kind: str, path: Path, rows: list[TestRow]) -> None:
        from .exports import commit, json_report, markdown_report, run_context

        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "json":
            report = json_report(
                rows,
                self.outcomes,
                self.previous,
                self.settings.count,
                self.compared_with,
                self._gone(),
                commit(self.config.rootpath),
            )
            text = json.dumps(report, indent=2, allow_nan=False)  # NaN is not JSON
            path.write_text(text + "\n", encoding="utf-8")
        else:
            text = markdown_report(
                rows,
                self.previous,
                self.against,
                self._gone(),
                details=self.previous_details,
                context=self.previous_context,
                now=run_context(rows, self.settings.count),
                threshold=self.fail_on_increase,
                source=self.baseline_source,
            )
            summary = os.environ.get("GITHUB_STEP_SUMMARY")
            appending = bool(summary) and Path(summary).resolve() == path.resolve()
            with path.open("a" if appending else "w", encoding="utf-8") as stream:
                stream.write(text)
        self.messages.append(f"flop budget: wrote the {kind} report to {path}")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        rows = self._rows()
        if os.environ.get("GITHUB_ACTIONS") == "true":
            for row in rows:
                if row.violations or row.strict_failure or row.module_errors:
                    terminalreporter.write_line(_github_error(row))
        verbosity = terminalreporter.verbosity
        if verbosity <= -2 or not (rows or self.messages):
            self._write_errors(terminalreporter)
            return
        from .report import detail_lines, summary_lines

        if rows:
            width = terminalreporter._tw.fullwidth
            markup = terminalreporter._tw.markup  # colours only when pytest colours its output
            lines = summary_lines(rows, self.previous, verbosity, width, self.against, markup)
            if verbosity >= 0:
                terminalreporter.write_sep("=", "flop budget")
            for line in lines:
                terminalreporter.write_line(line)
            for line in self._summary_notes(rows):
                terminalreporter.write_line(line)
        if self.terminal_report:
            for row in sorted(rows, key=lambda r: r.nodeid):
                terminalreporter.write_sep("-", "flop report")
                for line in detail_lines(row, self.depth):
                    terminalreporter.write_line(line)
        for message in self.messages:
            terminalreporter.write_line(message)
        self._write_errors(terminalreporter)

    def _write_errors(self, terminalreporter: Any) -> None:
        for error in self.errors:
            terminalreporter.write_line(error, red=True, bold=True)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """A property value: `:` and `,` too, or the runner ends the properties at the node id's
    `::` and splits them at a parameter id's `,` (as @actions/core's escapeProperty)."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _github_error(row: TestRow) -> str:
    """A GitHub Actions workflow command: an error annotation on the test's file and line."""
    path, _, line = row.location.rpartition(":")
    properties = {"file": path, "line": line, "title": f"FLOP budget ({row.nodeid})"}
    listed = ",".join(f"{key}={_escape_property(value)}" for key, value in properties.items())
    message = "\n".join(row.failure_lines)
    return f"::error {listed}::{_escape_data(message)}"
