"""Resampling: interpolation (upsample_* and their backward, antialiased included) and grid
sampling (grid_sampler_{2,3}d and their backward).

All of it is `other_flops` (no MACs): it counts under the "all" convention (FLOPs =
``2 * macs + other_flops``) and not under "matmul". Interpolation costs (2t − 1) per output
element per interpolated dimension, t the taps of that dimension's filter (t multiplications,
t − 1 additions): linear 2 taps, cubic 4. Nearest-neighbour upsampling moves data and costs 0
(see `zero`); its backward adds each gradient element into its source (1 per element).
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod

from pytest_flopbudget.engine.cost import Cost
from pytest_flopbudget.engine.formulas._table import (
    Shape,
    _first,
    _per_input,
    _shape,
    arg,
    formula,
    per_output,
    register,
)


def _upsample_linear(dims: int) -> Callable[..., Cost]:
    """Linear interpolation: 3 per output element per interpolated dimension."""
    return per_output(3 * dims)


register("upsample_linear1d", _upsample_linear(1))
register("upsample_bilinear2d", _upsample_linear(2))
register("upsample_trilinear3d", _upsample_linear(3))

# Interpolation: (2t − 1) per output element per interpolated dimension, t = the taps of that
# dimension's filter (t multiplications, t − 1 additions): linear 2 taps, cubic 4.
LINEAR_TAPS, CUBIC_TAPS = 2, 4


def _interpolation(taps: int, dims: int, on_grad: bool = False) -> Callable[..., Cost]:
    """upsample_* / upsample_*_backward: (2·taps − 1)·dims per output (grad_output) element."""

    def cost(args, kwargs, out) -> Cost:
        elements = args[0].numel() if on_grad else _first(out).numel()
        return Cost(other_flops=(2 * taps - 1) * dims * elements)

    return cost


# interpolation: (2·taps − 1) per output element per interpolated dimension
register("upsample_bicubic2d", _interpolation(CUBIC_TAPS, 2))
register("upsample_bicubic2d_backward", _interpolation(CUBIC_TAPS, 2, on_grad=True))
register("upsample_linear1d_backward", _interpolation(LINEAR_TAPS, 1, on_grad=True))
register("upsample_bilinear2d_backward", _interpolation(LINEAR_TAPS, 2, on_grad=True))
register("upsample_trilinear3d_backward", _interpolation(LINEAR_TAPS, 3, on_grad=True))
# nearest: each grad element added into its source
register(
    (
        "upsample_nearest1d_backward",
        "upsample_nearest2d_backward",
        "upsample_nearest3d_backward",
        "_upsample_nearest_exact1d_backward",
        "_upsample_nearest_exact2d_backward",
        "_upsample_nearest_exact3d_backward",
    ),
    _per_input(1),
)


def _pixel_scale(in_size: int, out_size: int, align_corners: bool, scale: float | None) -> float:
    """PyTorch's area_pixel_compute_scale: input pixels per output pixel."""
    if align_corners:
        return (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    return 1.0 / scale if scale else in_size / out_size


def antialias_taps(in_size: int, out_size: int, scale: float, taps: int) -> list[int]:
    """The taps of an antialiased filter at each output position, as PyTorch computes them: the
    filter's support widens by the scale when downsampling and is clipped at the borders."""
    support = taps * 0.5 * scale if scale >= 1.0 else taps * 0.5
    result = []
    for i in range(out_size):
        center = scale * (i + 0.5)
        start = max(int(center - support + 0.5), 0)
        result.append(min(int(center + support + 0.5), in_size) - start)
    return result


def antialias_flops(in_sizes: Shape, out_sizes: Shape, scales: tuple, taps: int) -> int:
    """Σ over the output positions of one plane of Σ_d (2·t_d − 1), t_d the taps of dimension d
    at that position (the `_interpolation` rule with exact taps)."""
    total = 0
    for size_in, size_out, scale in zip(in_sizes, out_sizes, scales, strict=True):
        per_line = sum(2 * t - 1 for t in antialias_taps(size_in, size_out, scale, taps))
        total += per_line * prod(out_sizes) // size_out
    return total


def _antialiased(taps: int, on_grad: bool = False) -> Callable[..., Cost]:
    """_upsample_{bilinear,bicubic}2d_aa(input, output_size, align_corners, scales_h, scales_w)
    and their _backward(grad_output, output_size, input_size, align_corners, scales_h,
    scales_w)."""

    def cost(args, kwargs, out) -> Cost:
        if on_grad:
            grad, in_shape, rest = args[0], tuple(args[2]), args[3:]
            out_shape = _shape(grad)
        else:
            in_shape, out_shape, rest = _shape(args[0]), _shape(out), args[2:]
        align_corners = bool(rest[0]) if rest else False
        given = list(rest[1]) if len(rest) > 1 and isinstance(rest[1], (list, tuple)) else rest[1:]
        given = [*given, None, None][:2]
        in_sizes, out_sizes = in_shape[2:], out_shape[2:]
        scales = tuple(
            _pixel_scale(i, o, align_corners, s)
            for i, o, s in zip(in_sizes, out_sizes, given, strict=True)
        )
        planes = out_shape[0] * out_shape[1]
        return Cost(other_flops=planes * antialias_flops(in_sizes, out_sizes, scales, taps))

    return cost


register("_upsample_bilinear2d_aa", _antialiased(LINEAR_TAPS))
register("_upsample_bicubic2d_aa", _antialiased(CUBIC_TAPS))
register("_upsample_bilinear2d_aa_backward", _antialiased(LINEAR_TAPS, on_grad=True))
register("_upsample_bicubic2d_aa_backward", _antialiased(CUBIC_TAPS, on_grad=True))


# ---- grid sampling ----------------------------------------------------------------------------

GRID_SAMPLER_TAPS = {0: LINEAR_TAPS, 2: CUBIC_TAPS}  # interpolation_mode 1 (nearest) has none


@formula("grid_sampler_2d", "grid_sampler_3d")
def _grid_sampler(args, kwargs, out) -> Cost:
    """grid_sampler_{2,3}d(input, grid, interpolation_mode, padding_mode, align_corners): the
    interpolation rule per output element (nearest: 0) plus 2 per grid coordinate (its scale and
    shift to pixels)."""
    dims = len(_shape(out)) - 2
    taps = GRID_SAMPLER_TAPS.get(args[2])
    per_output = (2 * taps - 1) * dims if taps else 0
    return Cost(other_flops=per_output * out.numel() + 2 * args[1].numel())


@formula("grid_sampler_2d_backward", "grid_sampler_3d_backward")
def _grid_sampler_backward(args, kwargs, out) -> Cost:
    """grid_sampler_{2,3}d_backward(grad_output, input, grid, interpolation_mode, padding_mode,
    align_corners, output_mask): grad_input and grad_grid each repeat the forward's
    interpolation per grad_output element (nearest: grad_input adds 1 per element, grad_grid
    is zero); plus the grid's scale and shift."""
    grad, grid, mode = args[0], args[2], args[3]
    output_mask = arg(args, kwargs, 6, "output_mask", (True, True))
    dims = len(_shape(grad)) - 2
    taps = GRID_SAMPLER_TAPS.get(mode)
    per_output = (2 * taps - 1) * dims if taps else 0
    flops = 2 * grid.numel()
    if output_mask[0]:
        flops += (per_output or 1) * grad.numel()
    if output_mask[1]:
        flops += per_output * grad.numel()
    return Cost(other_flops=flops)
