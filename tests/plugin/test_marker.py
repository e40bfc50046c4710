"""The flop_budget marker: it counts the call phase with no code change."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch  # noqa: F401  (imported once: pytester's in-process runs drop what a run imported)

from tests.support import (
    FLOPS,
    MACS,
    PARAMS,
    linear_flops,
    linear_macs,
    linear_params,
    pct,
    row_of,
)

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover
    pass
from tests.support import LINEAR_MODELS, write_tests

TEST_WITH_MARKER = """
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

@pytest.mark.flop_budget({arguments})
def test_a():
    nn.Linear(10, 10)(torch.randn(4, 10))
"""


def test_numpy_scalars_in_a_marker_are_budgets(inner):
    flops, params = linear_flops(4, 10, 10), linear_params(10, 10)
    inner.makepyfile(
        test_m=TEST_WITH_MARKER.format(
            arguments=f"max_flops=np.int64({flops}), max_params=np.float64({params - 1}.0)"
        )
    )
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)  # within the FLOP budget, one parameter over
    assert f"params {params} > {params - 1}" in result.stdout.str()


# --- closed forms ------------------------------------------------------------------------------


# Linear(10, 10) on a (4, 10) input: 400 MACs, 840 FLOPs, 110 params.


# --- 1. the marker alone counts the test's call phase --------------------------------------------


def test_marker_counts_module_work_with_no_code_change(pytester):
    write_tests(
        pytester,
        LINEAR_MODELS,
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
    write_tests(
        pytester,
        LINEAR_MODELS,
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
    write_tests(
        pytester,
        LINEAR_MODELS,
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
    write_tests(
        pytester,
        LINEAR_MODELS,
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


# --- 12. --strict-markers and --flop-budget-disable ----------------------------------------------


def test_marker_is_registered_for_strict_markers(pytester):
    write_tests(
        pytester,
        LINEAR_MODELS,
        """
        @pytest.mark.flop_budget(max_gflops=1)
        def test_a():
            nn.Linear(10, 10)(x())
        """,
    )
    result = pytester.runpytest("--strict-markers")
    result.assert_outcomes(passed=1)
    assert row_of(result, "test_x.py::test_a")["FLOPs"] == str(FLOPS)


# torch 2.9+ deprecates torch.jit.script / trace / save, which these tests call on purpose
pytestmark = pytest.mark.filterwarnings(
    r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning"
)


def test_max_param_bytes_in_a_marker(inner):
    inner.makepyfile(
        test_bytes=textwrap.dedent(
            """
            import pytest
            from torch import nn
            import torch

            @pytest.mark.flop_budget(max_param_bytes="1KB")
            def test_fits():
                nn.Linear(10, 10)(torch.randn(4, 10))

            @pytest.mark.flop_budget(max_param_bytes="400B")
            def test_too_big():
                nn.Linear(10, 10)(torch.randn(4, 10))
            """
        )
    )
    result = inner.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    size = (10 * 10 + 10) * 4  # 110 float32 parameters
    result.stdout.fnmatch_lines(["*_ test_too_big _*", f"param bytes {size} B > 400 B (+10.0%)"])
