"""The pytest plugin (pytest_flopbudget.plugin), end to end through pytester.

Every expected number is computed here from a closed form, never copied from the plugin's output:
nn.Linear(i, o) on a (b, i) input is b·i·o MACs; under the "all" convention that is 2 FLOPs per
MAC plus 1 per output element for the bias add; its parameters are i·o + o.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

# torch and the counter (which the plugin imports lazily) are imported here, once: pytester's
# in-process runs drop the modules a run imported, and torch cannot be imported twice in a process.
import pytest
import torch  # noqa: F401

import pytest_flopbudget.engine.counter  # noqa: F401

from .pytester_support import (
    isolate_inner_runs,
    linear_flops,
    linear_macs,
    linear_params,
    pct,
    row_of,
    summary,
    usage_error,
)

# --- closed forms ------------------------------------------------------------------------------


# Linear(10, 10) on a (4, 10) input: 400 MACs, 840 FLOPs, 110 params.
MACS = linear_macs(4, 10, 10)
FLOPS = linear_flops(4, 10, 10)
PARAMS = linear_params(10, 10)
assert (MACS, FLOPS, PARAMS) == (400, 840, 110)

# Prepended to every generated test module.
HEADER = """
import pytest
import torch
from torch import nn


class Two(nn.Module):
    '''Two Linear(10, 10) children, applied one after the other.'''

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(10, 10)
        self.b = nn.Linear(10, 10)

    def forward(self, x):
        return self.b(self.a(x))


class WithUncounted(nn.Module):
    '''A Linear(10, 10), then an op without a cost formula (aten.logcumsumexp).'''

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(10, 10)

    def forward(self, x):
        return torch.logcumsumexp(self.lin(x), -1)


def x():
    return torch.randn(4, 10)
"""


@pytest.fixture(autouse=True)
def _inner_run_environment(pytester, monkeypatch):
    isolate_inner_runs(monkeypatch)


def make_tests(pytester: pytest.Pytester, body: str, name: str = "test_x") -> None:
    pytester.makepyfile(**{name: HEADER + textwrap.dedent(body)})


def make_pyproject(pytester: pytest.Pytester, text: str) -> None:
    pytester.makepyprojecttoml(textwrap.dedent(text))


def budget_warnings(result: pytest.RunResult) -> list[str]:
    """The FlopBudgetWarning lines of the warnings summary."""
    return [
        line.split(": ", 1)[1]
        for line in result.outlines
        if re.match(r"\s*\S+: FlopBudgetWarning: ", line)
    ]


# --- 1. the marker alone counts the test's call phase --------------------------------------------


def test_marker_counts_module_work_with_no_code_change(pytester):
    make_tests(
        pytester,
        f"""
        @pytest.mark.flop_budget(max_flops={FLOPS})
        def test_at_the_limit():
            nn.Linear(10, 10)(x())

        @pytest.mark.flop_budget(max_flops={FLOPS - 1})
        def test_one_over():
            nn.Linear(10, 10)(x())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_one_over _*",
            f"FLOP budget exceeded: {FLOPS} FLOPs > {FLOPS - 1} FLOPs ({pct(FLOPS, FLOPS - 1)})",
        ]
    )


def test_marker_counts_the_backward_pass_of_a_training_step(pytester):
    forward = linear_macs(4, 10, 10)  # y = x Wᵀ
    grad_weight = linear_macs(4, 10, 10)  # dW = dyᵀ x; no dx: x does not require grad
    make_tests(
        pytester,
        f"""
        @pytest.mark.flop_budget(max_macs={forward - 1})
        def test_forward_only():
            nn.Linear(10, 10, bias=False)(x())

        @pytest.mark.flop_budget(max_macs={forward + grad_weight - 1})
        def test_training_step():
            model = nn.Linear(10, 10, bias=False)
            loss = model(x()).sum()
            loss.backward()
            assert model.weight.grad is not None
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    total = forward + grad_weight
    result.stdout.fnmatch_lines(
        [
            "*_ test_forward_only _*",
            f"MAC budget exceeded: {forward} MACs > {forward - 1} MACs (*)",
            "*_ test_training_step _*",
            f"MAC budget exceeded: {total} MACs > {total - 1} MACs ({pct(total, total - 1)})",
        ]
    )


def test_marker_ignores_torch_ops_outside_any_module(pytester):
    make_tests(
        pytester,
        f"""
        @pytest.mark.flop_budget(max_flops={FLOPS}, max_macs={MACS})
        def test_a():
            product = torch.randn(100, 100) @ torch.randn(100, 100)  # 10⁶ MACs, no module
            out = nn.Linear(10, 10)(x())
            (out * 2).sum() + product.sum()  # more work outside modules
        """,
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    row = row_of(result, "test_x.py::test_a")
    assert (row["FLOPs"], row["MACs"], row["params"]) == (str(FLOPS), str(MACS), str(PARAMS))


def test_marker_params_are_those_of_the_modules_called_at_top_level(pytester):
    called = linear_params(10, 10) + linear_params(10, 5)
    make_tests(
        pytester,
        f"""
        @pytest.mark.flop_budget(max_params={called - 1})
        def test_a():
            unused = nn.Linear(100, 100)  # built, never called: not this test's parameters
            first, second = nn.Linear(10, 10), nn.Linear(10, 5)
            second(first(x()))
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"params {called} > {called - 1} ({pct(called, called - 1)})"])


