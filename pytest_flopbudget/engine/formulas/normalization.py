"""Normalizations (layer, group, batch norm, weight norm), softmax and pooling, and their backward.

All of it is `other_flops` (no MACs): it counts under the "all" convention (FLOPs =
``2 * macs + other_flops``) and not under "matmul". A normalization costs 2 per element (subtract
the mean, multiply by 1/std), 1 per element per affine term, and 3 per element more when it
computes its statistics; softmax 3n − 1 per row of n; a pool 1 per element of each window (a
comparison or an addition), plus 1 division per output element for an average.
"""

from __future__ import annotations

from collections.abc import Callable
from math import ceil, floor, prod
from typing import Any

from pytest_flopbudget.engine.cost import Cost
from pytest_flopbudget.engine.formulas._table import (
    Shape,
    _per_input,
    _present,
    _shape,
    formula,
    per_output,
    register,
)


def norm_flops(elements: int, affine_terms: int, computes_statistics: bool) -> int:
    """A normalization: subtract the mean and multiply by 1/std (2 per element), plus one per
    element for each affine term present (weight, bias), plus 3 per element when the statistics
    are computed on the fly (the sum for the mean, the square and the sum for the variance)."""
    per_element = 2 + affine_terms + (3 if computes_statistics else 0)
    return elements * per_element


@formula("native_layer_norm")
def _layer_norm(args, kwargs, out) -> Cost:
    """native_layer_norm(input, normalized_shape, weight, bias, eps)."""
    affine = _present(args[2]) + _present(args[3])
    return Cost(other_flops=norm_flops(args[0].numel(), affine, True))


@formula("native_group_norm")
def _group_norm(args, kwargs, out) -> Cost:
    """native_group_norm(input, weight, bias, N, C, HxW, group, eps)."""
    affine = _present(args[1]) + _present(args[2])
    return Cost(other_flops=norm_flops(args[0].numel(), affine, True))


def _batch_norm_with_training_at(index: int | None) -> Callable[..., Cost]:
    """native_batch_norm and _native_batch_norm_legit*(input, weight, bias, running_mean,
    running_var, [training], ...): statistics are computed only in training."""

    def cost(args, kwargs, out) -> Cost:
        training = bool(args[index]) if index is not None else False
        affine = 2 * _present(args[1])
        return Cost(other_flops=norm_flops(args[0].numel(), affine, training))

    return cost


register(
    ("native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_functional"),
    _batch_norm_with_training_at(5),
)
register("_native_batch_norm_legit_no_training", _batch_norm_with_training_at(None))


@formula("native_layer_norm_backward")
def _layer_norm_backward(args, kwargs, out) -> Cost:
    """native_layer_norm_backward(grad_out, input, normalized_shape, mean, rstd, weight, bias,
    output_mask)."""
    affine = _present(args[5]) + _present(args[6])
    return Cost(other_flops=2 * norm_flops(args[1].numel(), affine, True))


@formula("native_batch_norm_backward")
def _batch_norm_backward(args, kwargs, out) -> Cost:
    """native_batch_norm_backward(grad_out, input, weight, running_mean, running_var, save_mean,
    save_invstd, train, eps, output_mask)."""
    affine = 2 * _present(args[2])
    return Cost(other_flops=2 * norm_flops(args[1].numel(), affine, bool(args[7])))


@formula("native_group_norm_backward")
def _group_norm_backward(args, kwargs, out) -> Cost:
    """native_group_norm_backward(grad_out, input, mean, rstd, weight, N, C, HxW, group, mask)."""
    affine = 2 * _present(args[4])
    return Cost(other_flops=2 * norm_flops(args[1].numel(), affine, True))


@formula("_weight_norm_interface")
def _weight_norm(args, kwargs, out) -> Cost:
    """_weight_norm_interface(v, g, dim) -> (w, norms): each norm 2 per element of v (square,
    add) + 1 (the root); w = v·(g/norm): 1 per element + 1 per norm."""
    return Cost(other_flops=3 * args[0].numel() + 2 * out[1].numel())


