"""The flop_budget fixture."""

from __future__ import annotations

from tests.projects import budget_warnings
from tests.support import (
    FLOPS,
    LINEAR_MODELS,
    MACS,
    PARAMS,
    pct,
    row_of,
    write_pyproject,
    write_tests,
)

# --- closed forms ------------------------------------------------------------------------------


# Linear(10, 10) on a (4, 10) input: 400 MACs, 840 FLOPs, 110 params.


# --- 2. the flop_budget fixture ------------------------------------------------------------------


def test_fixture_profile_returns_the_profile_and_records_it(pytester):
    write_tests(
        pytester,
        LINEAR_MODELS,
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
    write_tests(
        pytester,
        LINEAR_MODELS,
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
    write_tests(
        pytester,
        LINEAR_MODELS,
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
    write_pyproject(
        pytester,
        """
        [tool.flopbudget]
        max_params = "25.6M"
        """,
    )
    write_tests(
        pytester,
        LINEAR_MODELS,
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
    assert len(budget_warnings(result)) == 2  # neither ran work inside a module
