"""Parameters: unique, trainable, nonzero (pruned weights included), and which tensors are weights.

Conventions (the README's table): a tensor shared by two modules counts once; buffers are not
parameters; a pruned weight (torch.nn.utils.prune) counts as its dense size in `params`, and as
the nonzero entries of ``weight_orig * weight_mask`` in `nonzero_params`. On the meta device or
under FakeTensorMode values are unknown, so nonzero counts are None.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass

import torch
from torch._subclasses.fake_tensor import is_fake

__all__ = [
    "ParamCounts",
    "count_params",
    "has_values",
    "own_parameters",
    "own_sizes",
    "packed_weights",
    "param_bytes",
    "pruned_weight_names",
    "storage_bytes",
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


# ---- quantized modules: weights packed in torch.ScriptObjects ---------------------------------

# Where torch.ao's quantized modules keep their packed weights: a quantized Conv's
# `_packed_params`, the `_packed_params` of the LinearPackedParams inside a quantized or dynamic
# Linear, an EmbeddingPackedParams' `_packed_weight`, a dynamic LSTM/GRU's PackedParameter `param`.
_PACKED_ATTRIBUTES = ("_packed_params", "_packed_weight", "param")
_PER_TENSOR = (torch.per_tensor_affine, torch.per_tensor_symmetric)
_QUANTIZER_BYTES = 8 + 8  # a per-tensor quantizer's float64 scale and int64 zero point


def _attribute(module: torch.nn.Module, name: str) -> object:
    if isinstance(module, torch.jit.ScriptModule):  # its attributes live in the C++ module
        return getattr(module, name) if module._c.hasattr(name) else None
    return module.__dict__.get(name)


def _packed_objects(module: torch.nn.Module) -> list[tuple[str, torch.ScriptObject]]:
    return [
        (name, packed)
        for name in _PACKED_ATTRIBUTES
        if isinstance(packed := _attribute(module, name), torch.ScriptObject)
        and (packed._type().name().endswith("PackedParamsBase") or _is_cell_params(packed))
    ]


def _is_cell_params(packed: torch.ScriptObject) -> bool:
    return packed._type().name() == "CellParamsBase"


def _unpacked(packed: torch.ScriptObject) -> list[torch.Tensor]:
    """The weights and biases inside one packed object, each at its stored dtype."""
    if _is_cell_params(packed):
        # (kind, tensors, doubles, longs, packed linears): the dynamic cells ("quantized_dynamic",
        # "quantized_fp16") keep w_ih, b_ih and w_hh, b_hh in their two packed linears
        kind, *_, linears = packed.__getstate__()[0]
        if kind not in ("quantized_dynamic", "quantized_fp16"):
            raise NotImplementedError(f"the weights of {kind!r} cell params cannot be read")
        return [tensor for linear in linears for tensor in _unpacked(linear)]
    unpacked = packed.unpack()
    tensors = list(unpacked) if isinstance(unpacked, (tuple, list)) else [unpacked]
    weight = tensors[0]
    if packed._type().name() == "LinearPackedParamsBase" and not weight.is_quantized:
        # only linear_prepack_fp16 packs a float weight: it stores float16, unpack widens it
        tensors[0] = weight.to(torch.float16)
    return [tensor for tensor in tensors if tensor is not None]


def packed_weights(module: torch.nn.Module) -> list[tuple[Hashable, list[torch.Tensor]]]:
    """The weights and biases a quantized module keeps itself (not its children) in packed
    objects, unpacked at their stored dtype (int8 / quint8 quantized tensors, float16, float32
    biases), each group with a key naming the module and attribute that hold it (the tensors are
    fresh copies each time, and so is a TorchScript module's packed object). [] for any other
    module."""
    return [((id(module), name), _unpacked(packed)) for name, packed in _packed_objects(module)]


def own_sizes(module: torch.nn.Module) -> dict[Hashable, int]:
    """Elements of the module's own parameters and packed weights, keyed by the parameter's id
    or the packed weights' key: what one module adds to the parameters of the modules above it."""
    sizes: dict[Hashable, int] = {id(param): param.numel() for _, param in own_parameters(module)}
    for key, tensors in packed_weights(module):
        sizes[key] = sum(tensor.numel() for tensor in tensors)
    return sizes


def storage_bytes(tensor: torch.Tensor) -> int:
    """Bytes a tensor holds: its elements at its dtype's size, plus a quantized tensor's scales
    and zero points (one float64 and one int64 per tensor, or per channel)."""
    size = tensor.numel() * tensor.element_size()
    if not tensor.is_quantized:
        return size
    if tensor.qscheme() in _PER_TENSOR:
        return size + _QUANTIZER_BYTES
    for qparams in (tensor.q_per_channel_scales(), tensor.q_per_channel_zero_points()):
        size += qparams.numel() * qparams.element_size()
    return size


def _unique_packed_weights(modules: Iterable[torch.nn.Module]) -> Iterator[torch.Tensor]:
    seen: set[Hashable] = set()
    for root in modules:
        for module in root.modules():
            for key, tensors in packed_weights(module):
                if key not in seen:
                    seen.add(key)
                    yield from tensors


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
    counts a tensor's nonzero elements (a caller may pass one that remembers its answers).
    A quantized module's packed weights are parameters, not trainable ones; a quantized
    element is nonzero when its value (not its integer) is."""
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
        for tensor in _unique_packed_weights(modules):
            total += tensor.numel()
            if known:
                nonzero_count += nonzero(tensor.dequantize() if tensor.is_quantized else tensor)
    return ParamCounts(total, trainable, nonzero_count if known else None, param_bytes(modules))


def param_bytes(modules: Iterable[torch.nn.Module]) -> int:
    """Bytes of the unique parameters and buffers, each at its own dtype's size, and of quantized
    modules' packed weights as stored (see `storage_bytes`)."""
    modules = list(modules)
    seen: set[int] = set()
    size = 0
    for root in modules:
        for tensor in (*root.parameters(), *root.buffers()):
            if id(tensor) not in seen:
                seen.add(id(tensor))
                size += tensor.numel() * tensor.element_size()
    return size + sum(storage_bytes(tensor) for tensor in _unique_packed_weights(modules))
