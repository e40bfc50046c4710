"""Embedding bags."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pytest_flopbudget import profile
from tests.formulas.helpers import op_flops, training_step

# ---- embedding bags ----------------------------------------------------------------------------

BAG_ROWS, BAG_DIM = 10, 4


INDICES = torch.tensor([1, 2, 4, 5, 4, 3, 2, 9])


OFFSETS = torch.tensor([0, 4])  # two bags of 4


LOOKED_UP = INDICES.numel() * BAG_DIM


BAG_OUTPUTS = 2 * BAG_DIM


@pytest.mark.parametrize(
    ("mode", "forward", "backward"),
    [
        ("sum", LOOKED_UP, LOOKED_UP),
        ("mean", LOOKED_UP + BAG_OUTPUTS, 2 * LOOKED_UP),  # ÷ bag size: per output, per gradient
        ("max", LOOKED_UP, BAG_OUTPUTS),  # the gradient goes to each maximum's row only
    ],
)
def test_embedding_bag_costs_per_looked_up_element(mode, forward, backward):
    weight = torch.randn(BAG_ROWS, BAG_DIM)
    result = training_step(lambda w: F.embedding_bag(INDICES, w, OFFSETS, mode=mode), weight)
    assert op_flops(result, "aten._embedding_bag") == forward
    assert op_flops(result, "aten._embedding_bag_backward") == backward


def test_embedding_bag_per_sample_weights_add_a_product_per_looked_up_element():
    def bag(weight, sample_weights):
        return F.embedding_bag(
            INDICES, weight, OFFSETS, mode="sum", per_sample_weights=sample_weights
        )

    result = training_step(bag, torch.randn(BAG_ROWS, BAG_DIM), torch.rand(INDICES.numel()))
    assert op_flops(result, "aten._embedding_bag") == 2 * LOOKED_UP
    assert op_flops(result, "aten._embedding_bag_backward") == 2 * LOOKED_UP
    assert op_flops(result, "aten._embedding_bag_per_sample_weights_backward") == 2 * LOOKED_UP


def test_embedding_bag_module_in_eval_is_counted():
    bag = torch.nn.EmbeddingBag(BAG_ROWS, BAG_DIM, mode="mean")
    result = profile(bag, INDICES, OFFSETS)
    assert result.flops == LOOKED_UP + BAG_OUTPUTS and result.uncounted == {}
