"""Scatters, gathers and histograms."""

from __future__ import annotations

import pytest
import torch

from pytest_flopbudget import profile
from tests.formulas.helpers import op_flops, training_step

# ---- accumulating scatters, histograms, distances, weight norm ---------------------------------


@pytest.mark.filterwarnings("ignore:index_reduce\\(\\) is in beta:UserWarning")
def test_accumulating_scatters_cost_one_per_source_element():
    index = torch.tensor([0, 2, 2, 4])
    added = profile(lambda s: torch.zeros(5, 3).index_add_(0, index, s, alpha=2), torch.randn(4, 3))
    assert added.flops == 2 * 4 * 3  # an addition and alpha's product
    rows = torch.tensor([[0, 2, 2]])
    scattered = profile(lambda s: torch.zeros(5, 3).scatter_add(0, rows, s), torch.randn(4, 3))
    assert scattered.flops == 3  # only the index's elements of src are used
    mean = profile(
        lambda s: torch.zeros(5, 3).scatter_reduce(0, rows, s, "mean"), torch.randn(4, 3)
    )
    assert mean.flops == 3 + 5 * 3
    amax = profile(
        lambda s: torch.zeros(5, 3).index_reduce_(0, index, s, "amax"), torch.randn(4, 3)
    )
    assert amax.flops == 4 * 3


def test_gather_and_index_select_backwards_are_accumulations():
    gathered = training_step(lambda x: x.gather(0, torch.tensor([[1, 2]])), torch.randn(6, 4))
    assert op_flops(gathered, "aten.scatter_add") == 2
    selected = training_step(lambda x: x.index_select(0, torch.tensor([1, 2])), torch.randn(6, 4))
    assert op_flops(selected, "aten.index_add") == 2 * 4


def test_histc_is_one_per_input_element():
    assert profile(lambda x: torch.histc(x, bins=10), torch.randn(100)).flops == 100
