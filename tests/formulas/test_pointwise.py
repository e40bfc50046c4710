"""The other op families (README "Counting conventions") against closed forms written out here."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pytest_flopbudget import profile
from tests.formulas.helpers import op_flops, training_step

X = torch.randn(2, 4, 6, 6)


ELEMENTS = X.numel()


# ---- elementwise ops torch does not tag pointwise, and in-place variants -----------------------


@pytest.mark.parametrize(
    ("op", "fn"),
    [
        ("aten.hardswish", F.hardswish),
        ("aten.hardswish_", lambda x: F.hardswish(x.clone(), inplace=True)),
        ("aten.mish_", lambda x: F.mish(x.clone(), inplace=True)),
        ("aten.gelu_", lambda x: torch.ops.aten.gelu_(x.clone())),
        ("aten.threshold_", lambda x: F.threshold(x.clone(), 0.1, 0.0, inplace=True)),
        ("aten.abs_", lambda x: x.clone().abs_()),
        ("aten.log_sigmoid_forward", F.logsigmoid),
        ("aten.rrelu_with_noise", lambda x: F.rrelu(x, training=False)),
        ("aten._prelu_kernel", lambda x: F.prelu(x, torch.full((4,), 0.25))),
    ],
)
def test_untagged_elementwise_ops_cost_one_per_element(op, fn):
    result = profile(fn, X)
    assert op_flops(result, op) == ELEMENTS
    assert result.uncounted == {}


@pytest.mark.parametrize(
    ("op", "fn"),
    [
        ("aten.hardswish_backward", F.hardswish),
        ("aten.hardsigmoid_backward", F.hardsigmoid),
        ("aten.hardtanh_backward", F.relu6),
        ("aten.leaky_relu_backward", F.leaky_relu),
        ("aten.elu_backward", F.elu),
        ("aten.elu_backward", F.selu),
        ("aten.softplus_backward", F.softplus),
        ("aten.mish_backward", F.mish),
        ("aten.log_sigmoid_backward", F.logsigmoid),
        ("aten.softshrink_backward", F.softshrink),
        ("aten.hardshrink_backward", F.hardshrink),
        ("aten.rrelu_with_noise_backward", lambda x: F.rrelu(x, training=True)),
    ],
)
def test_elementwise_backwards_cost_one_per_element(op, fn):
    result = training_step(fn, X)
    assert op_flops(result, op) == ELEMENTS
    assert result.uncounted == {}


def test_prelu_backward_costs_a_product_for_each_gradient():
    result = training_step(F.prelu, X, torch.full((4,), 0.25))
    assert op_flops(result, "aten._prelu_kernel_backward") == 2 * ELEMENTS
    assert result.uncounted == {}


def test_glu_is_a_sigmoid_and_a_product_per_output_element():
    result = training_step(F.glu, X)  # halves dim -1: 6 -> 3
    half = ELEMENTS // 2
    assert op_flops(result, "aten.glu") == (4 + 1) * half
    assert op_flops(result, "aten.glu_backward") == 4 * half + ELEMENTS  # sigmoid again + grads
    assert result.uncounted == {}


# ---- selection and shape backwards: 0 by decision ----------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x.topk(2),
        lambda x: x.sort(),
        lambda x: x.argsort(),
        lambda x: x.msort(),
        lambda x: x.kthvalue(2),
        lambda x: x.median(),
        lambda x: x.median(1),
        lambda x: x.nanmedian(),
        lambda x: x.mode(1),
    ],
)
def test_selection_ops_cost_nothing_and_are_not_uncounted(fn):
    result = profile(fn, torch.randn(5, 6))
    assert result.flops == 0 and result.uncounted == {}


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x[1],
        lambda x: x[1:3],
        lambda x: x.narrow(0, 1, 2),
        lambda x: x.diagonal(),
        lambda x: torch.unsafe_split(x, 2)[1],
        lambda x: torch.unsafe_chunk(x, 3)[2],
    ],
)
def test_backwards_of_shape_ops_cost_nothing(fn):
    result = training_step(fn, torch.randn(6, 6))
    assert result.flops == 0 and result.uncounted == {}
