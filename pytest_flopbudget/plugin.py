"""The pytest plugin: registered through the `pytest11` entry point.

pytest imports this module in every run wherever the package is installed, so nothing here
imports torch at module level: the counter is imported when a budgeted test actually runs.

Flow: budgets are read and validated at start-up (`[tool.flopbudget]`) and at collection (marker
arguments); a budgeted test's call phase runs under the counter; its row travels on the call
report; the controller prints the summary and remembers the run in pytest's cache.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .budget import Budget, BudgetError, budgeted_by_config, check, resolve
from .config import Config, find_pyproject, load_config, validate_marker
from .report import TestRow, build_row, failure_text, measured, summary_lines

if TYPE_CHECKING:
    from .counter import Counting
    from .result import Profile

MARKER = "flop_budget"
MARKER_HELP = (
    "flop_budget(max_gflops=..., max_params=..., tolerance=...): count the torch work of this "
    "test's call phase and fail it when a limit is exceeded. Keys: max_flops, max_kflops, "
    "max_mflops, max_gflops, max_tflops, max_macs, max_gmacs, max_params, max_nonzero_params, "
    "max_sparse_flops, max_param_bytes, tolerance."
)
LAST_RUN_KEY = "flopbudget/last-run"
REPORT_ATTRIBUTE = "flopbudget"


class FlopBudgetWarning(pytest.PytestWarning):
    """A budgeted test measured nothing."""


class TestBudget:
    """What the plugin knows about one budgeted test; kept in `item.stash`."""

    __test__ = False

    def __init__(self, budget: Budget, count: str) -> None:
        self.budget = budget
        self.count = count
        self.recorded: list[Profile] = []


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
        "--flop-budget-disable",
        action="store_true",
        default=False,
        help="measure and report budgeted tests, but fail none of them for their budget",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    settings = load_config(find_pyproject(config.rootpath, config.inipath))
    config.pluginmanager.register(FlopBudgetSession(config, settings), "flopbudget-session")


class FlopBudgetSession:
    """The session's state: the validated settings, and the rows the controller collects."""

    def __init__(self, config: pytest.Config, settings: Config) -> None:
        self.config = config
        self.settings = settings
        self.rows: dict[str, dict] = {}
        self.disabled = bool(config.getoption("flop_budget_disable"))
        cache = getattr(config, "cache", None)
        self.last_run: dict[str, dict] = (cache.get(LAST_RUN_KEY, {}) if cache else {}) or {}

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
            item.stash[BUDGET_KEY] = TestBudget(budget, self.settings.count)

    # ---- the call phase: count, check, fail ---------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        state = item.stash.get(BUDGET_KEY, None)
        if state is None:
            return (yield)
        from .counter import counting

        # The test's own failure propagates from the yield and wins over any budget.
        with counting(count=state.count, only_modules=True) as whole_call:
            result = yield
        profiles = state.recorded or [whole_call.profile]
        violations = check(measured(profiles), state.budget)
        path, line, _ = item.location
        location = f"{path}:{(line or 0) + 1}"
        row = build_row(item.nodeid, location, profiles, state.budget, violations)
        item.stash[ROW_KEY] = row.to_dict()
        if not row.ran_torch_work:
            warnings.warn(
                FlopBudgetWarning(
                    f"{item.nodeid} is budgeted but ran no torch work through a module: "
                    "nothing was measured (call the model, or use the flop_budget fixture)"
                ),
                stacklevel=1,
            )
        if violations and not self.disabled:
            pytest.fail(failure_text(row), pytrace=False)
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
        report = yield
        if call.when == "call" and ROW_KEY in item.stash:
            setattr(report, REPORT_ATTRIBUTE, item.stash[ROW_KEY])
        return report

    # ---- the controller: collect, summarize, remember -----------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        row = getattr(report, REPORT_ATTRIBUTE, None)
        if report.when == "call" and row is not None:
            self.rows[report.nodeid] = row

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.rows or terminalreporter.verbosity <= -2:
            return
        rows = [TestRow.from_dict(row) for row in self.rows.values()]
        verbosity = terminalreporter.verbosity
        lines = summary_lines(rows, self.last_run, verbosity, terminalreporter._tw.fullwidth)
        if verbosity >= 0:
            terminalreporter.write_sep("=", "flop budget")
        for line in lines:
            terminalreporter.write_line(line)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        cache = getattr(self.config, "cache", None)
        if cache is None or hasattr(self.config, "workerinput") or not self.rows:
            return
        remembered = dict(self.last_run)
        for nodeid, row in self.rows.items():
            remembered[nodeid] = {
                key: row[key] for key in ("flops", "macs", "params", "nonzero_params")
            }
        cache.set(LAST_RUN_KEY, remembered)
