"""nn.Bilinear's aten._trilinear, forward and backward, against closed forms; and the formula
for any pattern of expanded and summed dims against what ATen's kernel runs inside it, read from
torch.profiler (the bmm, mul, sum and add_ calls the counter cannot see)."""

from __future__ import annotations

from math import prod

import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.profiler import profile as torch_profile

from pytest_flopbudget import counting, profile
from tests.formulas.helpers import SETTINGS

N, IN1, IN2, OUT = 2, 3, 4, 5


def bilinear_forward_macs(n: int, in1: int, in2: int, out: int) -> int:
    """y[n, o] = Σ_j (Σ_i x1[n, i]·W[o, i, j])·x2[n, j], one output feature at a time: a bmm of
    n·in1·in2 MACs, then one of n·in2."""
    return out * (n * in1 * in2 + n * in2)


def test_bilinear_forward_is_the_two_products_and_the_bias_add():
    bilinear = torch.nn.Bilinear(IN1, IN2, OUT)
    result = profile(bilinear, torch.randn(N, IN1), torch.randn(N, IN2), strict=True)
    macs = bilinear_forward_macs(N, IN1, IN2, OUT)
    assert result.macs == macs
    # the N additions of each output feature into the output, then the bias add (aten.add)
    assert result.ops["aten._trilinear"].flops == 2 * macs + OUT * N
    assert result.flops == 2 * macs + OUT * N + N * OUT
    assert result.uncounted == {}


def test_bilinear_backward_is_three_trilinear_calls_one_per_gradient():
    bilinear = torch.nn.Bilinear(IN1, IN2, OUT)
    x1 = torch.randn(N, IN1, requires_grad=True)
    x2 = torch.randn(N, IN2, requires_grad=True)
    with counting(strict=True) as c:
        bilinear(x1, x2).backward(torch.randn(N, OUT))
    # per output feature o, each gradient is one elementwise product and one bmm:
    grad_x1 = (N * IN1 * IN2, N * IN1 * IN2 + N * IN1)  # (g[:, o]·W[o]) then ·x2 over j
    grad_w = (N * IN1 * IN2, N * IN1 + IN1 * IN2)  # (x1·g[:, o]) then ·x2 over n
    grad_x2 = (N * IN1 * IN2, 2 * N * IN2)  # (x1·W[o]) over i, then ·g[:, o]
    backward_macs = OUT * sum(macs for macs, _ in (grad_x1, grad_w, grad_x2))
    backward_other = OUT * sum(other for _, other in (grad_x1, grad_w, grad_x2))
    forward_macs = bilinear_forward_macs(N, IN1, IN2, OUT)
    trilinear = c.profile.ops["aten._trilinear"]
    assert trilinear.calls == 4
    assert trilinear.macs == forward_macs + backward_macs
    assert trilinear.flops == 2 * trilinear.macs + OUT * N + backward_other
    assert c.profile.ops["aten.sum"].flops == N * OUT  # the bias gradient
    assert c.profile.uncounted == {}


def test_bilinear_sparse_macs_skip_the_zero_weights():
    bilinear = torch.nn.Bilinear(IN1, IN2, OUT)
    with torch.no_grad():
        bilinear.weight[:2].zero_()  # two output features' weights: 2·IN1·IN2 zeros
    result = profile(bilinear, torch.randn(N, IN1), torch.randn(N, IN2))
    # each weight element takes part in N MACs (the first bmm, once per row)
    assert result.sparse_flops == result.flops - 2 * (2 * IN1 * IN2) * N


# ---- any pattern of dims, against the kernel's own calls -------------------------------------


def kernel_cost(i1, i2, i3, expand1, expand2, expand3, sumdim, unroll_dim) -> tuple[int, int]:
    """(MACs, other FLOPs) of the ops _trilinear's kernel runs, from torch.profiler's record:
    bmm b·m·k·n MACs; mul 1 per element of the broadcast; sum 1 per input element; add_ 1 per
    element."""
    args = (i1, i2, i3, expand1, expand2, expand3, sumdim, unroll_dim)
    with torch_profile(record_shapes=True) as recorded:
        torch.ops.aten._trilinear(*args)
    macs = other = 0
    for event in recorded.events():
        shapes = [s for s in event.input_shapes if s]
        if event.name == "aten::bmm":
            (b, m, k), (_, _, n) = shapes
            macs += b * m * k * n
        elif event.name == "aten::mul":
            other += prod(max(sizes) for sizes in zip(*shapes, strict=True))
        elif event.name in ("aten::sum", "aten::add_"):
            other += prod(shapes[0])
    return macs, other


@st.composite
def trilinear_calls(draw):
    """Inputs of _trilinear: each dim is held by a non-empty set of the three inputs (the others
    expand it), some dims are summed, one is unrolled."""
    dims = draw(st.integers(2, 4))
    holders = [draw(st.sets(st.sampled_from(range(3)), min_size=1)) for _ in range(dims)]
    sizes = [draw(st.integers(1, 3)) for _ in range(dims)]
    inputs = [torch.randn([sizes[d] for d in range(dims) if j in holders[d]]) for j in range(3)]
    expands = [[d for d in range(dims) if j not in holders[d]] for j in range(3)]
    sumdim = sorted(draw(st.sets(st.sampled_from(range(dims)))))
    unroll_dim = draw(st.integers(0, dims - 1))
    return (*inputs, *expands, sumdim, unroll_dim)


@SETTINGS
@given(trilinear_calls())
def test_trilinear_counts_what_its_kernel_runs(call):
    result = profile(torch.ops.aten._trilinear, *call)
    macs, other = kernel_cost(*call)
    assert result.macs == macs
    assert result.flops == 2 * macs + other
    assert result.uncounted == {}
