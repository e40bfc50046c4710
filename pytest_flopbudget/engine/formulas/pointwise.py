"""Pointwise work: elementwise ops and their backward, reductions, dropout, the _foreach_ ops, and
ops that add values into place (index_add, scatter_add, scatter_reduce, embedding bags, histc,
the overlap-adds unfold_backward and col2im).

All of it is `other_flops` (no MACs): it counts under the "all" convention (FLOPs =
``2 * macs + other_flops``) and not under "matmul". An elementwise op costs 1 per output
element, except tanh (5) and sigmoid (4) (`ELEMENTWISE_COST`; the counter prices every op torch
tags pointwise so, and the ops below it does not tag). A reduction costs 1 per input element,
plus its divisions and roots per output element.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod

from pytest_flopbudget.engine.cost import Cost
from pytest_flopbudget.engine.formulas._table import (
    _first,
    _per_input,
    _shape,
    arg,
    formula,
    per_output,
    register,
)

# Elementwise ops (torch's `pointwise` tag) cost 1 per output element unless listed here.
ELEMENTWISE_COST: dict[str, int] = {
    "tanh": 5,
    "sigmoid": 4,
}

# elementwise ops torch does not tag pointwise, and elementwise backwards: 1 per element
register(
    (
        "hardswish",
        "log_sigmoid_forward",
        "rrelu_with_noise",
        "rrelu_with_noise_functional",
        "_prelu_kernel",
        "hardswish_backward",
        "hardsigmoid_backward",
        "hardtanh_backward",
        "leaky_relu_backward",
        "elu_backward",
        "softplus_backward",
        "mish_backward",
        "log_sigmoid_backward",
        "softshrink_backward",
        "hardshrink_backward",
        "rrelu_with_noise_backward",
    ),
    per_output(1),
)
register("_prelu_kernel_backward", per_output(2))  # grad_input and grad_weight: 1 product each
register("glu", per_output(5))  # a·sigmoid(b): sigmoid 4 + the product
# glu_backward: sigmoid recomputed (4 per half) + 1 per grad_input element
register("glu_backward", per_output(3))

# reductions: 1 per input element, plus the per-output divisions / roots
register(("sum", "prod", "amax", "amin", "max", "min", "cumsum", "cumprod"), _per_input(1))
register("mean", _per_input(1, 1))
register("var", _per_input(3, 1))
register(("std", "var_mean"), _per_input(3, 2))
register("std_mean", _per_input(3, 3))
register(("linalg_vector_norm", "norm"), _per_input(2, 1))
register("logsumexp", _per_input(4, 2))

# dropout: the mask multiply and the 1/(1-p) scale
register(("native_dropout", "native_dropout_backward"), _per_input(2))


# ---- _foreach_ ops ------------------------------------------------------------------------------

FOREACH_PREFIX = "_foreach_"


def _foreach(args, kwargs, out) -> Cost:
    """_foreach_* ops: 1 per element of every tensor in the first list."""
    return Cost(other_flops=sum(t.numel() for t in args[0]))


FOREACH_COST = _foreach


# ---- accumulating scatters and histograms -----------------------------------------------------


@formula("index_add")
def _index_add(args, kwargs, out) -> Cost:
    """index_add(self, dim, index, source, alpha=1): 1 per source element, +1 with alpha ≠ 1."""
    alpha = arg(args, kwargs, 4, "alpha", 1)
    return Cost(other_flops=args[3].numel() * (1 if alpha == 1 else 2))


@formula("scatter_add")
def _scatter_add(args, kwargs, out) -> Cost:
    """scatter_add(self, dim, index, src): 1 per index element (only those of src are used)."""
    return Cost(other_flops=args[2].numel())


def _reduce_into(used_at: int) -> Callable[..., Cost]:
    """scatter_reduce(self, dim, index, src, reduce, include_self) and index_reduce(self, dim,
    index, source, reduce, include_self): 1 per index (scatter) or source (index) element for
    every reduction; "mean" adds 1 per output element (the division)."""

    def cost(args, kwargs, out) -> Cost:
        reduce = arg(args, kwargs, 4, "reduce")
        flops = args[used_at].numel() + (out.numel() if reduce == "mean" else 0)
        return Cost(other_flops=flops)

    return cost


register("scatter_reduce", _reduce_into(2))
register("index_reduce", _reduce_into(3))
register("histc", _per_input(1))


@formula("unfold_backward")
def _unfold_backward(args, kwargs, out) -> Cost:
    """unfold_backward(grad_in, input_sizes, dim, size, step): every window element is added
    into its place (the overlap-add of istft): 1 per grad element."""
    return Cost(other_flops=args[0].numel())


def _taps_inside(size: int, kernel: int, dilation: int, padding: int, stride: int) -> int:
    """Along one dim of col2im: the (block, kernel tap) pairs whose place lies inside the output
    of `size` (the others fall in the padding)."""
    blocks = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    places = (b * stride - padding + t * dilation for b in range(blocks) for t in range(kernel))
    return sum(0 <= place < size for place in places)


@formula("col2im")
def _col2im(args, kwargs, out) -> Cost:
    """col2im(columns, output_size, kernel_size, dilation, padding, stride) (F.fold, and the
    backward of F.unfold): the overlap-add. Every column element whose place lies inside the
    output is added there (1 each); those in the padding are dropped: at most 1 per input
    element, as unfold_backward."""
    sizes, kernel, dilation, padding, stride = args[1:6]
    planes = out.numel() // prod(sizes)  # batch × channels
    per_plane = prod(map(_taps_inside, sizes, kernel, dilation, padding, stride))
    return Cost(other_flops=planes * per_plane)


# ---- embeddings -------------------------------------------------------------------------------

register("embedding_dense_backward", _per_input(1))

EMBEDDING_BAG_SUM, EMBEDDING_BAG_MEAN, EMBEDDING_BAG_MAX = 0, 1, 2


@formula("_embedding_bag", "_embedding_bag_forward_only")
def _embedding_bag(args, kwargs, out) -> Cost:
    """_embedding_bag(weight, indices, offsets, scale_grad_by_freq, mode, sparse,
    per_sample_weights, ...): 1 per looked-up element (sum: an addition; max: a comparison),
    +1 per looked-up element with per_sample_weights (the product), +1 per output element for
    mean (the division)."""
    weight, indices, mode = args[0], args[1], arg(args, kwargs, 4, "mode", 0)
    weights = arg(args, kwargs, 6, "per_sample_weights")
    looked_up = indices.numel() * _shape(weight)[1]
    flops = looked_up * (2 if weights is not None else 1)
    if mode == EMBEDDING_BAG_MEAN:
        flops += _first(out).numel()
    return Cost(other_flops=flops)


def _embedding_bag_backward(mode_at: int, weights_at: int, freq_at: int) -> Callable[..., Cost]:
    """_embedding_bag_backward / _embedding_bag_dense_backward(grad, indices, ...): each
    looked-up element's gradient added into its row (1), divided by its bag's size for mean
    (+1), by its frequency with scale_grad_by_freq (+1), multiplied by its per-sample weight
    (+1); max: 1 per grad element (each goes to its maximum's row)."""

    def cost(args, kwargs, out) -> Cost:
        grad, indices, mode = args[0], args[1], args[mode_at]
        if mode == EMBEDDING_BAG_MAX:
            return Cost(other_flops=grad.numel())
        per_element = 1 + (mode == EMBEDDING_BAG_MEAN) + bool(args[freq_at])
        per_element += arg(args, kwargs, weights_at, "per_sample_weights") is not None
        return Cost(other_flops=per_element * indices.numel() * _shape(grad)[1])

    return cost


register("_embedding_bag_backward", _embedding_bag_backward(mode_at=8, weights_at=10, freq_at=7))
register(
    "_embedding_bag_dense_backward", _embedding_bag_backward(mode_at=7, weights_at=8, freq_at=6)
)


@formula("_embedding_bag_per_sample_weights_backward")
def _embedding_bag_weights_backward(args, kwargs, out) -> Cost:
    """_embedding_bag_per_sample_weights_backward(grad, weight, indices, ...): a product and a
    sum per looked-up element (each weight's gradient is a row's dot product with grad)."""
    return Cost(other_flops=2 * args[2].numel() * _shape(args[1])[1])
