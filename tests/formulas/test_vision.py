"""torchvision ops: RoI align and pool, deformable convolution, NMS."""

from __future__ import annotations

import pytest
import torch

from pytest_flopbudget import profile
from tests.formulas.helpers import op_flops, training_step

# ---- torchvision's ops (skipped without torchvision) -------------------------------------------


def boxes():
    return torch.tensor([[0, 0.0, 0.0, 8.0, 8.0], [0, 2.0, 2.0, 5.0, 11.0]])


FEATURES = torch.randn(1, 3, 16, 16)


POOLED = 2 * 3 * 4 * 4  # boxes × channels × 4×4 bins


def test_roi_align_with_a_fixed_grid():
    ops = pytest.importorskip("torchvision.ops")
    result = training_step(lambda f: ops.roi_align(f, boxes(), 4, 1.0, 2), FEATURES)
    per_output = 2 * 2 * (6 + 1) + 1  # 2×2 bilinear samples (6 each) and their sum, one division
    assert op_flops(result, "torchvision.roi_align") == per_output * POOLED
    assert op_flops(result, "torchvision._roi_align_backward") == per_output * POOLED


def test_roi_align_adaptive_grid_is_read_from_the_boxes():
    """Box 1 is 8×8: ceil(8/4)² = 4 samples per bin; box 2 is 3 wide, 9 high: 1·3 = 3."""
    ops = pytest.importorskip("torchvision.ops")
    result = profile(lambda f: ops.roi_align(f, boxes(), 4, 1.0, -1), FEATURES)
    samples = 3 * 16 * (4 + 3)
    assert result.flops == (6 + 1) * samples + POOLED


def test_roi_align_adaptive_grid_on_meta_is_listed_uncounted():
    ops = pytest.importorskip("torchvision.ops")
    features, rois = FEATURES.to("meta"), boxes().to("meta")
    result = profile(lambda f, b: ops.roi_align(f, b, 4, 1.0, -1), features, rois)
    assert result.uncounted == {"torchvision.roi_align (formula failed)": 1}


def test_roi_pool_is_one_per_output_element():
    ops = pytest.importorskip("torchvision.ops")
    result = training_step(lambda f: ops.roi_pool(f, boxes(), 4, 1.0), FEATURES)
    assert op_flops(result, "torchvision.roi_pool") == POOLED
    assert op_flops(result, "torchvision._roi_pool_backward") == POOLED


def test_position_sensitive_roi_ops():
    ops = pytest.importorskip("torchvision.ops")
    features = torch.randn(1, 8, 16, 16)  # 8 channels = 2 outputs × 2×2 bins
    outputs = 2 * 2 * 2 * 2
    aligned = training_step(lambda f: ops.ps_roi_align(f, boxes(), 2, 1.0, 2), features)
    per_output = 2 * 2 * (6 + 1) + 1
    assert op_flops(aligned, "torchvision.ps_roi_align") == per_output * outputs
    assert op_flops(aligned, "torchvision._ps_roi_align_backward") == per_output * outputs
    pooled = training_step(lambda f: ops.ps_roi_pool(f, boxes(), 2, 1.0), features)
    assert op_flops(pooled, "torchvision.ps_roi_pool") == outputs
    assert op_flops(pooled, "torchvision._ps_roi_pool_backward") == outputs


def test_deform_conv2d_is_a_convolution_plus_bilinear_sampling():
    ops = pytest.importorskip("torchvision.ops")
    x, weight = torch.randn(1, 4, 8, 8), torch.randn(6, 4, 3, 3)
    offset, mask = torch.randn(1, 2 * 9, 6, 6), torch.rand(1, 9, 6, 6)

    def deform(x, offset, weight, bias, mask):
        return ops.deform_conv2d(x, offset, weight, bias, mask=mask)

    result = training_step(deform, x, offset, weight, torch.zeros(6), mask)
    positions = 6 * 6
    macs = positions * weight.numel()
    samples = positions * 4 * 9  # every input channel at every tap of every output position
    outputs = 6 * positions
    assert result.ops["torchvision.deform_conv2d"].macs == macs
    assert op_flops(result, "torchvision.deform_conv2d") == 2 * macs + (6 + 1) * samples + outputs
    backward = result.ops["torchvision._deform_conv2d_backward"]
    assert backward.macs == 2 * macs
    assert backward.flops == 2 * 2 * macs + 3 * 6 * samples + outputs


def test_nms_costs_nothing_and_is_not_uncounted():
    ops = pytest.importorskip("torchvision.ops")
    result = profile(ops.nms, boxes()[:, 1:], torch.tensor([0.9, 0.8]), 0.5)
    assert result.flops == 0 and result.uncounted == {}
