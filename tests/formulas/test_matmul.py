"""Property tests: profile() against the closed-form MAC/FLOP conventions of the README.

Every expected number here is computed from the documented closed forms, written out below:

- convolution: N × prod(output spatial) × C_out × (C_in/groups) × prod(kernel)
- transposed convolution: N × prod(INPUT spatial) × C_in × (C_out/groups) × prod(kernel)
- linear on (..., in) → (..., out): prod(leading dims) × in × out
- matmul-class ops: (elements of the output) × (contracted length)
- FLOPs: count="matmul" → 2 × MACs; count="all" → 2 × MACs + 1 per output element of a bias add.

As an independent reference, torch.utils.flop_counter.FlopCounterMode (2 FLOPs per MAC, bias
not counted) must agree with 2 × our MACs on the same cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from pytest_flopbudget import profile
from tests.formulas.helpers import (
    SEEDS,
    SETTINGS,
    assert_counts,
    op_flops,
    torch_reference_flops,
    training_step,
)

# ---- complex and batched-sum matmuls -----------------------------------------------------------


def test_a_complex_matmul_is_four_real_macs_per_complex_mac():
    a = torch.randn(3, 4, dtype=torch.complex64)
    b = torch.randn(4, 5, dtype=torch.complex64)
    result = profile(torch.mm, a, b)
    assert result.macs == 4 * (3 * 4 * 5)
    assert result.flops == 8 * (3 * 4 * 5)


def test_a_vector_matrix_product_is_exact_and_lists_nothing():
    """torch.matmul(v, M) runs as unsqueeze, mm and an in-place squeeze_: k·n MACs, and the
    squeeze_ (an in-place view) costs 0 by rule, so strict passes."""
    k, n = 7, 3
    result = profile(torch.matmul, torch.randn(k), torch.randn(k, n), strict=True)
    assert (result.macs, result.flops) == (k * n, 2 * k * n)
    assert result.uncounted == {}


def test_addbmm_sums_the_batch_products_and_adds_the_input():
    result = profile(torch.addbmm, torch.randn(3, 5), torch.randn(4, 3, 2), torch.randn(4, 2, 5))
    assert result.macs == 4 * 3 * 2 * 5
    assert result.flops == 2 * result.macs + 3 * 5


def test_cdist_direct_path_and_its_backward():
    """p=1 (and small inputs at p=2) compute directly: 3 per (pair, coordinate) + 1 per pair;
    the backward runs once for each input."""
    pairs, coordinates = 2 * 30 * 40, 5
    result = training_step(
        lambda a, b: torch.cdist(a, b, p=1), torch.randn(2, 30, 5), torch.randn(2, 40, 5)
    )
    expected = 3 * pairs * coordinates + pairs
    assert op_flops(result, "aten._cdist_forward") == expected
    assert op_flops(result, "aten._cdist_backward") == 2 * expected  # once per input


def test_euclidean_cdist_is_one_matmul_over_the_coordinates_and_the_norms():
    x1, x2 = torch.randn(2, 30, 5), torch.randn(2, 40, 5)
    result = profile(lambda a, b: torch.cdist(a, b), x1, x2)
    pairs = 2 * 30 * 40
    assert result.ops["aten._euclidean_dist"].macs == pairs * (5 + 2)
    other = 3 * x1.numel() + 2 * x2.numel() + 2 * pairs
    assert op_flops(result, "aten._euclidean_dist") == 2 * pairs * 7 + other


@dataclass(frozen=True)
class LinearCase:
    leading: tuple[int, ...]
    in_features: int
    out_features: int
    bias: bool

    def module(self) -> nn.Module:
        return nn.Linear(self.in_features, self.out_features, bias=self.bias)

    def input(self) -> torch.Tensor:
        return torch.randn(*self.leading, self.in_features)

    def expected_macs(self) -> int:
        return prod(self.leading) * self.in_features * self.out_features

    def expected_bias_adds(self) -> int:
        return prod(self.leading) * self.out_features if self.bias else 0


@st.composite
def linear_cases(draw, rank: int) -> LinearCase:
    return LinearCase(
        leading=tuple(draw(st.integers(1, 4)) for _ in range(rank - 1)),
        in_features=draw(st.integers(1, 8)),
        out_features=draw(st.integers(1, 8)),
        bias=draw(st.booleans()),
    )


small = st.integers(1, 5)


# Matmul-class callables: name -> (function, shapes of its operands from (b, h, m, k, n), MACs).
MATMUL_CASES = {
    "bmm": (
        torch.bmm,
        lambda b, h, m, k, n: [(b, m, k), (b, k, n)],
        lambda b, h, m, k, n: b * m * k * n,
    ),
    "matmul_2d_2d": (
        torch.matmul,
        lambda b, h, m, k, n: [(m, k), (k, n)],
        lambda b, h, m, k, n: m * k * n,
    ),
    "matmul_3d_3d_batched": (
        torch.matmul,
        lambda b, h, m, k, n: [(b, m, k), (b, k, n)],
        lambda b, h, m, k, n: b * m * k * n,
    ),
    "matmul_3d_2d_broadcast": (
        torch.matmul,
        lambda b, h, m, k, n: [(b, m, k), (k, n)],
        lambda b, h, m, k, n: b * m * k * n,
    ),
    "matmul_batch_dim_broadcast": (
        torch.matmul,
        lambda b, h, m, k, n: [(1, m, k), (b, k, n)],
        lambda b, h, m, k, n: b * m * k * n,
    ),
    "matmul_operator": (
        lambda x, y: x @ y,
        lambda b, h, m, k, n: [(b, m, k), (b, k, n)],
        lambda b, h, m, k, n: b * m * k * n,
    ),
    "einsum_bij_bjk": (
        lambda x, y: torch.einsum("bij,bjk->bik", x, y),
        lambda b, h, m, k, n: [(b, m, k), (b, k, n)],
        lambda b, h, m, k, n: b * m * k * n,
    ),
    "einsum_ij_jk": (
        lambda x, y: torch.einsum("ij,jk->ik", x, y),
        lambda b, h, m, k, n: [(m, k), (k, n)],
        lambda b, h, m, k, n: m * k * n,
    ),
    "einsum_attention_scores": (
        # q: (b, h, m, d=k), keys: (b, h, n, d=k) -> scores (b, h, m, n), contracted over d
        lambda q, keys: torch.einsum("bhqd,bhkd->bhqk", q, keys),
        lambda b, h, m, k, n: [(b, h, m, k), (b, h, n, k)],
        lambda b, h, m, k, n: b * h * m * n * k,
    ),
}


# --- 3: linear ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rank", [2, 3])
@SETTINGS
@given(data=st.data(), seed=SEEDS)
def test_linear_macs_are_leading_dims_times_in_times_out_plus_bias_adds(rank, data, seed):
    case = data.draw(linear_cases(rank), label="case")
    torch.manual_seed(seed)
    model, x = case.module(), case.input()
    result = assert_counts(model, [x], case.expected_macs(), case.expected_bias_adds())
    expected_params = case.in_features * case.out_features + (case.out_features * case.bias)
    assert result.params == expected_params


# --- 4: bmm, matmul, @, einsum -----------------------------------------------------------------


@pytest.mark.parametrize("name", list(MATMUL_CASES))
@SETTINGS
@given(b=small, h=small, m=small, k=small, n=small, seed=SEEDS)
def test_matmul_class_callables_cost_output_elements_times_contracted_length(
    name, b, h, m, k, n, seed
):
    function, shapes, macs = MATMUL_CASES[name]
    torch.manual_seed(seed)
    inputs = [torch.randn(*shape) for shape in shapes(b, h, m, k, n)]
    if name.startswith("einsum") and k == 1:
        # README convention: torch lowers an einsum with a contracted length of 1 (an outer
        # product) to an elementwise mul: one multiply per output element, no MACs.
        outputs = macs(b, h, m, k, n)
        assert profile(function, *inputs).flops == outputs
        assert profile(function, *inputs).macs == 0
        return
    result = assert_counts(function, inputs, macs(b, h, m, k, n), bias_adds=0)
    assert result.flops == 2 * result.macs
    assert result.params == 0


@pytest.mark.parametrize("rank", [2, 3])
@SETTINGS
@given(data=st.data(), seed=SEEDS)
def test_linear_flops_agree_with_torch_flop_counter(rank, data, seed):
    case = data.draw(linear_cases(rank), label="case")
    torch.manual_seed(seed)
    model, x = case.module(), case.input()
    ours = profile(model, x, count="matmul")
    assert ours.uncounted == {}
    reference = torch_reference_flops(model, [x])
    assert reference == 2 * ours.macs
    assert reference == 2 * case.expected_macs()


@SETTINGS
@given(b=small, m=small, k=small, n=small, seed=SEEDS)
def test_bmm_flops_agree_with_torch_flop_counter(b, m, k, n, seed):
    torch.manual_seed(seed)
    inputs = [torch.randn(b, m, k), torch.randn(b, k, n)]
    ours = profile(torch.bmm, *inputs, count="matmul")
    assert ours.uncounted == {}
    reference = torch_reference_flops(torch.bmm, inputs)
    assert reference == 2 * ours.macs
    assert reference == 2 * b * m * k * n
