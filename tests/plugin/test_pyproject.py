"""Budgets from pyproject.toml, their resolution key by key, and tolerance, in a run."""

from __future__ import annotations

import textwrap

import pytest

from tests.support import (
    FLOPS,
    LINEAR_MODELS,
    PARAMS,
    pct,
    summary,
    write_pyproject,
    write_tests,
)

# --- 3. budgets from pyproject.toml alone --------------------------------------------------------


def test_pyproject_exact_and_glob_entries_budget_unmarked_tests(pytester):
    write_pyproject(
        pytester,
        f"""
        [tool.flopbudget]
        max_gflops = 1

        [tool.flopbudget.tests."test_x.py::test_exact"]
        max_flops = {FLOPS - 1}

        [tool.flopbudget.tests."test_x.py::test_glob_*"]
        max_flops = {FLOPS - 2}
        """,
    )
    write_tests(
        pytester,
        LINEAR_MODELS,
        """
        def test_exact():
            nn.Linear(10, 10)(x())

        def test_glob_one():
            nn.Linear(10, 10)(x())

        def test_unbudgeted():
            nn.Linear(10, 10)(x())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_exact _*",
            f"FLOP budget exceeded: {FLOPS} FLOPs > {FLOPS - 1} FLOPs *",
            "*_ test_glob_one _*",
            f"FLOP budget exceeded: {FLOPS} FLOPs > {FLOPS - 2} FLOPs *",
        ]
    )
    budgeted = sorted(row["test"] for row in summary(result))
    assert budgeted == ["test_x.py::test_exact", "test_x.py::test_glob_one"]


def test_pyproject_defaults_alone_budget_nothing(pytester):
    write_pyproject(
        pytester,
        """
        [tool.flopbudget]
        max_flops = 1
        """,
    )
    write_tests(
        pytester,
        LINEAR_MODELS,
        """
        def test_plain():
            nn.Linear(10, 10)(x())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "flop budget" not in result.stdout.str()
    assert "test_plain" not in result.stdout.str()


# --- 4. resolution, key by key -------------------------------------------------------------------


GLOBS = {
    "short": """
        [tool.flopbudget.tests."test_r.py::*"]
        max_flops = 5000
        max_macs = 7000
        """,
    "long": """
        [tool.flopbudget.tests."test_r.py::test_a*"]
        max_flops = 4000
        max_sparse_flops = 8000
        """,
}


@pytest.mark.parametrize("glob_order", [("short", "long"), ("long", "short")])
def test_resolution_order_is_marker_exact_longest_glob_shorter_glob_defaults(pytester, glob_order):
    globs = "".join(textwrap.dedent(GLOBS[name]) for name in glob_order)
    pytester.makepyprojecttoml(
        textwrap.dedent(
            """
            [tool.flopbudget]
            max_flops = 6000
            max_params = 1000
            max_nonzero_params = 999

            [tool.flopbudget.tests."test_r.py::test_a"]
            max_flops = 3000
            max_params = 900

            [tool.flopbudget.tests."test_r.py::test_ac"]
            max_flops = 3500
            """
        )
        + globs
    )
    default, short, long = dict(nonzero_params=999), dict(macs=7000), dict(sparse_flops=8000)
    expected = {
        # flops from the marker, params from the exact entry, the rest from lower levels
        "test_a": {**default, **short, **long, "flops": 2000, "params": 900},
        # exact entry beats both globs; params from the defaults
        "test_ac": {**default, **short, **long, "flops": 3500, "params": 1000},
        # both globs match: the longer wins, the shorter still supplies macs
        "test_ab": {**default, **short, **long, "flops": 4000, "params": 1000},
        # the shorter glob only
        "test_b": {**default, **short, "flops": 5000, "params": 1000},
        # a marker setting params only: flops still come from the glob
        "test_c": {**default, **short, "flops": 5000, "params": 10},
    }
    write_tests(
        pytester,
        LINEAR_MODELS,
        f"""
        EXPECTED = {expected!r}

        def check(flop_budget, name):
            limits = {{q: limit.value for q, limit in flop_budget.budget.limits.items()}}
            assert limits == EXPECTED[name]

        @pytest.mark.flop_budget(max_flops=2000)
        def test_a(flop_budget):
            check(flop_budget, "test_a")

        def test_ac(flop_budget):
            check(flop_budget, "test_ac")

        def test_ab(flop_budget):
            check(flop_budget, "test_ab")

        def test_b(flop_budget):
            check(flop_budget, "test_b")

        @pytest.mark.flop_budget(max_params=10)
        def test_c(flop_budget):
            check(flop_budget, "test_c")
        """,
        name="test_r",
    )
    result = pytester.runpytest("-W", "ignore::pytest.PytestWarning")  # no module work: warned
    result.assert_outcomes(passed=len(expected))


def test_resolution_shows_in_the_failure_message(pytester):
    write_pyproject(
        pytester,
        """
        [tool.flopbudget]
        max_params = 50

        [tool.flopbudget.tests."test_r.py::*"]
        max_flops = 100000

        [tool.flopbudget.tests."test_r.py::test_a"]
        max_flops = 600
        """,
    )
    write_tests(
        pytester,
        LINEAR_MODELS,
        """
        @pytest.mark.flop_budget(max_flops=500)
        def test_a():
            nn.Linear(10, 10)(x())

        def test_b():
            nn.Linear(10, 10)(x())
        """,
        name="test_r",
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_a _*",
            f"FLOP budget exceeded: {FLOPS} FLOPs > 500 FLOPs ({pct(FLOPS, 500)})",  # marker
            f"params {PARAMS} > 50 ({pct(PARAMS, 50)})",  # from the defaults
            "*_ test_b _*",
            f"params {PARAMS} > 50 ({pct(PARAMS, 50)})",  # its flops are within the glob's
        ]
    )
    assert "> 600 FLOPs" not in result.stdout.str()
    exceeded = [line for line in result.outlines if line.startswith("FLOP budget exceeded")]
    assert len(exceeded) == 1


# --- 5. tolerance --------------------------------------------------------------------------------


@pytest.mark.parametrize(("limit", "outcome"), [(800, "passed"), (700, "failed")])
def test_tolerance_allows_an_overshoot_up_to_it(pytester, limit, outcome):
    assert (FLOPS / 800 - 1, FLOPS / 700 - 1) == pytest.approx((0.05, 0.20))  # vs 10%
    write_pyproject(
        pytester,
        """
        [tool.flopbudget]
        tolerance = "10%"
        """,
    )
    write_tests(
        pytester,
        LINEAR_MODELS,
        f"""
        @pytest.mark.flop_budget(max_flops={limit})
        def test_a():
            nn.Linear(10, 10)(x())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(**{outcome: 1})
    if outcome == "failed":
        result.stdout.fnmatch_lines(
            [f"FLOP budget exceeded: {FLOPS} FLOPs > {limit} FLOPs ({pct(FLOPS, limit)})"]
        )
    else:
        assert "FLOP budget exceeded" not in result.stdout.str()
