"""Magnitude pruning, budgeted on what remains: nonzero parameters and sparse FLOPs.

The limits below hold only because 80% of each Linear's weights are zero; the dense MLP has
235,146 nonzero params and 15.0 MFLOPs of sparse work on the same batch, and would fail both.
"""

from __future__ import annotations

import pytest
import torch
from models import build_mlp, prune_linear_weights, sparsity
from torch import nn

BATCH = 32


@pytest.fixture
def pruned() -> nn.Module:
    # Pruning runs in set-up, so its top-k selection is not part of the measured call phase.
    return prune_linear_weights(build_mlp().eval(), amount=0.8)


def test_pruning_zeroes_eighty_percent(pruned: nn.Module) -> None:
    assert sparsity(pruned) == pytest.approx(0.8, abs=1e-3)


# Pruned MLP, batch of 32: 47,345 nonzero params (235,146 dense), 3.26 M sparse FLOPs
# (15.3 MFLOPs dense, including torch's weight_orig × weight_mask recomputation).
@pytest.mark.flop_budget(max_nonzero_params="60K", max_sparse_flops="4M", max_params="260K")
def test_pruned_inference(pruned: nn.Module) -> None:
    with torch.no_grad():
        logits = pruned(torch.randn(BATCH, 1, 28, 28))
    assert logits.shape == (BATCH, 10)
    assert torch.isfinite(logits).all()
