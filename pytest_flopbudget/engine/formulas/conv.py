"""Convolutions, any dimension, transposed, grouped or dilated, and their backward.

A convolution is counted in MACs: every weight element meets every (batch, spatial) position
once. FLOPs are ``2 * macs`` under both conventions, plus, under "all", 1 per output element for
the bias add (`other_flops`). Each weight element's uses are recorded for sparse counting.
"""

from __future__ import annotations

from math import prod

from pytest_flopbudget.engine.cost import Cost
from pytest_flopbudget.engine.formulas._table import Shape, _shape, formula


def conv_macs(batch: int, spatial: Shape, weight: Shape) -> int:
    """MACs of a convolution: every weight element meets every (batch, spatial) position once.

    `spatial` is the output's spatial shape for a convolution and the input's for a transposed
    one; `weight` already holds the per-group channel count, so groups need no extra factor.
    """
    return batch * prod(spatial) * prod(weight)


@formula("convolution", "_convolution")
def _convolution(args, kwargs, out) -> Cost:
    """convolution / _convolution(input, weight, bias, stride, padding, dilation, transposed,
    output_padding, groups)."""
    x, weight, bias, transposed = args[0], args[1], args[2], args[6]
    spatial = _shape(x)[2:] if transposed else _shape(out)[2:]
    uses = _shape(x)[0] * prod(spatial)
    macs = conv_macs(_shape(x)[0], spatial, _shape(weight))
    return Cost(macs, out.numel() if bias is not None else 0, ((weight, uses),))


@formula("convolution_backward")
def _convolution_backward(args, kwargs, out) -> Cost:
    """convolution_backward(grad_out, input, weight, bias_sizes, stride, padding, dilation,
    transposed, output_padding, groups, output_mask): grad_input and grad_weight each repeat the
    forward's MACs; grad_bias sums grad_out."""
    grad_out, x, weight = args[0], args[1], args[2]
    transposed, output_mask = args[7], args[10]
    spatial = _shape(x)[2:] if transposed else _shape(grad_out)[2:]
    uses = _shape(x)[0] * prod(spatial)
    forward_macs = conv_macs(_shape(x)[0], spatial, _shape(weight))
    cost = Cost()
    if output_mask[0]:
        cost += Cost(forward_macs, 0, ((weight, uses),))
    if output_mask[1]:
        cost += Cost(forward_macs)
    if output_mask[2]:
        cost += Cost(other_flops=grad_out.numel())
    return cost