@formula("_weight_norm_interface_backward")
def _weight_norm_backward(args, kwargs, out) -> Cost:
    """_weight_norm_interface_backward(grad_w, saved_v, saved_g, saved_norms, dim): twice the
    forward's cost, as the normalizations' backward."""
    return Cost(other_flops=2 * (3 * args[1].numel() + 2 * args[3].numel()))


# ---- softmax ----------------------------------------------------------------------------------


def softmax_flops(rows: int, n: int) -> int:
    """Softmax over rows of n: n exponentials, n-1 additions, n divisions."""
    return rows * (3 * n - 1)


def softmax_backward_flops(rows: int, n: int) -> int:
    """grad_in = y * (g - sum(g * y)): n products, n-1 additions, n subtractions, n products."""
    return rows * (4 * n - 1)


def _rows_and_n(x: Any, dim: int) -> tuple[int, int]:
    shape = _shape(x)
    if not shape:
        return 1, 1
    n = shape[dim]
    return (x.numel() // n if n else 0), n


@formula("_softmax", "_safe_softmax", "_log_softmax")
def _softmax(args, kwargs, out) -> Cost:
    """_softmax / _safe_softmax / _log_softmax(input, dim, ...)."""
    rows, n = _rows_and_n(args[0], args[1])
    return Cost(other_flops=softmax_flops(rows, n))


@formula("_softmax_backward_data", "_log_softmax_backward_data")
def _softmax_backward(args, kwargs, out) -> Cost:
    """_softmax_backward_data / _log_softmax_backward_data(grad_output, output, dim, dtype)."""
    rows, n = _rows_and_n(args[0], args[2])
    return Cost(other_flops=softmax_backward_flops(rows, n))


# ---- pooling ----------------------------------------------------------------------------------

register(
    (
        "max_pool2d_with_indices",
        "max_pool3d_with_indices",
        "max_pool2d",
        "adaptive_max_pool2d",
        "adaptive_max_pool3d",
    ),
    per_output(1),
)
register(("max_pool2d_with_indices_backward", "max_pool3d_with_indices_backward"), _per_input(1))


def _kernel_elements(kernel_size: Any, spatial_dims: int) -> int:
    sizes = [kernel_size] if isinstance(kernel_size, int) else list(kernel_size)
    if len(sizes) == 1:
        sizes = sizes * spatial_dims
    return prod(sizes)


@formula("avg_pool2d", "avg_pool3d")
def _avg_pool(args, kwargs, out) -> Cost:
    """avg_pool{2,3}d(input, kernel_size, ...): k additions and one division per output element."""
    k = _kernel_elements(args[1], len(_shape(out)) - 2)
    return Cost(other_flops=(k + 1) * out.numel())


@formula("avg_pool2d_backward", "avg_pool3d_backward")
def _avg_pool_backward(args, kwargs, out) -> Cost:
    """avg_pool{2,3}d_backward(grad_output, input, kernel_size, ...): as the forward."""
    k = _kernel_elements(args[2], len(_shape(args[0])) - 2)
    return Cost(other_flops=(k + 1) * args[0].numel())


def adaptive_pool_window_total(in_sizes: Shape, out_sizes: Shape) -> int:
    """Sum over all output positions of the window size of an adaptive pool (one batch-channel)."""
    total = 1
    for size_in, size_out in zip(in_sizes, out_sizes, strict=True):
        total *= sum(
            ceil((i + 1) * size_in / size_out) - floor(i * size_in / size_out)
            for i in range(size_out)
        )
    return total


@formula("_adaptive_avg_pool2d", "_adaptive_avg_pool3d")
def _adaptive_avg_pool(args, kwargs, out) -> Cost:
    """_adaptive_avg_pool{2,3}d(input, output_size): window size + 1 per output element."""
    x = args[0]
    spatial = len(_shape(out)) - 2 if len(_shape(out)) > 2 else len(_shape(out)) - 1
    in_sizes, out_sizes = _shape(x)[-spatial:], _shape(out)[-spatial:]
    planes = out.numel() // prod(out_sizes)
    return Cost(other_flops=planes * adaptive_pool_window_total(in_sizes, out_sizes) + out.numel())
