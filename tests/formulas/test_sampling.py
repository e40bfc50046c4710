"""Upsampling, antialiased resampling and grid sampling."""

from __future__ import annotations

from math import floor

import pytest
import torch
import torch.nn.functional as F

from pytest_flopbudget import profile
from tests.formulas.helpers import op_flops, training_step

# ---- interpolation -----------------------------------------------------------------------------

IMAGE = torch.randn(1, 2, 8, 8)


def test_bicubic_upsampling_is_seven_per_output_element_per_dimension():
    """4 taps per dimension: 4 products and 3 additions."""
    result = training_step(lambda x: F.interpolate(x, scale_factor=1.5, mode="bicubic"), IMAGE)
    outputs = 2 * 12 * 12
    assert op_flops(result, "aten.upsample_bicubic2d") == 7 * 2 * outputs
    assert op_flops(result, "aten.upsample_bicubic2d_backward") == 7 * 2 * outputs


def test_linear_and_nearest_upsampling_backwards():
    bilinear = training_step(lambda x: F.interpolate(x, size=(3, 5), mode="bilinear"), IMAGE)
    assert op_flops(bilinear, "aten.upsample_bilinear2d_backward") == 3 * 2 * (2 * 3 * 5)
    nearest = training_step(lambda x: F.interpolate(x, scale_factor=2), IMAGE)
    assert op_flops(nearest, "aten.upsample_nearest2d_backward") == 2 * 16 * 16
    assert bilinear.uncounted == {} and nearest.uncounted == {}


def test_antialiased_downsampling_counts_the_taps_of_the_widened_filter():
    """8 → 3 per dimension, scale 8/3: the bilinear filter's support widens to ±8/3 pixels and the
    output positions (centres 1.33, 4, 6.67) see 4, 6 and 4 input pixels: Σ (2t − 1) = 25 per
    line; the two dimensions' lines over 3 positions of the other, for 2 channels."""
    fn = lambda x: F.interpolate(x, size=(3, 3), mode="bilinear", antialias=True)  # noqa: E731
    result = training_step(fn, IMAGE)
    per_line = (2 * 4 - 1) + (2 * 6 - 1) + (2 * 4 - 1)
    expected = 2 * (per_line * 3 + per_line * 3)
    assert op_flops(result, "aten._upsample_bilinear2d_aa") == expected
    assert op_flops(result, "aten._upsample_bilinear2d_aa_backward") == expected


def test_antialiased_upsampling_clips_the_filter_at_the_borders():
    """4 → 8, scale 1/2: the filter keeps its 2 taps except at the first and last output."""
    fn = lambda x: F.interpolate(x, size=(8, 8), mode="bilinear", antialias=True)  # noqa: E731
    result = profile(fn, torch.randn(1, 1, 4, 4))
    per_line = 1 + 6 * 3 + 1
    assert result.flops == per_line * 8 + per_line * 8


def test_antialiased_bicubic_has_twice_the_support():
    """8 → 4, scale 2: support ±4 pixels; centres 1, 3, 5, 7 see 5, 7, 7 and 5 input pixels."""
    fn = lambda x: F.interpolate(x, size=(4, 4), mode="bicubic", antialias=True)  # noqa: E731
    result = profile(fn, torch.randn(1, 1, 8, 8))
    per_line = (2 * 5 - 1) + (2 * 7 - 1) + (2 * 7 - 1) + (2 * 5 - 1)
    assert result.flops == per_line * 4 + per_line * 4


GRID = (torch.rand(1, 4, 5, 2) * 2 - 1).requires_grad_()


GRID_OUTPUTS = 2 * 4 * 5  # channels × grid points


@pytest.mark.parametrize(
    ("mode", "per_output", "grad_input", "grad_grid"),
    [("bilinear", 3 * 2, 3 * 2, 3 * 2), ("bicubic", 7 * 2, 7 * 2, 7 * 2), ("nearest", 0, 1, 0)],
)
def test_grid_sampler_interpolates_per_output_and_scales_the_grid(
    mode, per_output, grad_input, grad_grid
):
    def sample(image, grid):
        return F.grid_sample(image, grid, mode=mode, align_corners=False)

    result = training_step(sample, IMAGE, GRID)
    grid_scaling = 2 * GRID.numel()
    forward = per_output * GRID_OUTPUTS + grid_scaling
    backward = (grad_input + grad_grid) * GRID_OUTPUTS + grid_scaling
    assert op_flops(result, "aten.grid_sampler_2d") == forward
    assert op_flops(result, "aten.grid_sampler_2d_backward") == backward


def test_grid_sampler_3d_is_trilinear():
    volume, grid = torch.randn(1, 2, 4, 4, 4), torch.rand(1, 2, 3, 3, 3) * 2 - 1
    result = profile(lambda v, g: F.grid_sample(v, g, align_corners=False), volume, grid)
    assert op_flops(result, "aten.grid_sampler_3d") == 3 * 3 * (2 * 2 * 3 * 3) + 2 * grid.numel()


# ---- FFT ---------------------------------------------------------------------------------------


def nearest(value: float) -> int:
    return floor(value + 0.5)