# --- 2. the flop_budget fixture ------------------------------------------------------------------


def test_fixture_profile_returns_the_profile_and_records_it(pytester):
    make_tests(
        pytester,
        f"""
        def test_a(flop_budget):
            from pytest_flopbudget import Profile

            result = flop_budget.profile(nn.Linear(10, 10), x())
            assert isinstance(result, Profile)
            assert (result.macs, result.flops, result.params) == ({MACS}, {FLOPS}, {PARAMS})

        @pytest.mark.flop_budget(max_flops={FLOPS - 1})
        def test_b(flop_budget):
            flop_budget.profile(nn.Linear(10, 10), x())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([f"FLOP budget exceeded: {FLOPS} FLOPs > {FLOPS - 1} FLOPs *"])
    assert row_of(result, "test_x.py::test_a")["FLOPs"] == str(FLOPS)


def test_fixture_counting_counts_a_block(pytester):
    two_layers = 2 * FLOPS
    limit = 999  # below 1000, the message prints plain numbers
    make_tests(
        pytester,
        f"""
        @pytest.mark.flop_budget(max_flops={limit})
        def test_a(flop_budget):
            model = Two()
            with flop_budget.counting(model) as counted:
                model(x())
            assert counted.profile.flops == {two_layers}
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [f"FLOP budget exceeded: {two_layers} FLOPs > {limit} FLOPs ({pct(two_layers, limit)})"]
    )


