"""The session object the plugin registers: which tests are budgeted, the call phase of each
(count, verdict, fail), and the rows the controller collects. What happens at the end of the
session (report files, the update, the cache, the summary) is in `outputs`."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flopbudget.budgets.config import (
    Config,
    budgeted_by_config,
    entry_line,
    unmatched_entries,
)
from pytest_flopbudget.budgets.values import BudgetError
from pytest_flopbudget.plugin.earlier import read_earlier
from pytest_flopbudget.plugin.fixture import BUDGET_KEY, ROW_KEY, TestBudget
from pytest_flopbudget.plugin.options import full_run, read_options
from pytest_flopbudget.plugin.warn import FlopBudgetWarning, warn
from pytest_flopbudget.text import suggest

if TYPE_CHECKING:
    from pytest_flopbudget.budgets.verdict import TestRow
    from pytest_flopbudget.engine.distribution import Distribution
    from pytest_flopbudget.engine.profile import Profile
    from pytest_flopbudget.engine.registry import Extensions

__all__ = ["MARKER", "REPORT_ATTRIBUTE", "FlopBudgetSession", "extensions_of"]

MARKER = "flop_budget"
REPORT_ATTRIBUTE = "flopbudget"


def extensions_of(item: pytest.Item) -> Extensions:
    """The formulas and module-cost hooks a budgeted test counts with; a malformed one is a
    usage error naming its conftest or entry point."""
    from pytest_flopbudget.engine.registry import ExtensionError, for_pytest

    try:
        return for_pytest(item.ihook)
    except ExtensionError as error:
        raise pytest.UsageError(f"flop budget: {error}") from None


class FlopBudgetSession:
    """The session's state: the validated settings and options, what the earlier run measured,
    and the rows the controller collects from the test reports."""

    def __init__(self, config: pytest.Config, settings: Config, pyproject: Path) -> None:
        self.config = config
        self.settings = settings
        self.pyproject = pyproject
        self.options = read_options(config)
        if self.options.hardware is not None:
            from pytest_flopbudget.engine.hardware import HardwareError, find_hardware

            try:
                find_hardware(self.options.hardware, settings.hardware)
            except HardwareError as error:
                raise pytest.UsageError(f"--flop-hardware: {error}") from None
        self.fail_on_increase = (
            self.options.fail_on_increase
            if self.options.fail_on_increase is not None
            else settings.fail_on_increase
        )
        self.earlier = read_earlier(config, self.options.baseline)
        self.history = self._read_history()
        self.rows: dict[str, dict] = {}
        self.outcomes: dict[str, str] = {}
        self.collected: list[str] = []
        self.deselected = False  # -k, -m, a sharding plugin...: a partial run
        self.unmatched_checked = False
        self.messages: list[str] = []
        self.errors: list[str] = []  # a report or update that could not be written, one line each

    def _read_history(self) -> list[dict]:
        """The entries of --flop-history's file (on the controller), with a warning when it
        could not be read whole."""
        if self.options.history is None or hasattr(self.config, "workerinput"):
            return []
        from pytest_flopbudget.reporting.history import read_history

        entries, problem = read_history(self.options.history)
        if problem is not None:
            warn(self.config, f"--flop-history: {problem}")
        return entries

    # ---- collection: which tests are budgeted, with what budget --------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        from pytest_flopbudget.budgets.resolve import SETTINGS, resolve, validate_marker

        for item in items:
            marker = item.get_closest_marker(MARKER)
            uses_fixture = MARKER in getattr(item, "fixturenames", ())
            if marker is None and not uses_fixture:
                if not budgeted_by_config(item.nodeid, self.settings):
                    continue
            kwargs = dict(marker.kwargs) if marker is not None else {}
            try:
                if marker is not None:
                    validate_marker(kwargs, marker.args, item.nodeid)
                budget = resolve(
                    kwargs,
                    item.nodeid,
                    self.settings,
                    self.options.hardware,
                    self.options.warn_on_increase,
                )
            except BudgetError as error:
                raise pytest.UsageError(str(error)) from None
            pinned = any(key not in SETTINGS for key in kwargs)
            item.stash[BUDGET_KEY] = TestBudget(
                budget, self.settings.count, pinned, extensions_of(item)
            )

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
        if self.deselected or not full_run(self.config):
            return
        path = self.settings.path
        for entry in unmatched_entries(self.settings, self.collected):
            kind = "glob" if entry.is_glob else "node id"
            warn(
                self.config,
                f'[tool.flopbudget.tests."{entry.pattern}"] matched no collected test'
                f"{suggest(entry.pattern, self.collected)} (a {kind}: renamed or removed test? "
                "--flop-budget-update lists it as stale)",
                where=(path, entry_line(path, entry.pattern)) if path else None,
            )

    # ---- the call phase: count, judge, fail ---------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        state = item.stash.get(BUDGET_KEY, None)
        if state is None and not item.ihook.pytest_flopbudget_formulas.get_hookimpls():
            return (yield)
        from pytest_flopbudget.engine.registry import using

        if state is None:
            with using(extensions_of(item)):  # its conftest formulas for profile() in the test
                return (yield)
        from pytest_flopbudget.engine.counter import counting

        whole_call = None
        try:
            with (
                using(state.extensions),
                counting(count=state.count, only_modules=True) as whole_call,
            ):
                result = yield
        except BaseException as error:
            # The test's own failure propagates and wins over any budget: its row keeps what
            # ran before it, marked failed; the plugin adds no failure of its own.
            if whole_call is not None and isinstance(error, (Exception, pytest.fail.Exception)):
                self._record(item, state, whole_call.profile, failed=True)
            raise
        row = self._record(item, state, whole_call.profile)
        from pytest_flopbudget.budgets.verdict import fails

        if fails(row, disabled=self.options.disabled, updating=self.options.updating):
            from pytest_flopbudget.plugin.outputs import module_changes
            from pytest_flopbudget.reporting.terminal import failure_text

            pytest.fail(failure_text(row, module_changes(self, row)), pytrace=False)
        return result

    def _record(
        self, item: pytest.Item, state: TestBudget, whole_call: Profile, failed: bool = False
    ) -> TestRow:
        """The test's row (what the fixture recorded, else the whole call) on the item, for its
        report, and its totals as junit properties; `failed`: the test failed for its own
        reason."""
        from dataclasses import replace

        distributions = [d for d in state.distributions if d.count]
        inputs = {id(p) for d in distributions for p in d.profiles}
        recorded = [p for p in state.recorded if id(p) not in inputs]
        profiles = recorded or ([] if distributions else [whole_call])
        row = replace(self._verdict(item, state, profiles, distributions), failed=failed)
        item.stash[ROW_KEY] = row.to_dict()
        for key, value in row.totals.items():
            if value is not None:  # unknown (nonzero params on meta, a latency with no device)
                item.user_properties.append((f"flopbudget_{key}", value))
        if not failed:  # a test that stopped short measured less: no warning about it
            every = [*profiles, *(p for d in distributions for p in d.profiles)]
            _warn_unmeasured(item.nodeid, row, sum(p.unseen_thread_calls for p in every))
        return row

    def _verdict(
        self,
        item: pytest.Item,
        state: TestBudget,
        profiles: list[Profile],
        distributions: list[Distribution],
    ) -> TestRow:
        from pytest_flopbudget.budgets.verdict import verdict
        from pytest_flopbudget.engine.hardware import find_hardware
        from pytest_flopbudget.engine.registry import fingerprint_for

        device = state.budget.hardware

        path, line, _ = item.location
        return verdict(
            item.nodeid,
            f"{path}:{(line or 0) + 1}",
            profiles,
            state.budget,
            previous=self.earlier.previous.get(item.nodeid),
            fail_on_increase=self.fail_on_increase,
            against=self.earlier.against,
            pinned=state.pinned,
            strict=state.budget.strict or self.options.strict,
            fingerprint=fingerprint_for(state.extensions),
            detail_depth=self.options.depth if self.options.terminal_report else None,
            hardware=find_hardware(device, self.settings.hardware) if device else None,
            distributions=distributions,
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
        report = yield
        if call.when == "call" and ROW_KEY in item.stash:
            setattr(report, REPORT_ATTRIBUTE, item.stash[ROW_KEY])
        return report

    # ---- the controller: collect the rows, then the end of the session ------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        row = getattr(report, REPORT_ATTRIBUTE, None)
        if report.when == "call" and row is not None:
            if row.get("failed") and not report.failed:
                return  # it raised, but pytest calls it skipped (xfail): no row, as a skip
            self.rows[report.nodeid] = row
            self.outcomes[report.nodeid] = report.outcome

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not hasattr(self.config, "workerinput"):
            from pytest_flopbudget.plugin.outputs import finish

            finish(self, session)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from pytest_flopbudget.plugin.outputs import terminal_summary

        terminal_summary(self, terminalreporter)


def _warn_unmeasured(nodeid: str, row: TestRow, unseen: int) -> None:
    """Warn when the counter could not see some of a test's work, or saw none at all."""
    if unseen:
        warnings.warn(
            FlopBudgetWarning(
                f"{nodeid} ran {unseen} module call(s) on another thread: their torch "
                "work is not counted (the counter sees only the test's thread), so its FLOPs "
                "are a lower bound; run the model on the test's thread"
            ),
            stacklevel=1,
        )
    if not row.ran_torch_work:
        warnings.warn(
            FlopBudgetWarning(
                f"{nodeid} is budgeted but ran no work inside a module: nothing was measured "
                "(the marker counts what runs in a module's forward; call the model, or count a "
                "function such as F.linear with the flop_budget fixture: "
                "`with flop_budget.counting(): ...`)"
            ),
            stacklevel=1,
        )
