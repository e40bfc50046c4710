"""fail_on_increase: growth against a baseline or the last run fails the grown test."""

from __future__ import annotations

import pytest

from pytest_flopbudget.text import human
from tests.support import (
    FLOPS,
    PARAMS,
    TREE_MODELS,
    linear_flops,
    linear_params,
    pct,
    summary,
    write_pyproject,
    write_tests,
)

# Linear(10, 20): twice the work and the parameters.
FLOPS_20, PARAMS_20 = linear_flops(4, 10, 20), linear_params(10, 20)


assert (FLOPS_20, PARAMS_20) == (1680, 220)


def failures(result: pytest.RunResult) -> list[tuple[str, str]]:
    """(node id, phase) of every failed report of an in-process run."""
    reports = result.reprec.getreports("pytest_runtest_logreport")
    return [(r.nodeid, r.when) for r in reports if r.failed]


# --- 6. --flop-fail-on-increase / fail_on_increase -----------------------------------------------

GROWTH_TESTS = """
@pytest.mark.flop_budget(max_gflops=1)
def test_grown():
    nn.Linear(10, {fan_out})(x())

@pytest.mark.flop_budget(max_gflops=1)
def test_within():
    {within}

@pytest.mark.flop_budget(max_gflops=1)
def test_same():
    nn.Linear(10, 10)(x())
"""


GROWTH_BEFORE = GROWTH_TESTS.format(fan_out=10, within="nn.Linear(10, 10)(x())")


# a ReLU after the Linear: 1 FLOP per output element, 840 -> 880 FLOPs (+4.8%), same params
GROWTH_AFTER = GROWTH_TESTS.format(
    fan_out=20, within="nn.Sequential(nn.Linear(10, 10), nn.ReLU())(x())"
)


WITHIN_FLOPS = FLOPS + 4 * 10


assert pct(WITHIN_FLOPS, FLOPS) == "+4.8%"


def growth_lines(against: str) -> list[str]:
    assert (human(FLOPS, "FLOPs"), human(FLOPS_20, "FLOPs")) == ("840 FLOPs", "1.68 KFLOPs")
    return [
        f"FLOPs grew {pct(FLOPS_20, FLOPS)} over the {against}: 840 FLOPs → 1.68 KFLOPs "
        "(allowed +5.0%)",
        f"params grew {pct(PARAMS_20, PARAMS)} over the {against}: {PARAMS} → {PARAMS_20} "
        "(allowed +5.0%)",
    ]


# one rule for a percentage from every source: a number of percent, a string with or without %
@pytest.mark.parametrize(
    ("source", "written"),
    [
        ("command line", "5%"),
        ("command line", "5"),
        ("pyproject", '"5%"'),
        ("pyproject", '"5"'),
        ("pyproject", "5"),
    ],
)
def test_fail_on_increase_fails_the_grown_test_in_its_call_phase(pytester, source, written):
    if source == "pyproject":
        write_pyproject(pytester, f"[tool.flopbudget]\nfail_on_increase = {written}\n")
        option = []
    else:
        option = [f"--flop-fail-on-increase={written}"]
    write_tests(pytester, TREE_MODELS, GROWTH_BEFORE)
    pytester.runpytest("--flop-report=json:base.json").assert_outcomes(passed=3)
    write_tests(pytester, TREE_MODELS, GROWTH_AFTER)

    result = pytester.runpytest("--flop-baseline=base.json", *option)
    result.assert_outcomes(passed=2, failed=1)
    assert failures(result) == [("test_x.py::test_grown", "call")]
    (report,) = [r for r in result.reprec.getreports("pytest_runtest_logreport") if r.failed]
    assert str(report.longrepr).splitlines() == growth_lines("baseline")
    rows = {row["test"]: row for row in summary(result)}
    assert (
        rows["test_x.py::test_grown"]["status"] == "grew:flops+params"
    )  # within its limits, grown past the allowance
    assert rows["test_x.py::test_within"]["Δbaseline"] == pct(WITHIN_FLOPS, FLOPS)
    assert rows["test_x.py::test_within"]["status"] == "ok"


def test_fail_on_increase_compares_with_the_last_run_and_the_option_overrides_pyproject(
    pytester,
):
    write_pyproject(pytester, '[tool.flopbudget]\nfail_on_increase = "5%"\n')
    write_tests(pytester, TREE_MODELS, GROWTH_BEFORE)
    pytester.runpytest().assert_outcomes(passed=3)
    write_tests(pytester, TREE_MODELS, GROWTH_AFTER)

    loose = pytester.runpytest("--flop-fail-on-increase=150%")  # overrides the 5%
    loose.assert_outcomes(passed=3)

    write_tests(pytester, TREE_MODELS, GROWTH_BEFORE)
    pytester.runpytest().assert_outcomes(passed=3)
    write_tests(pytester, TREE_MODELS, GROWTH_AFTER)
    strict = pytester.runpytest()
    strict.assert_outcomes(passed=2, failed=1)
    assert failures(strict) == [("test_x.py::test_grown", "call")]
    strict.stdout.fnmatch_lines(["*_ test_grown _*", *growth_lines("last run")])
