"""torchvision's ops, keyed by their full name (``torchvision::roi_align``): roi_align,
ps_roi_align, roi_pool, ps_roi_pool, deform_conv2d, and their backward (nms is in `zero`).

A deformable convolution's products are MACs (FLOPs ``2 * macs`` under both conventions); the
rest is `other_flops`, counted under "all" (FLOPs = ``2 * macs + other_flops``). A bilinear
sample is the interpolation rule with 2 taps in 2 dimensions: (2·2 − 1)·2 = 6 FLOPs. A pool costs
1 per output element (a comparison), as a max pool.
"""

from __future__ import annotations

from math import ceil, prod
from typing import Any

from pytest_flopbudget.engine.cost import Cost
from pytest_flopbudget.engine.formulas._table import (
    Shape,
    _first,
    _per_input,
    _shape,
    _values_known,
    formula,
    per_output,
    register,
)
from pytest_flopbudget.engine.formulas.sampling import LINEAR_TAPS

# torchvision ops: a bilinear sample is the interpolation rule with 2 taps in 2 dimensions.
BILINEAR_SAMPLE = (2 * LINEAR_TAPS - 1) * 2


def roi_align_samples(boxes: list[list[float]], scale: float, bins: Shape, clamp: bool) -> int:
    """Σ over the boxes of the adaptive sampling grid, ceil(box height / bins) ·
    ceil(box width / bins), as torchvision computes it (a legacy box is at least 1×1)."""
    total = 0
    for _, x1, y1, x2, y2 in boxes:
        height, width = (y2 - y1) * scale, (x2 - x1) * scale
        if clamp:
            height, width = max(height, 1.0), max(width, 1.0)
        total += max(ceil(height / bins[0]), 0) * max(ceil(width / bins[1]), 0)
    return total


def roi_align_cost(
    elements: int, rois: Any, scale: float, bins: Shape, sampling: int, clamp: bool
) -> Cost:
    """roi_align and ps_roi_align: per output element, each of its bin's samples is a bilinear
    sample and an addition, then 1 division. An adaptive grid (sampling_ratio ≤ 0) is read from
    the boxes on real tensors; on meta and fake tensors it is unknown: the op is then listed as
    uncounted, never guessed."""
    if sampling > 0:
        samples = elements * sampling * sampling
    elif _values_known(rois):
        per_box = elements // max(_shape(rois)[0], 1)
        samples = per_box * roi_align_samples(rois.tolist(), scale, bins, clamp)
    else:
        raise ValueError("an adaptive roi_align grid depends on the boxes' values")
    return Cost(other_flops=(BILINEAR_SAMPLE + 1) * samples + elements)


@formula("torchvision::roi_align")
def _roi_align(args, kwargs, out) -> Cost:
    """torchvision::roi_align(input, rois, spatial_scale, pooled_height, pooled_width,
    sampling_ratio, aligned)."""
    rois, scale, bins, sampling, aligned = args[1], args[2], (args[3], args[4]), args[5], args[6]
    return roi_align_cost(out.numel(), rois, scale, bins, sampling, clamp=not aligned)


@formula("torchvision::_roi_align_backward")
def _roi_align_backward(args, kwargs, out) -> Cost:
    """torchvision::_roi_align_backward(grad, rois, spatial_scale, pooled_height, pooled_width,
    batch_size, channels, height, width, sampling_ratio, aligned): as the forward, per grad
    element (each sample's gradient spread over its 4 neighbours)."""
    grad, rois, scale, bins = args[0], args[1], args[2], (args[3], args[4])
    return roi_align_cost(grad.numel(), rois, scale, bins, args[9], clamp=not args[10])


@formula("torchvision::ps_roi_align")
def _ps_roi_align(args, kwargs, out) -> Cost:
    """torchvision::ps_roi_align(input, rois, spatial_scale, pooled_height, pooled_width,
    sampling_ratio) -> (output, channel_mapping)."""
    rois, scale, bins, sampling = args[1], args[2], (args[3], args[4]), args[5]
    return roi_align_cost(_first(out).numel(), rois, scale, bins, sampling, clamp=False)


@formula("torchvision::_ps_roi_align_backward")
def _ps_roi_align_backward(args, kwargs, out) -> Cost:
    """torchvision::_ps_roi_align_backward(grad, rois, channel_mapping, spatial_scale,
    pooled_height, pooled_width, sampling_ratio, batch_size, channels, height, width)."""
    grad, rois, scale, bins, sampling = args[0], args[1], args[3], (args[4], args[5]), args[6]
    return roi_align_cost(grad.numel(), rois, scale, bins, sampling, clamp=False)


# as max pool: 1 per output element
register(("torchvision::roi_pool", "torchvision::ps_roi_pool"), per_output(1))
register(("torchvision::_roi_pool_backward", "torchvision::_ps_roi_pool_backward"), _per_input(1))


def deform_conv2d_cost(batch: int, out_spatial: int, weight: Shape, in_channels: int) -> Cost:
    """A deformable convolution: a convolution's MACs at the output positions, plus a bilinear
    sample of every input channel at every kernel tap of every output position."""
    samples = batch * out_spatial * in_channels * prod(weight[2:])
    return Cost(batch * out_spatial * prod(weight), BILINEAR_SAMPLE * samples)


@formula("torchvision::deform_conv2d")
def _deform_conv2d(args, kwargs, out) -> Cost:
    """torchvision::deform_conv2d(input, weight, offset, mask, bias, ..., use_mask): plus the
    mask's product per sample with use_mask, and the bias add (always done: torchvision passes
    zeros for no bias)."""
    x, weight, use_mask = args[0], args[1], bool(args[13])
    out_spatial = prod(_shape(out)[2:])
    cost = deform_conv2d_cost(_shape(x)[0], out_spatial, _shape(weight), _shape(x)[1])
    mask_products = cost.other_flops // BILINEAR_SAMPLE if use_mask else 0
    return Cost(cost.macs, cost.other_flops + mask_products + out.numel())


@formula("torchvision::_deform_conv2d_backward")
def _deform_conv2d_backward(args, kwargs, out) -> Cost:
    """torchvision::_deform_conv2d_backward(grad, input, weight, offset, mask, bias, ...):
    grad_input and grad_weight each repeat the forward's MACs; the sampling is done three times
    (grad_input, grad_offset and mask, the columns for grad_weight); grad_bias sums grad."""
    grad, x, weight = args[0], args[1], args[2]
    forward = deform_conv2d_cost(_shape(x)[0], prod(_shape(grad)[2:]), _shape(weight), _shape(x)[1])
    return Cost(2 * forward.macs, 3 * forward.other_flops + grad.numel())
