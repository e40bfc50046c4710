"""F.fold's aten.col2im (the overlap-add) and F.unfold's aten.im2col, forward and backward,
against closed forms: col2im adds each column element that lands inside the output into its
place (1 FLOP each; those landing in the padding are dropped), im2col only copies (0)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tests.formulas.helpers import training_step


def test_fold_adds_each_column_element_into_its_place():
    # 3 channels, 2×2 kernel, stride 1 on a 4×4 output: 3×3 blocks, 4 taps each; every tap of
    # every block lands inside the output
    columns = torch.randn(2, 3 * 2 * 2, 3 * 3)
    result = training_step(lambda x: F.fold(x, (4, 4), 2), columns)
    assert result.ops["aten.col2im"].flops == columns.numel()
    assert result.macs == 0
    assert result.flops == columns.numel()  # the backward's im2col copies the gradient: 0
    assert result.uncounted == {}


def test_fold_drops_the_elements_that_land_in_the_padding():
    # 2×2 kernel, stride 2, padding 1 on a 4×4 output: 3 blocks a side, at rows -1..4 of which
    # rows 0..3 are inside: 4 of the 6 (block, tap) places a side, 4·4 = 16 of 36 per plane
    columns = torch.randn(2, 3 * 2 * 2, 3 * 3)
    result = training_step(lambda x: F.fold(x, (4, 4), 2, padding=1, stride=2), columns)
    planes = 2 * 3
    assert result.ops["aten.col2im"].flops == planes * 4 * 4
    assert result.uncounted == {}


def test_unfold_backward_is_the_overlap_add():
    # 5×5 input, 3×3 kernel, stride 2, padding 1: blocks start at -1, 1, 3; their taps reach
    # -1..1, 1..3, 3..5: 7 of the 9 (block, tap) places a side are inside, 49 per plane; with
    # dilation 2 (stride 1): blocks start at -1, 0, 1 with taps 2 apart, at -1, 1, 3 / 0, 2, 4 /
    # 1, 3, 5: 7 of 9 again
    image = torch.randn(2, 3, 5, 5)
    planes = 2 * 3
    for options in ({"padding": 1, "stride": 2}, {"padding": 1, "dilation": 2}):
        result = training_step(lambda x: F.unfold(x, 3, **options), image)  # noqa: B023
        assert result.ops["aten.col2im"].flops == planes * 7 * 7
        assert result.flops == planes * 7 * 7  # im2col, the forward, copies: 0
        assert result.uncounted == {}
