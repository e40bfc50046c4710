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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .budget import Budget, BudgetError, budgeted_by_config, check, parse_percent, resolve
from .config import Config, find_pyproject, load_config, validate_marker

if TYPE_CHECKING:
    from .counter import Counting
    from .registry import Extensions
    from .report import TestRow
    from .result import Profile

# The rendering layer (report, exports) is imported where it is used: a project whose tests
# budget nothing never loads it.

MARKER = "flop_budget"
MARKER_HELP = (
    "flop_budget(max_gflops=..., max_params=..., tolerance=..., strict=...): count the torch "
    "work of this test's call phase and fail it when a limit is exceeded (with strict=True, also "
    "when it ran ops with no cost formula). Keys: max_flops, max_kflops, max_mflops, "
    "max_gflops, max_tflops, max_macs, max_gmacs, max_params, max_nonzero_params, "
    "max_sparse_flops, max_param_bytes, tolerance, strict."
)
LAST_RUN_KEY = "flopbudget/last-run"
REPORT_ATTRIBUTE = "flopbudget"


class FlopBudgetWarning(pytest.PytestWarning):
    """A budgeted test measured nothing."""


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
        type=int,
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
        self.messages: list[str] = []
        self.disabled = bool(config.getoption("flop_budget_disable"))
        self.updating = bool(config.getoption("flop_budget_update"))
        self.strict = bool(config.getoption("flop_strict"))
        self.terminal_report, self.report_files = _report_targets(config.getoption("flop_report"))
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
        self.last_run: dict[str, dict] = (cache.get(LAST_RUN_KEY, {}) if cache else {}) or {}
        baseline = config.getoption("flop_baseline")
        if baseline:
            from .exports import BaselineError, load_baseline

            try:
                self.previous = load_baseline(Path(baseline))
            except BaselineError as error:
                raise pytest.UsageError(str(error)) from None
            self.against = "baseline"
            self.compared_with = f"baseline {baseline}"
        else:
            self.previous, self.against, self.compared_with = self.last_run, "last", "last run"

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
            pinned = any(key not in ("tolerance", "strict") for key in kwargs)
            state = item.stash[BUDGET_KEY] = TestBudget(budget, self.settings.count, pinned)
            state.extensions = _extensions(item)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected = [item.nodeid for item in session.items]

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.collected = list(ids)

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
        from .registry import using
        from .report import build_row, failure_text, growth_messages, measured

        # The test's own failure propagates from the yield and wins over any budget.
        with using(state.extensions), counting(count=state.count, only_modules=True) as whole_call:
            result = yield
        profiles = state.recorded or [whole_call.profile]
        values = measured(profiles)
        violations = check(values, state.budget)
        growth = []
        if self.fail_on_increase is not None:
            previous = self.previous.get(item.nodeid)
            growth = growth_messages(values, previous, self.fail_on_increase, self.against)
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
        if over_budget or (row.strict_failure and not self.disabled):
            pytest.fail(failure_text(row), pytrace=False)
        return result

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
        for kind, path in self.report_files:
            self._write_report(kind, path, rows)
        if self.updating:
            from .update import update_pyproject  # tomlkit only when rewriting

            pinned = {row.nodeid: row.location for row in rows if row.pinned}
            collected = self.collected if _full_run(self.config) else None
            result = update_pyproject(self.pyproject, self.settings, rows, pinned, collected)
            self.messages += result.lines(self.pyproject)
        cache = getattr(self.config, "cache", None)
        if cache is not None and rows:
            from .exports import totals

            remembered = dict(self.last_run)
            remembered.update({row.nodeid: totals(row) for row in rows})
            cache.set(LAST_RUN_KEY, remembered)

    def _write_report(self, kind: str, path: Path, rows: list[TestRow]) -> None:
        path = path if path.is_absolute() else self.config.invocation_params.dir / path
        from .exports import json_report, markdown_report

        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "json":
            report = json_report(
                rows,
                self.outcomes,
                self.previous,
                self.settings.count,
                self.compared_with,
                self._gone(),
            )
            path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        else:
            text = markdown_report(rows, self.previous, self.against, self._gone())
            summary = os.environ.get("GITHUB_STEP_SUMMARY")
            appending = bool(summary) and Path(summary).resolve() == path.resolve()
            with path.open("a" if appending else "w", encoding="utf-8") as stream:
                stream.write(text)
        self.messages.append(f"flop budget: wrote the {kind} report to {path}")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        rows = self._rows()
        if os.environ.get("GITHUB_ACTIONS") == "true":
            for row in rows:
                if row.violations or row.strict_failure:
                    terminalreporter.write_line(_github_error(row))
        verbosity = terminalreporter.verbosity
        if verbosity <= -2 or not (rows or self.messages):
            return
        from .report import detail_lines, summary_lines

        if rows:
            width = terminalreporter._tw.fullwidth
            lines = summary_lines(rows, self.previous, verbosity, width, self.against)
            if verbosity >= 0:
                terminalreporter.write_sep("=", "flop budget")
            for line in lines:
                terminalreporter.write_line(line)
            gone = self._gone()
            if gone:
                terminalreporter.write_line(f"gone since the baseline: {', '.join(gone)}")
        if self.terminal_report:
            for row in sorted(rows, key=lambda r: r.nodeid):
                terminalreporter.write_sep("-", "flop report")
                for line in detail_lines(row, self.depth):
                    terminalreporter.write_line(line)
        for message in self.messages:
            terminalreporter.write_line(message)


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
