"""Parameters: unique, trainable, nonzero (pruned weights included), and which tensors are weights.

Conventions (the README's table): a tensor shared by two modules counts once; buffers are not
parameters; a pruned weight (torch.nn.utils.prune) counts as its dense size in `params`, and as
the nonzero entries of ``weight_orig * weight_mask`` in `nonzero_params`. On the meta device or
under FakeTensorMode values are unknown, so nonzero counts are None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
from torch._subclasses.fake_tensor import is_fake

__all__ = [
    "ParamCounts",
    "count_params",
    "has_values",
    "own_parameters",
    "param_bytes",
    "pruned_weight_names",
    "unique_parameters",
]

PRUNED_SUFFIX = "_orig"
MASK_SUFFIX = "_mask"


@dataclass(frozen=True)
class ParamCounts:
    params: int
    trainable_params: int
    nonzero_params: int | None
    param_bytes: int


_PLAIN = (torch.Tensor, torch.nn.Parameter)


def has_values(tensor: torch.Tensor) -> bool:
    """Whether the tensor's elements can be read (not meta, not fake)."""
    if tensor.is_meta:
        return False
    return type(tensor) in _PLAIN or not is_fake(tensor)


def unique_parameters(
    modules: Iterable[torch.nn.Module],
) -> Iterator[tuple[torch.nn.Module, str, torch.nn.Parameter]]:
    """(owning module, local name, parameter) of every parameter of the modules, each once."""
    seen: set[int] = set()
    for root in modules:
        for module in root.modules():
            for name, param in own_parameters(module):
                if param is None or id(param) in seen:
                    continue
                seen.add(id(param))
                yield module, name, param


def own_parameters(module: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    """The module's own (not its children's) parameters; works on TorchScript modules too,
    whose `_parameters` is no dict."""
    own = module._parameters
    if type(own) is dict:  # plain nn.Module: the fast path
        return [(name, param) for name, param in own.items() if param is not None]
    return list(module.named_parameters(recurse=False))


def pruned_weight_names(module: torch.nn.Module) -> list[str]:
    """Names of the weights torch.nn.utils.prune masks on this module (`weight` for weight_orig)."""
    if not module._forward_pre_hooks:  # pruning recomputes the weight in a forward pre-hook
        return []
    buffers = {name for name, _ in module.named_buffers(recurse=False)}
    return [
        name[: -len(PRUNED_SUFFIX)]
        for name, _ in own_parameters(module)
        if name.endswith(PRUNED_SUFFIX) and name[: -len(PRUNED_SUFFIX)] + MASK_SUFFIX in buffers
    ]


def _count_nonzero(tensor: torch.Tensor) -> int:
    return int(torch.count_nonzero(tensor))


def _nonzero(
    module: torch.nn.Module, name: str, param: torch.Tensor, nonzero: Callable[[torch.Tensor], int]
) -> int:
    if name.endswith(PRUNED_SUFFIX):
        mask = getattr(module, name[: -len(PRUNED_SUFFIX)] + MASK_SUFFIX, None)
        if mask is not None:
            return int(torch.count_nonzero((param != 0) & (mask != 0)))
    return nonzero(param)


def count_params(
    modules: Iterable[torch.nn.Module], nonzero: Callable[[torch.Tensor], int] = _count_nonzero
) -> ParamCounts:
    """Unique, trainable and nonzero parameters of the modules taken together; `nonzero`
    counts a tensor's nonzero elements (a caller may pass one that remembers its answers)."""
    modules = list(modules)
    total = trainable = nonzero_count = 0
    known = True
    with torch.no_grad():
        for module, name, param in unique_parameters(modules):
            total += param.numel()
            if param.requires_grad:
                trainable += param.numel()
            if known and has_values(param):
                nonzero_count += _nonzero(module, name, param, nonzero)
            else:
                known = False
    return ParamCounts(total, trainable, nonzero_count if known else None, param_bytes(modules))


def param_bytes(modules: Iterable[torch.nn.Module]) -> int:
    """Bytes of the unique parameters and buffers, each at its own dtype's size."""
    seen: set[int] = set()
    size = 0
    for root in modules:
        for tensor in (*root.parameters(), *root.buffers()):
            if id(tensor) not in seen:
                seen.add(id(tensor))
                size += tensor.numel() * tensor.element_size()
    return size