def test_fixture_recording_replaces_the_whole_call_count(pytester):
    make_tests(
        pytester,
        f"""
        @pytest.mark.flop_budget(max_flops={FLOPS}, max_params={PARAMS})
        def test_profile(flop_budget):
            flop_budget.profile(nn.Linear(10, 10), x())
            nn.Linear(100, 100)(torch.randn(4, 100))  # outside the fixture: does not add

        @pytest.mark.flop_budget(max_flops={FLOPS}, max_params={PARAMS})
        def test_counting(flop_budget):
            nn.Linear(100, 100)(torch.randn(4, 100))  # outside the fixture: does not add
            model = nn.Linear(10, 10)
            with flop_budget.counting(model):
                model(x())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    for name in ("test_profile", "test_counting"):
        row = row_of(result, f"test_x.py::{name}")
        assert (row["FLOPs"], row["params"]) == (str(FLOPS), str(PARAMS))


def test_fixture_budget_shows_the_resolved_limits(pytester):
    make_pyproject(
        pytester,
        """
        [tool.flopbudget]
        max_params = "25.6M"
        """,
    )
    make_tests(
        pytester,
        """
        @pytest.mark.flop_budget(max_gflops=2)
        def test_a(flop_budget):
            limits = flop_budget.budget.limits
            assert limits["flops"].value == 2 * 10**9
            assert limits["params"].value == 25_600_000
            assert set(limits) == {"flops", "params"}

        def test_fixture_alone_budgets_with_the_defaults(flop_budget):
            assert flop_budget.budget.limits["params"].value == 25_600_000
            assert "flops" not in flop_budget.budget.limits
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    assert len(budget_warnings(result)) == 2  # neither ran torch work


# --- 3. budgets from pyproject.toml alone --------------------------------------------------------


def test_pyproject_exact_and_glob_entries_budget_unmarked_tests(pytester):
    make_pyproject(
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
    make_tests(
        pytester,
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
    make_pyproject(
        pytester,
        """
        [tool.flopbudget]
        max_flops = 1
        """,
    )
    make_tests(
        pytester,
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
    make_tests(
        pytester,
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
    result = pytester.runpytest("-W", "ignore::pytest.PytestWarning")  # no torch work: warned
    result.assert_outcomes(passed=len(expected))


def test_resolution_shows_in_the_failure_message(pytester):
    make_pyproject(
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
    make_tests(
        pytester,
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
    make_pyproject(
        pytester,
        """
        [tool.flopbudget]
        tolerance = "10%"
        """,
    )
    make_tests(
        pytester,
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


# --- 6. a bad [tool.flopbudget] is a usage error naming the file, the table and the key ----------

ENTRY = '[tool.flopbudget.tests."test_x.py::test_a"]'
ACCEPTED_ENTRY = (
    "max_flops, max_kflops, max_mflops, max_gflops, max_tflops, max_macs, max_kmacs, max_mmacs, "
    "max_gmacs, max_tmacs, "
    "max_params, max_nonzero_params, max_sparse_flops, max_param_bytes, tolerance, strict"
)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        pytest.param(
            "[tool.flopbudget]\nmax_gflop = 1\n",
            "[tool.flopbudget] key 'max_gflop' is not a budget key (did you mean 'max_gflops'?); "
            "accepted keys: count, tolerance, ",
            id="unknown-top-level-key",
        ),
        pytest.param(
            '[tool.flopbudget]\nmax_gflops = "lots"\n',
            "invalid value 'lots' for 'max_gflops' in [tool.flopbudget]: not a number",
            id="not-a-number",
        ),
        pytest.param(
            "[tool.flopbudget]\nmax_flops = 0\n",
            "invalid value 0 for 'max_flops' in [tool.flopbudget]: must be positive",
            id="zero",
        ),
        pytest.param(
            "[tool.flopbudget]\nmax_params = -5\n",
            "invalid value -5 for 'max_params' in [tool.flopbudget]: must be positive",
            id="negative",
        ),
        pytest.param(
            "[tool.flopbudget]\nmax_flops = 1000\nmax_gflops = 1\n",
            "budget keys 'max_flops' and 'max_gflops' in [tool.flopbudget] both limit flops; "
            "use only one of them",
            id="two-units-of-one-quantity",
        ),
        pytest.param(
            '[tool.flopbudget]\ncount = "everything"\n',
            "[tool.flopbudget] key 'count' must be one of 'all', 'matmul', got 'everything'",
            id="unknown-count",
        ),
        pytest.param(
            '[tool.flopbudget]\ntolerance = "ten%"\n',
            "invalid value 'ten%' for 'tolerance' in [tool.flopbudget]: "
            'must be a percentage such as "5%"',
            id="malformed-percentage",
        ),
        pytest.param(
            f"{ENTRY}\nmax_gflop = 1\n",
            f"{ENTRY} key 'max_gflop' is not a budget key (did you mean 'max_gflops'?); "
            f"accepted keys: {ACCEPTED_ENTRY}",
            id="unknown-key-in-a-tests-entry",
        ),
    ],
)
def test_bad_config_is_a_usage_error_naming_file_table_and_key(pytester, toml, message):
    pytester.makepyprojecttoml(toml)
    make_tests(pytester, "def test_a():\n    pass\n")
    result = pytester.runpytest()
    stderr = usage_error(result)
    assert f"{pytester.path / 'pyproject.toml'}: {message}" in stderr
    assert "passed" not in result.stdout.str()


@pytest.mark.parametrize("reader", ["plugin", "pytest"])
def test_toml_syntax_error_is_a_usage_error_naming_the_file_and_line(pytester, reader):
    pytester.makepyprojecttoml("[tool.flopbudget]\nmax_gflops = 1\nmax_params = = 5\n")
    make_tests(pytester, "def test_a():\n    pass\n")
    # pytest itself parses every pyproject.toml beside its ini file, except with -c
    pytester.makefile(".ini", pytest="[pytest]\n")
    result = pytester.runpytest(*(["-c", "pytest.ini"] if reader == "plugin" else []))
    stderr = usage_error(result)
    path = pytester.path / "pyproject.toml"
    assert f"{path}: " in stderr
    assert "(at line 3, column 14)" in stderr
    assert (f"{path}: invalid TOML: " in stderr) == (reader == "plugin")


# --- 7. bad marker arguments are a usage error at collection -------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param(
            "max_gflop=1",
            "unknown budget key 'max_gflop' in marker on test_x.py::test_a "
            f"(did you mean 'max_gflops'?); accepted keys: {ACCEPTED_ENTRY}",
            id="unknown-key",
        ),
        pytest.param(
            'max_gflops="lots"',
            "invalid value 'lots' for 'max_gflops' in marker on test_x.py::test_a: not a number",
            id="not-a-number",
        ),
        pytest.param(
            "max_params=-1",
            "invalid value -1 for 'max_params' in marker on test_x.py::test_a: must be positive",
            id="negative",
        ),
        pytest.param(
            "100",
            "test_x.py::test_a: flop_budget takes keyword arguments only, got positional (100,)",
            id="positional",
        ),
    ],
)
def test_bad_marker_arguments_are_a_usage_error_at_collection(pytester, arguments, message):
    make_tests(
        pytester,
        f"""
        @pytest.mark.flop_budget({arguments})
        def test_a():
            open("ran", "w").close()
        """,
    )
    collected = pytester.runpytest("--collect-only")
    assert message in usage_error(collected)
    result = pytester.runpytest()
    assert message in usage_error(result)
    assert not (pytester.path / "ran").exists()


# --- 8. the failure ------------------------------------------------------------------------------


def test_over_budget_fails_in_the_call_phase_with_one_line_per_limit(pytester):
    make_tests(
        pytester,
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
    make_tests(
        pytester,
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
            "uncounted ops (counted as 0 FLOPs): aten.logcumsumexp ×1",
        ]
    )


# --- 9. a test's own failure wins ----------------------------------------------------------------


def test_own_failure_is_kept_when_also_over_budget(pytester):
    make_tests(
        pytester,
        """
        @pytest.mark.flop_budget(max_flops=1, max_params=1)
        def test_a():
            nn.Linear(10, 10)(x())
            assert 1 + 1 == 3, "the test's own reason"
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: the test's own reason*"])
    output = result.stdout.str()
    assert "FLOP budget exceeded" not in output
    assert "params 110 > 1" not in output


# --- 10. a budgeted test that ran no torch work --------------------------------------------------


def test_budgeted_test_without_torch_work_is_reported_and_warned(pytester):
    make_tests(
        pytester,
        """
        @pytest.mark.flop_budget(max_flops=500)
        def test_nothing():
            torch.randn(100, 100) @ torch.randn(100, 100)  # torch, but through no module
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert budget_warnings(result) == [
        "FlopBudgetWarning: test_x.py::test_nothing is budgeted but ran no torch work through a "
        "module: nothing was measured (call the model, or use the flop_budget fixture)"
    ]
    row = row_of(result, "test_x.py::test_nothing")
    assert row["status"] == "no-torch-work"
    assert row["FLOPs"] == "-"  # not 0 FLOPs
    assert row["Δbudget"] == "-"


# --- 11. the `flop budget` summary ---------------------------------------------------------------

THREE_STATUSES = f"""
@pytest.mark.flop_budget(max_flops={10**6})
def test_new():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_flops=500)
def test_over():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_flops=500)
def test_nothing():
    pass
"""


def test_summary_has_one_row_per_budgeted_test_the_worst_first(pytester):
    make_tests(pytester, THREE_STATUSES + "\ndef test_unbudgeted():\n    pass\n")
    result = pytester.runpytest("-W", "ignore::pytest.PytestWarning")
    result.assert_outcomes(passed=3, failed=1)
    rows = summary(result)
    assert [(r["status"], r["test"]) for r in rows] == [
        ("over:flops", "test_x.py::test_over"),
        ("no-torch-work", "test_x.py::test_nothing"),
        ("new", "test_x.py::test_new"),
    ]
    assert list(rows[0]) == [
        *("status", "FLOPs", "budget", "Δbudget", "Δlast", "params", "nonzero", "test")
    ]
    over = rows[0]
    assert (over["FLOPs"], over["budget"], over["Δbudget"], over["Δlast"]) == (
        str(FLOPS),
        "500",
        pct(FLOPS, 500),
        "-",  # no last run
    )
    assert (over["params"], over["nonzero"]) == (str(PARAMS), str(PARAMS))
    assert rows[2]["Δbudget"] == pct(FLOPS, 10**6)  # negative: headroom


def test_summary_verbosity_quiet_counts_very_quiet_nothing_verbose_macs(pytester):
    make_tests(pytester, THREE_STATUSES)
    quiet = pytester.runpytest("-q", "-W", "ignore::pytest.PytestWarning")
    quiet.assert_outcomes(passed=2, failed=1)
    assert "flop budget: 3 budgeted test(s): 1 over, 1 no-torch-work, 1 new" in quiet.outlines
    assert not any(re.fullmatch(r"=+ flop budget =+", line) for line in quiet.outlines)

    very_quiet = pytester.runpytest("-qq", "-W", "ignore::pytest.PytestWarning")
    assert very_quiet.ret == pytest.ExitCode.TESTS_FAILED  # -qq prints no outcome line either
    assert "flop budget" not in very_quiet.stdout.str()

    verbose = pytester.runpytest("-v", "-W", "ignore::pytest.PytestWarning")
    rows = summary(verbose)
    assert "MACs" in rows[0]
    assert {r["test"]: r["MACs"] for r in rows} == {
        "test_x.py::test_over": str(MACS),
        "test_x.py::test_nothing": "-",
        "test_x.py::test_new": str(MACS),
    }


def test_summary_second_run_is_ok_and_shows_the_change_since_the_last_run(pytester):
    from pytest_flopbudget.text import human

    test = """
        @pytest.mark.flop_budget(max_gflops=1)
        def test_a():
            nn.Linear(10, {fan_out})(x())
        """
    make_tests(pytester, test.format(fan_out=10))
    first = row_of(pytester.runpytest(), "test_x.py::test_a")
    assert (first["status"], first["FLOPs"], first["Δlast"]) == ("new", str(FLOPS), "-")

    second = row_of(pytester.runpytest(), "test_x.py::test_a")  # the cache persists
    assert (second["status"], second["FLOPs"], second["Δlast"]) == ("ok", str(FLOPS), "+0.0%")

    make_tests(pytester, test.format(fan_out=20))
    wider = linear_flops(4, 10, 20)
    assert wider == 1680
    third = row_of(pytester.runpytest(), "test_x.py::test_a")
    assert (third["status"], third["FLOPs"], third["Δlast"]) == (
        "ok",
        human(wider),
        pct(wider, FLOPS),
    )
    assert pct(wider, FLOPS) == "+100.0%"
    assert third["params"] == str(linear_params(10, 20))


# --- 12. --strict-markers and --flop-budget-disable ----------------------------------------------


def test_marker_is_registered_for_strict_markers(pytester):
    make_tests(
        pytester,
        """
        @pytest.mark.flop_budget(max_gflops=1)
        def test_a():
            nn.Linear(10, 10)(x())
        """,
    )
    result = pytester.runpytest("--strict-markers")
    result.assert_outcomes(passed=1)
    assert row_of(result, "test_x.py::test_a")["FLOPs"] == str(FLOPS)


def test_disable_measures_and_reports_but_fails_nothing(pytester):
    make_tests(
        pytester,
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


# --- 13. start-up cost: no torch until a budgeted test runs --------------------------------------


def test_importing_the_plugin_imports_no_torch():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import pytest_flopbudget.plugin"],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = [
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    ]
    assert "pytest_flopbudget.plugin" in imported
    assert [name for name in imported if name.split(".")[0] == "torch"] == []


def test_collecting_imports_no_torch(pytester, monkeypatch):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # only the plugin under test
    make_pyproject(
        pytester,
        """
        [tool.flopbudget]
        max_gflops = 1

        [tool.flopbudget.tests."test_other.py::*"]
        max_params = "1M"
        """,
    )
    pytester.makeconftest(
        """
        import sys

        def pytest_sessionfinish(session):
            plugin = session.config.pluginmanager.has_plugin("flopbudget-session")
            torch = sorted(name for name in sys.modules if name.split(".")[0] == "torch")
            with open("seen.txt", "w") as file:
                file.write(f"plugin={plugin} torch={torch}")
        """
    )
    pytester.makepyfile(
        test_plain="def test_a():\n    assert True\n",
        test_marked=(
            "import pytest\n\n\n@pytest.mark.flop_budget(max_gflops=1)\ndef test_b():\n    pass\n"
        ),
    )
    result = pytester.runpytest_subprocess("--collect-only", "-p", "flopbudget")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*2 tests collected*"])
    assert (pytester.path / "seen.txt").read_text() == "plugin=True torch=[]"
