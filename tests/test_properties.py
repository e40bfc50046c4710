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
from math import ceil, prod

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from pytest_flopbudget import profile

SETTINGS = settings(max_examples=25, deadline=None)
SEEDS = st.integers(min_value=0, max_value=2**16)


# --- closed forms ------------------------------------------------------------------------------


def conv_output_length(length: int, k: int, s: int, p: int, d: int) -> int:
    """floor((L + 2p - d(k-1) - 1) / s) + 1."""
    return (length + 2 * p - d * (k - 1) - 1) // s + 1


def conv_transpose_output_length(length: int, k: int, s: int, p: int, d: int, op: int) -> int:
    """(L - 1)s - 2p + d(k-1) + output_padding + 1."""
    return (length - 1) * s - 2 * p + d * (k - 1) + op + 1


@dataclass(frozen=True)
class ConvCase:
    transposed: bool
    batch: int
    c_in: int
    c_out: int
    groups: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    output_padding: tuple[int, ...]
    spatial: tuple[int, ...]
    bias: bool

    def module(self) -> nn.Module:
        common = dict(
            kernel_size=self.kernel,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
            bias=self.bias,
        )
        dims = len(self.kernel)
        if self.transposed:
            cls = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)[dims - 1]
            return cls(self.c_in, self.c_out, output_padding=self.output_padding, **common)
        cls = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dims - 1]
        return cls(self.c_in, self.c_out, **common)

    def input(self) -> torch.Tensor:
        return torch.randn(self.batch, self.c_in, *self.spatial)

    def output_spatial(self) -> tuple[int, ...]:
        per_dim = zip(
            self.spatial,
            self.kernel,
            self.stride,
            self.padding,
            self.dilation,
            self.output_padding,
            strict=True,
        )
        if self.transposed:
            return tuple(conv_transpose_output_length(*dim) for dim in per_dim)
        return tuple(conv_output_length(*dim[:5]) for dim in per_dim)

    def expected_macs(self) -> int:
        if self.transposed:
            return (
                self.batch
                * prod(self.spatial)
                * self.c_in
                * (self.c_out // self.groups)
                * prod(self.kernel)
            )
        return (
            self.batch
            * prod(self.output_spatial())
            * self.c_out
            * (self.c_in // self.groups)
            * prod(self.kernel)
        )

    def expected_bias_adds(self) -> int:
        return self.batch * self.c_out * prod(self.output_spatial()) if self.bias else 0

    def expected_params(self) -> int:
        if self.transposed:
            weight = self.c_in * (self.c_out // self.groups) * prod(self.kernel)
        else:
            weight = self.c_out * (self.c_in // self.groups) * prod(self.kernel)
        return weight + (self.c_out if self.bias else 0)


@st.composite
def conv_cases(draw, dims: int, transposed: bool) -> ConvCase:
    groups = draw(st.integers(1, 3))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    kernel, stride, padding, dilation, output_padding, spatial = [], [], [], [], [], []
    for _ in range(dims):
        k, s = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        p, d = draw(st.integers(0, 2)), draw(st.integers(1, 2))
        if transposed:
            # torch: output_padding must be smaller than either stride or dilation.
            op = draw(st.integers(0, max(s, d) - 1))
            # the output must have at least one element: (L-1)s >= 2p - d(k-1) - op
            shortest = 1 + max(0, ceil((2 * p - d * (k - 1) - op) / s))
        else:
            op = 0
            # the padded input must hold one dilated kernel: L + 2p >= d(k-1) + 1
            shortest = max(1, d * (k - 1) + 1 - 2 * p)
        length = draw(st.integers(shortest, shortest + (3 if dims < 3 else 2)))
        for values, v in zip(
            (kernel, stride, padding, dilation, output_padding, spatial),
            (k, s, p, d, op, length),
            strict=True,
        ):
            values.append(v)
    return ConvCase(
        transposed=transposed,
        batch=draw(st.integers(1, 2)),
        c_in=c_in,
        c_out=c_out,
        groups=groups,
        kernel=tuple(kernel),
        stride=tuple(stride),
        padding=tuple(padding),
        dilation=tuple(dilation),
        output_padding=tuple(output_padding),
        spatial=tuple(spatial),
        bias=draw(st.booleans()),
    )


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


# --- helpers -----------------------------------------------------------------------------------


def assert_counts(model, inputs, macs: int, bias_adds: int):
    """profile() under both conventions gives exactly these MACs and FLOPs, and counts every op."""
    everything = profile(model, *inputs, count="all")
    matmul_only = profile(model, *inputs, count="matmul")
    assert everything.uncounted == {}
    assert matmul_only.uncounted == {}
    assert everything.macs == macs
    assert matmul_only.macs == macs
    assert everything.flops == 2 * macs + bias_adds
    assert matmul_only.flops == 2 * macs
    return everything


def torch_reference_flops(model, inputs) -> int:
    with FlopCounterMode(display=False) as mode, torch.no_grad():
        model(*inputs)
    return mode.get_total_flops()


# --- 1 & 2: convolutions -----------------------------------------------------------------------


@pytest.mark.parametrize("dims", [1, 2, 3])
@SETTINGS
@given(data=st.data(), seed=SEEDS)
def test_conv_macs_and_flops_follow_output_spatial_closed_form(dims, data, seed):
    case = data.draw(conv_cases(dims, transposed=False), label="case")
    torch.manual_seed(seed)
    model, x = case.module(), case.input()
    with torch.no_grad():
        out = model(x)
    # the closed form for the output size in this test is the one torch uses
    assert tuple(out.shape) == (case.batch, case.c_out, *case.output_spatial())
    result = assert_counts(model, [x], case.expected_macs(), case.expected_bias_adds())
    assert result.params == case.expected_params()


@pytest.mark.parametrize("dims", [1, 2, 3])
@SETTINGS
@given(data=st.data(), seed=SEEDS)
def test_conv_transpose_macs_follow_input_spatial_closed_form(dims, data, seed):
    case = data.draw(conv_cases(dims, transposed=True), label="case")
    torch.manual_seed(seed)
    model, x = case.module(), case.input()
    with torch.no_grad():
        out = model(x)
    assert tuple(out.shape) == (case.batch, case.c_out, *case.output_spatial())
    result = assert_counts(model, [x], case.expected_macs(), case.expected_bias_adds())
    assert result.params == case.expected_params()


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


# --- 5: torch's own FlopCounterMode as an independent reference ---------------------------------


@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "conv_transpose"])
@pytest.mark.parametrize("dims", [1, 2, 3])
@SETTINGS
@given(data=st.data(), seed=SEEDS)
def test_conv_flops_agree_with_torch_flop_counter(dims, transposed, data, seed):
    case = data.draw(conv_cases(dims, transposed=transposed), label="case")
    torch.manual_seed(seed)
    model, x = case.module(), case.input()
    ours = profile(model, x, count="matmul")
    assert ours.uncounted == {}
    reference = torch_reference_flops(model, [x])
    assert reference == 2 * ours.macs
    assert reference == 2 * case.expected_macs()


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
