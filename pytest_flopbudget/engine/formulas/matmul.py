"""Matrix products: mm, addmm, bmm, baddbmm, addbmm, mv, addmv, dot, vdot, the grouped matmul of
mixtures of experts, and pairwise distances (cdist, _euclidean_dist).

A product is counted in MACs (m·k·n for an m×k by k×n product): FLOPs are ``2 * macs`` under
both conventions, plus, under "all", the `other_flops` (1 per output element for an added input
or bias). A complex product counts 4 real MACs per complex one. Each product also says how often
each element of its operands is used (`weight_uses`), for sparse counting.
"""

from __future__ import annotations

from collections.abc import Callable
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
