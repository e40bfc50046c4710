"""Matrix products: mm, addmm, bmm, baddbmm, addbmm, mv, addmv, dot, vdot, the grouped matmul of
mixtures of experts, pairwise distances (cdist, _euclidean_dist) and the trilinear form of
nn.Bilinear (_trilinear).

A product is counted in MACs (m·k·n for an m×k by k×n product): FLOPs are ``2 * macs`` under
both conventions, plus, under "all", the `other_flops` (1 per output element for an added input
or bias). A complex product counts 4 real MACs per complex one. Each product also says how often
each element of its operands is used (`weight_uses`), for sparse counting.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod
from typing import Any

from pytest_flopbudget.engine.cost import Cost
from pytest_flopbudget.engine.formulas._table import (
    _first,
    _shape,
    _values_known,
    arg,
    formula,
    register,
)


def _complex_macs(formula: Callable[..., Cost]) -> Callable[..., Cost]:
    """A matrix product of complex tensors: each complex multiply-accumulate is 4 real ones
    (BLAS's 8·m·k·n FLOPs for a complex GEMM)."""

    def cost(args, kwargs, out) -> Cost:
        real = formula(args, kwargs, out)
        if not _first(out).is_complex():
            return real
        uses = tuple((operand, 4 * n) for operand, n in real.weight_uses)
        return Cost(4 * real.macs, real.other_flops, uses)

    return cost


def _mm(args, kwargs, out) -> Cost:
    a, b = args[0], args[1]
    m, k = _shape(a)
    n = _shape(b)[1]
    return Cost(m * k * n, 0, ((a, n), (b, m)))


register("mm", _complex_macs(_mm))


def _addmm(args, kwargs, out) -> Cost:
    return _mm(args[1:], kwargs, out) + Cost(other_flops=out.numel())


register("addmm", _complex_macs(_addmm))


def _bmm(args, kwargs, out) -> Cost:
    a, b = args[0], args[1]
    batch, m, k = _shape(a)
    n = _shape(b)[2]
    return Cost(batch * m * k * n, 0, ((a, n), (b, m)))


register("bmm", _complex_macs(_bmm))


def _baddbmm(args, kwargs, out) -> Cost:
    return _bmm(args[1:], kwargs, out) + Cost(other_flops=out.numel())


register("baddbmm", _complex_macs(_baddbmm))


def _addbmm(args, kwargs, out) -> Cost:
    """addbmm(input, batch1, batch2, beta, alpha): Σ_b batch1[b] @ batch2[b], plus the input."""
    return _bmm(args[1:], kwargs, out) + Cost(other_flops=out.numel())


register("addbmm", _complex_macs(_addbmm))


def _mv(args, kwargs, out) -> Cost:
    matrix, vector = args[0], args[1]
    m, n = _shape(matrix)
    return Cost(m * n, 0, ((matrix, 1), (vector, m)))


register("mv", _complex_macs(_mv))


def _addmv(args, kwargs, out) -> Cost:
    return _mv(args[1:], kwargs, out) + Cost(other_flops=out.numel())


register("addmv", _complex_macs(_addmv))


def _dot(args, kwargs, out) -> Cost:
    return Cost(args[0].numel())


register(("dot", "vdot"), _complex_macs(_dot))


# ---- grouped matmuls (mixture of experts) ---------------------------------------------------


def _last_offset(offs: Any, full: int) -> int:
    """Rows (or columns) a grouped matmul covers: the last offset on real tensors; on meta and
    fake tensors, where the offsets are unknown, the whole dimension."""
    if offs is None or not _values_known(offs) or offs.numel() == 0:
        return full
    return min(int(offs[-1]), full)


@formula("_grouped_mm")
def _grouped_mm(args, kwargs, out) -> Cost:
    """_grouped_mm(self, mat2, offs=None, bias=None, out_dtype=None): Σ over groups of
    rows·k·n. 2d×3d (tokens × experts' weights): the rows up to offs[-1]; 3d×3d: every batch;
    2d×2d (offs on k, the weight gradient): k up to offs[-1]; 3d×2d: n up to offs[-1]."""
    a, b = args[0], args[1]
    offs = arg(args, kwargs, 2, "offs")
    bias = arg(args, kwargs, 3, "bias")
    a_shape, b_shape = _shape(a), _shape(b)
    if len(a_shape) == 2 and len(b_shape) == 3:
        macs = _last_offset(offs, a_shape[0]) * a_shape[1] * b_shape[2]
    elif len(a_shape) == 3 and len(b_shape) == 3:
        macs = a_shape[0] * a_shape[1] * a_shape[2] * b_shape[2]
    elif len(a_shape) == 2 and len(b_shape) == 2:
        macs = a_shape[0] * _last_offset(offs, a_shape[1]) * b_shape[1]
    else:  # 3d × 2d
        macs = a_shape[1] * a_shape[2] * _last_offset(offs, b_shape[1])
    return Cost(macs, out.numel() if bias is not None else 0)


# ---- pairwise distances -----------------------------------------------------------------------


def cdist_flops(pairs: int, coordinates: int) -> int:
    """Pairwise distances: 3 per (pair, coordinate) (difference, power, sum) + 1 per pair (the
    root), whatever p."""
    return 3 * pairs * coordinates + pairs


@formula("_cdist_forward")
def _cdist_forward(args, kwargs, out) -> Cost:
    """_cdist_forward(x1, x2, p, compute_mode)."""
    return Cost(other_flops=cdist_flops(out.numel(), _shape(args[0])[-1]))


@formula("_cdist_backward")
def _cdist_backward(args, kwargs, out) -> Cost:
    """_cdist_backward(grad, x1, x2, p, cdist): as the forward."""
    return Cost(other_flops=cdist_flops(args[0].numel(), _shape(args[1])[-1]))


@formula("_euclidean_dist")
def _euclidean_dist(args, kwargs, out) -> Cost:
    """_euclidean_dist(x1, x2), as it runs: squared norms (2 per element of x1 and x2), x1·(−2)
    (1 per element), one matmul over the M coordinates plus 2 columns holding the norms, then
    clamp and root (2 per output element)."""
    x1, x2 = args[0], args[1]
    macs = out.numel() * (_shape(x1)[-1] + 2)
    return Cost(macs, 3 * x1.numel() + 2 * x2.numel() + 2 * out.numel())


# ---- the trilinear form (nn.Bilinear) ----------------------------------------------------------


def _unsqueezed(shape: tuple[int, ...], expand: set[int], dims: int) -> list[int]:
    """A _trilinear input's shape with a 1 inserted at each of its `expand` dims."""
    sizes = iter(shape)
    return [1 if d in expand else next(sizes) for d in range(dims)]


def _sumproduct_pair(
    left: list[int], right: list[int], summed: list[int]
) -> tuple[Cost, list[int], bool, bool]:
    """ATen's sumproduct_pair(left, right, summed, keepdim=True) as it runs. With nothing to
    sum, a mul: 1 per element of the broadcast product. Else a summed dim that only one side has
    (the other has 1 there) is summed away first (1 per element of that side), then one bmm: 1
    MAC per point of the two shapes' broadcast. Returns the cost, the result's shape, and whether
    each side met the bmm whole (not summed first), for sparse counting."""
    if not summed:
        product = [max(a, b) for a, b in zip(left, right, strict=True)]
        return Cost(other_flops=prod(product)), product, False, False
    left, right, flops = list(left), list(right), 0
    left_whole = right_whole = True
    for d in sorted(summed):
        if left[d] != 1 and right[d] == 1:
            flops, left[d], left_whole = flops + prod(left), 1, False
        elif right[d] != 1 and left[d] == 1:
            flops, right[d], right_whole = flops + prod(right), 1, False
    points = [max(a, b) for a, b in zip(left, right, strict=True)]
    result = [1 if d in summed else size for d, size in enumerate(points)]
    return Cost(prod(points), flops), result, left_whole, right_whole


@formula("_trilinear")
def _trilinear(args, kwargs, out) -> Cost:
    """_trilinear(i1, i2, i3, expand1, expand2, expand3, sumdim, unroll_dim=1): i1·i2·i3, each
    input unsqueezed at its `expand` dims, summed over the `sumdim` dims. nn.Bilinear is
    y[n, o] = Σ_ij x1[n, i]·W[o, i, j]·x2[n, j]; its backward is three more _trilinear calls,
    one per gradient, with the roles of the dims swapped.

    Counted as ATen runs it: for each index of `unroll_dim`, i1·i2 summed over the summed dims
    that i3 lacks, then that times i3 summed over the other summed dims (a `_sumproduct_pair`
    each), then added into the output (1 per element of the step's result). Bilinear(in1, in2,
    out) on N rows: per output feature a bmm of N·in1·in2 MACs, one of N·in2, and N additions."""
    i1, i2, i3 = args[0], args[1], args[2]
    expand = [set(arg(args, kwargs, 3 + j, f"expand{j + 1}")) for j in range(3)]
    summed_dims = set(arg(args, kwargs, 6, "sumdim"))
    unroll = arg(args, kwargs, 7, "unroll_dim", 1)
    if not (i1.numel() and i2.numel() and i3.numel()):
        return Cost()
    dims = i1.dim() + len(expand[0])
    full = [_unsqueezed(_shape(t), e, dims) for t, e in zip((i1, i2, i3), expand, strict=True)]
    steps = max(shape[unroll] for shape in full)
    slices = [[1 if d == unroll else size for d, size in enumerate(s)] for s in full]
    summed = sorted(summed_dims - {unroll})
    first, buf, i1_whole, i2_whole = _sumproduct_pair(
        slices[0], slices[1], [d for d in summed if d in expand[2]]
    )
    second, buf, _, i3_whole = _sumproduct_pair(
        buf, slices[2], [d for d in summed if d not in expand[2]]
    )
    # each element of an input met whole by a bmm takes part in (its MACs) / (its elements)
    first_uses = tuple(
        (t, steps * first.macs // t.numel())
        for t, whole in ((i1, i1_whole), (i2, i2_whole))
        if whole
    )
    second_uses = ((i3, steps * second.macs // i3.numel()),) if i3_whole else ()
    return Cost(
        steps * (first.macs + second.macs),
        steps * (first.other_flops + second.other_flops + prod(buf)),
        first_uses,
        second_uses,
    )
