"""The flop_budget fixture's profile_each: the distribution recorded for the test, the count
convention of the project, the progress bar on pytest's terminal."""

from __future__ import annotations

# Imported here, so that the inner runs (in this process) share the one module whose clock
# they replace: pytester drops the modules an inner run imported first.
import pytest_flopbudget.engine.distribution  # noqa: F401
from tests.support import FLOPS, LINEAR_MODELS, MACS, write_pyproject, write_tests

# Linear(10, 10) on a (4, 10) input: 400 MACs, 840 FLOPs ("all"), 800 FLOPs ("matmul").


def test_fixture_profile_each_records_the_distribution(pytester):
    write_pyproject(pytester, '[tool.flopbudget]\ncount = "matmul"\n')
    write_tests(
        pytester,
        LINEAR_MODELS,
        f"""
        from pytest_flopbudget import Distribution
        from pytest_flopbudget.plugin.fixture import BUDGET_KEY

        def test_a(flop_budget, request):
            dist = flop_budget.profile_each(nn.Linear(10, 10), [x(), (x(),), {{"input": x()}}])
            assert isinstance(dist, Distribution) and dist.count == 3
            assert dist.max.flops == 2 * {MACS}  # the project's "matmul" convention
            assert request.node.stash[BUDGET_KEY].distributions == [dist]

        def test_limit(flop_budget):
            assert flop_budget.profile_each(nn.Linear(10, 10), [x()] * 5, limit=2).count == 2
        """,
    )
    assert 2 * MACS != FLOPS
    pytester.runpytest().assert_outcomes(passed=2)


def test_progress_bar_on_pytests_terminal(pytester):
    """Past two seconds (a clock that advances 1 s per reading), on a terminal: the bar is
    drawn in place on a line of its own, and the test's result still follows."""
    write_tests(
        pytester,
        LINEAR_MODELS,
        """
        from pytest_flopbudget.engine import distribution

        class Clock:
            now = 0.0

            def monotonic(self):
                self.now += 1.0
                return self.now

        def test_a(flop_budget, request, monkeypatch):
            reporter = request.config.pluginmanager.get_plugin("terminalreporter")
            monkeypatch.setattr(reporter, "isatty", lambda: True)
            monkeypatch.setattr(distribution, "time", Clock())
            flop_budget.profile_each(nn.Linear(10, 10), [x()] * 3)
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    # the captured output splits lines at "\r" too: each redraw reads as a line
    result.stdout.fnmatch_lines(
        [
            "test_x.py ",
            "",  # the bar's own line, its redraws starting with "\r"
            "profile_each: 2/3 samples [#############.......] 2.0 s",
            "profile_each: 3/3 samples [####################] 3.0 s",
            "profile_each: 3/3 samples [####################] 4.0 s",
            "test_x.py .*",  # the result follows its file's name again, on a line of its own
        ],
        consecutive=True,
    )


def test_no_progress_bar_when_the_output_is_not_a_terminal(pytester):
    write_tests(
        pytester,
        LINEAR_MODELS,
        """
        from pytest_flopbudget.engine import distribution

        class Clock:
            now = 0.0

            def monotonic(self):
                self.now += 1.0
                return self.now

        def test_a(flop_budget, monkeypatch):
            monkeypatch.setattr(distribution, "time", Clock())
            flop_budget.profile_each(nn.Linear(10, 10), [x()] * 3)
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "profile_each:" not in result.stdout.str()
