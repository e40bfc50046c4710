"""Convolutions against closed forms and torch's FlopCounterMode (properties)."""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil, prod

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from pytest_flopbudget import profile
from tests.formulas.helpers import SEEDS, SETTINGS, assert_counts, torch_reference_flops

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
