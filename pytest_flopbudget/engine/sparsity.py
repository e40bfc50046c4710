"""Sparse weights: how many of an op's MACs multiply by a zero weight (a pruned or zeroed one).

A formula names the weights its MACs use (`Cost.weight_uses`, `Cost.separate_weight_uses`);
`SparseWeights` knows the model's weights by storage, so it tells a weight (or a view of one)
from an activation, and counts the MACs each zero element of it takes part in.
"""

from __future__ import annotations

from typing import Any

import torch

from pytest_flopbudget.engine.cost import Cost
from pytest_flopbudget.engine.params import has_values, own_parameters, pruned_weight_names

__all__ = ["SparseWeights"]


class SparseWeights:
    """The weights of the modules `add`ed, and the MACs that a Cost's weight uses skip.

    `known` turns False once a weight's values cannot be read (meta or fake tensors): from then
    on no sparse count is made, rather than a wrong one.
    """

    def __init__(self) -> None:
        self.weights: dict[int, torch.Tensor] = {}  # by storage pointer
        self.pruned: list[torch.nn.Module] = []
        self.pruned_current: dict[tuple[int, str], int] = {}
        self.nonzero_cache: dict[tuple[int, int], int] = {}
        self.known = True

    def add(self, module: torch.nn.Module) -> None:
        """Learn a module's own parameters, and whether it has pruned weights."""
        for _, param in own_parameters(module):
            if has_values(param) and param.numel():
                self.weights[param.untyped_storage().data_ptr()] = param
        if pruned_weight_names(module):
            self.pruned.append(module)

    def weight(self, operand: torch.Tensor) -> torch.Tensor | None:
        """The weight `operand` is, or a view of: a parameter or a pruned module's weight."""
        pointer = operand.untyped_storage().data_ptr()
        weight = self.weights.get(pointer)
        if weight is not None or not self.pruned:
            return weight
        for module in self.pruned:
            for name in pruned_weight_names(module):
                effective = getattr(module, name, None)
                if not isinstance(effective, torch.Tensor) or not has_values(effective):
                    continue
                effective_pointer = effective.untyped_storage().data_ptr()
                previous = self.pruned_current.get((id(module), name))
                if previous is not None and previous != effective_pointer:
                    self.weights.pop(previous, None)
                self.pruned_current[(id(module), name)] = effective_pointer
                self.weights[effective_pointer] = effective
        return self.weights.get(pointer)

    def nonzero(self, tensor: torch.Tensor) -> int:
        """Nonzero elements of a tensor. A parameter is scanned once per version: its count
        serves both the sparse MACs and the nonzero params. Other weights (a pruned module's
        weight, recomputed every forward) are scanned each time: a freed one's id can return,
        and so is an inference tensor (a model built under ``torch.inference_mode()``), which
        has no version to tell an in-place change by."""
        if not isinstance(tensor, torch.nn.Parameter) or tensor.is_inference():
            return int(torch.count_nonzero(tensor))
        key = (id(tensor), tensor._version)
        nonzero = self.nonzero_cache.get(key)
        if nonzero is None:
            nonzero = self.nonzero_cache[key] = int(torch.count_nonzero(tensor))
        return nonzero

    def skipped_macs(self, cost: Cost) -> int:
        """MACs that multiply by a zero weight: (zero elements of the weight) × (uses of each).
        Among `weight_uses` the first weight decides; each of `separate_weight_uses` counts."""
        skipped = self._skipped_by(cost.weight_uses)
        for entry in cost.separate_weight_uses:
            skipped += self._skipped_by((entry,))
        return skipped

    def _skipped_by(self, weight_uses: tuple[tuple[Any, int], ...]) -> int:
        for operand, uses in weight_uses:
            if not isinstance(operand, torch.Tensor) or not has_values(operand):
                self.known = False
                return 0
            weight = self.weight(operand) if operand.numel() else None
            if weight is not None:
                # a view of the whole weight (w.t()) has its nonzeros; a slice has its own
                whole = operand.numel() == weight.numel()
                nonzero = self.nonzero(weight) if whole else int(torch.count_nonzero(operand))
                return (operand.numel() - nonzero) * uses
        return 0
