"""Bytes moved by one op, under the "unfused" convention: each op the dispatch mode sees reads the
tensors it is given and writes the tensors it returns, as if it were its own kernel.

An input counts the bytes of the elements it addresses (a broadcast, stride-0 dimension counts
once); an output its elements times their size. An op that gathers rows or elements of its first
argument by an index (`embedding`, `embedding_bag`, `index_select`, `gather`, `index`, `take`)
reads only what it gathers from it, not the whole table. An op whose outputs only alias its
inputs (a view: `view`, `t`, `transpose`, `expand`, `select`, `detach`, …, or an in-place view
such as `squeeze_`) moves nothing. Known from shapes, strides and dtypes alone, so it works on
meta and fake tensors. Every op is priced by this rule: bytes moved have no "uncounted".
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["addressed_bytes", "bytes_moved", "moves_nothing", "op_dtype"]

# ops that return an alias of their input without saying so in their schema
_UNANNOTATED_ALIASES = frozenset({"_unsafe_view"})
# ops that read of their first argument only the elements their output holds
_GATHERS = frozenset({"embedding", "index_select", "gather", "index", "take"})
# ops that read one row of their first argument (a table) per index of their second, then reduce
_BAGS = frozenset({"_embedding_bag", "_embedding_bag_forward_only", "embedding_bag"})
_moves_nothing: dict[torch._ops.OpOverload, bool] = {}


def moves_nothing(func: torch._ops.OpOverload) -> bool:
    """Whether an op's outputs only alias its inputs (a view or an in-place view): no data is
    read or written. Decided by the op's schema and tags, once per op."""
    found = _moves_nothing.get(func)
    if found is None:
        found = _moves_nothing[func] = (
            func.is_view
            or torch.Tag.inplace_view in func.tags
            or func.overloadpacket.__name__ in _UNANNOTATED_ALIASES
        )
    return found


def addressed_bytes(tensor: torch.Tensor) -> int:
    """The bytes of the elements `tensor` addresses: a dimension of stride 0 (a broadcast)
    counts once."""
    strides = tensor.stride() if tensor.layout == torch.strided else ()
    if 0 in strides:
        elements = 1
        for size, stride in zip(tensor.shape, strides, strict=True):
            if stride:
                elements *= size
    else:
        elements = tensor.numel()
    return elements * tensor.element_size()


def _tensors_bytes(values: Any) -> int:
    total = 0
    for value in values:
        if isinstance(value, torch.Tensor):
            total += addressed_bytes(value)
        elif isinstance(value, (list, tuple)):
            total += _tensors_bytes(value)
    return total


def bytes_moved(func: torch._ops.OpOverload, args: tuple, kwargs: dict, out: Any) -> int:
    """The bytes an op reads (its tensor arguments, keyword ones included, lists of tensors too)
    and writes (its outputs). An ``out=`` tensor is written, not read; a gather reads of its
    table only what it gathers."""
    outputs = out if isinstance(out, (list, tuple)) else (out,)
    read = _tensors_bytes(args)
    if kwargs:
        read += _tensors_bytes(v for k, v in kwargs.items() if k != "out")
    name = func.overloadpacket.__name__
    if (name in _GATHERS or name in _BAGS) and isinstance(args[0], torch.Tensor):
        table = args[0]
        if name in _GATHERS:
            gathered = outputs[0].numel() if isinstance(outputs[0], torch.Tensor) else 0
        else:  # a row of the table per index
            gathered = args[1].numel() * (table.numel() // max(table.shape[0], 1))
        whole = addressed_bytes(table)
        read -= whole - min(whole, gathered * table.element_size())
    return read + _tensors_bytes(outputs)


def _first_tensor(values: Any, accept) -> torch.Tensor | None:
    for value in values:
        if isinstance(value, torch.Tensor):
            if accept(value):
                return value
        elif isinstance(value, (list, tuple)):
            found = _first_tensor(value, accept)
            if found is not None:
                return found
    return None


def _dtype_name(dtype: torch.dtype) -> str:
    if dtype in (torch.qint8, torch.quint8, torch.uint8, torch.int8, torch.qint32):
        return "int8"
    if dtype.is_complex:
        return "float64" if dtype == torch.complex128 else "float32"
    return str(dtype).removeprefix("torch.")


def op_dtype(args: tuple, out: Any, tf32: bool = False) -> str:
    """The dtype an op computes in, by name (``"float32"``, ``"bfloat16"``, ``"int8"``): that of
    its first floating-point tensor argument, else its output's (a quantized op's is ``"int8"``).
    ``"tf32"`` for a float32 op that `tf32` says runs on TF32 tensor cores."""
    first = _first_tensor(args, torch.Tensor.is_floating_point)
    if first is None:
        first = _first_tensor(out if isinstance(out, (list, tuple)) else (out,), lambda t: True)
    if first is None:
        return "float32"
    name = _dtype_name(first.dtype)
    return "tf32" if tf32 and name == "float32" else name
