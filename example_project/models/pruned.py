"""An MLP for flattened 28×28 inputs, and magnitude pruning of its Linear weights."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune

__all__ = ["build_mlp", "prune_linear_weights", "sparsity"]


def build_mlp(num_classes: int = 10) -> nn.Sequential:
    """784 → 256 → 128 → num_classes with ReLU in between."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(28 * 28, 256),
        nn.ReLU(),
        nn.Linear(256, 128),
        nn.ReLU(),
        nn.Linear(128, num_classes),
    )


def prune_linear_weights(model: nn.Module, amount: float = 0.8) -> nn.Module:
    """Zero the `amount` smallest-magnitude weights of every nn.Linear (biases are kept).

    torch's pruning keeps `weight_orig` and a `weight_mask` and recomputes
    `weight = weight_orig * weight_mask` before each forward; the model is pruned in place.
    """
    for module in model.modules():
        if isinstance(module, nn.Linear):
            prune.l1_unstructured(module, name="weight", amount=amount)
    return model


def sparsity(model: nn.Module) -> float:
    """The fraction of zero entries over all nn.Linear weights (the effective ones)."""
    zeros = total = 0
    for module in model.modules():
        if isinstance(module, nn.Linear):
            weight: torch.Tensor = module.weight
            zeros += int((weight == 0).sum())
            total += weight.numel()
    return zeros / total
