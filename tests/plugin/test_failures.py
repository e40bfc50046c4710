"""The failure of an over-budget test, a test's own failure, no work inside a module, and
--flop-budget-disable."""

from __future__ import annotations

from pytest_flopbudget.text import human
from tests.projects import budget_warnings, load_json
from tests.support import (
    FLOPS,
    LINEAR_MODELS,
    PARAMS,
    pct,
    row_of,
    summary,
    write_tests,
)

# --- 8. the failure ------------------------------------------------------------------------------


def test_over_budget_fails_in_the_call_phase_with_one_line_per_limit(pytester):
    write_tests(
        pytester,
        LINEAR_MODELS,
        """
        @pytest.mark.flop_budget(max_flops=500, max_params=50, max_macs=10_000)
        def test_a():
            nn.Linear(10, 10)(x())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1, errors=0)
    result.stdout.fnmatch_lines(
        [
            "*_ test_a _*",
            f"FLOP budget exceeded: {FLOPS} FLOPs > 500 FLOPs ({pct(FLOPS, 500)})",
            f"params {PARAMS} > 50 ({pct(PARAMS, 50)})",
        ]
    )
    assert (pct(FLOPS, 500), pct(PARAMS, 50)) == ("+68.0%", "+120.0%")
    assert "MAC budget exceeded" not in result.stdout.str()  # 400 MACs are within 10K
    reports = pytester.inline_run().getreports("pytest_runtest_logreport")
    assert [(r.when, r.outcome) for r in reports if not r.passed] == [("call", "failed")]


def test_failure_lists_the_top_modules_and_the_uncounted_ops(pytester):
    two = 2 * FLOPS
    write_tests(
        pytester,
        LINEAR_MODELS,
        """
        @pytest.mark.flop_budget(max_flops=500)
        def test_two():
            Two()(x())

        @pytest.mark.flop_budget(max_flops=500)
        def test_uncounted():
            WithUncounted()(x())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_two _*",
            f"FLOP budget exceeded: {two} FLOPs > 500 FLOPs ({pct(two, 500)})",
            "top modules by FLOPs (all convention):",
            f"  *.a (Linear) * {FLOPS} FLOPs * 50.0%",
            f"  *.b (Linear) * {FLOPS} FLOPs * 50.0%",
            "*_ test_uncounted _*",
            f"FLOP budget exceeded: {FLOPS} FLOPs > 500 FLOPs ({pct(FLOPS, 500)})",
            "uncounted ops (counted as 0 FLOPs): aten::logcumsumexp ×1",
        ]
    )


# --- 9. a test's own failure wins, and its row still shows what it measured (issue 17, 8) ------

OWN_FAILURES = """
@pytest.mark.flop_budget(max_flops=1, max_params=1)
def test_over_and_failing():
    nn.Linear(10, 10)(x())
    assert 1 + 1 == 3, "the test's own reason"

@pytest.mark.flop_budget(max_gflops=1)
def test_within_and_failing():
    Two()(x())
    raise ValueError("after the model")

@pytest.mark.flop_budget(max_gflops=1)
@pytest.mark.xfail(reason="expected")
def test_xfail():
    nn.Linear(10, 10)(x())
    assert False

@pytest.mark.flop_budget(max_gflops=1)
def test_skipped():
    nn.Linear(10, 10)(x())
    pytest.skip("after the model")

@pytest.mark.flop_budget(max_gflops=1)
def test_passes():
    nn.Linear(10, 10)(x())
"""


def test_own_failure_is_kept_and_its_row_shows_what_it_measured(pytester):
    write_tests(pytester, LINEAR_MODELS, OWN_FAILURES)
    result = pytester.runpytest("--flop-report=json:r.json", "--flop-report=markdown:r.md")
    result.assert_outcomes(failed=2, passed=1, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(["*AssertionError: the test's own reason*"])
    result.stdout.fnmatch_lines(["*ValueError: after the model*"])
    output = result.stdout.str()
    assert "FLOP budget exceeded" not in output  # the plugin adds no failure of its own
    assert "params 110 > 1" not in output
    # the failed tests first, with their measurements; no row for the skip or the xfail
    rows = summary(result)
    assert [(r["test"], r["status"], r["FLOPs"], r["Δbudget"]) for r in rows] == [
        ("test_x.py::test_over_and_failing", "failed", str(FLOPS), pct(FLOPS, 1)),
        ("test_x.py::test_within_and_failing", "failed", human(2 * FLOPS), pct(2 * FLOPS, 10**9)),
        ("test_x.py::test_passes", "new", str(FLOPS), pct(FLOPS, 10**9)),
    ]
    tests = load_json(pytester, "r.json")["tests"]
    entries = [(t["nodeid"], t["outcome"], t["status"], t["totals"]["flops"]) for t in tests]
    assert entries == [
        ("test_x.py::test_over_and_failing", "failed", "failed", FLOPS),
        ("test_x.py::test_passes", "passed", "new", FLOPS),
        ("test_x.py::test_within_and_failing", "failed", "failed", 2 * FLOPS),
    ]
    markdown = (pytester.path / "r.md").read_text(encoding="utf-8")
    assert markdown.startswith(
        "### ❌ FLOP budget: 2 budgeted tests failed: 2 failed for their own reason\n"
    )
    assert "| 💥 failed | `test_x.py::test_over_and_failing` |" in markdown


def test_a_failed_run_is_not_the_last_run(pytester):
    """What a failed test measured may stop short of its model: the next run's Δlast does not
    compare with it."""
    test = """
        @pytest.mark.flop_budget(max_gflops=1)
        def test_a():
            nn.Linear(10, 10)(x())
            assert {passes}
        """
    write_tests(pytester, LINEAR_MODELS, test.format(passes=False))
    pytester.runpytest().assert_outcomes(failed=1)
    write_tests(pytester, LINEAR_MODELS, test.format(passes=True))
    row = row_of(pytester.runpytest(), "test_x.py::test_a")
    assert (row["status"], row["Δlast"]) == ("new", "-")


# --- 10. a budgeted test that ran no work inside a module (issue 17, 16) ------------------------

NO_MODULE_WORK = (
    "FlopBudgetWarning: test_x.py::{name} is budgeted but ran no work inside a module: nothing "
    "was measured (the marker counts what runs in a module's forward; call the model, or count a "
    "function such as F.linear with the flop_budget fixture: `with flop_budget.counting(): ...`)"
)


def test_budgeted_test_without_module_work_is_reported_and_warned_with_how_to_count(pytester):
    write_tests(
        pytester,
        LINEAR_MODELS,
        """
        import torch.nn.functional as F

        @pytest.mark.flop_budget(max_flops=500)
        def test_functional():
            F.linear(x(), torch.randn(10, 10), torch.randn(10))  # torch, but in no module

        @pytest.mark.flop_budget(max_flops=500)
        def test_counted(flop_budget):
            with flop_budget.counting():  # what the warning says to do
                F.linear(x(), torch.randn(10, 10), torch.randn(10))
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)  # test_counted: measured, and over 500
    assert budget_warnings(result) == [NO_MODULE_WORK.format(name="test_functional")]
    row = row_of(result, "test_x.py::test_functional")
    assert row["status"] == "no-module-work"  # torch ran: not "no torch work"
    assert row["FLOPs"] == "-"  # not 0 FLOPs
    assert row["Δbudget"] == "-"
    counted = row_of(result, "test_x.py::test_counted")
    assert (counted["status"], counted["FLOPs"]) == ("over:flops", str(FLOPS))  # 840: F.linear


def test_disable_measures_and_reports_but_fails_nothing(pytester):
    write_tests(
        pytester,
        LINEAR_MODELS,
        """
        @pytest.mark.flop_budget(max_flops=500)
        def test_a():
            nn.Linear(10, 10)(x())
        """,
    )
    result = pytester.runpytest("--flop-budget-disable")
    result.assert_outcomes(passed=1)
    assert "FLOP budget exceeded" not in result.stdout.str()
    row = row_of(result, "test_x.py::test_a")
    assert (row["status"], row["FLOPs"], row["Δbudget"]) == (
        "over:flops",
        str(FLOPS),
        pct(FLOPS, 500),
    )
