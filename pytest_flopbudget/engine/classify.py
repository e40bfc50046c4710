"""How an op is priced: a formula, free, unknown, or run as the ops it is made of.

An op is classified once per registry (the installed one lives for the process) and the answer
cached on the registry, so the counter's per-op work is one dict lookup.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import flop_registry as torch_flop_registry

from pytest_flopbudget.engine.cost import Cost
from pytest_flopbudget.engine.formulas import (
    ELEMENTWISE_COST,
    FOREACH_COST,
    FOREACH_PREFIX,
    normalized_op_name,
    per_output,
)
from pytest_flopbudget.engine.registry import BUILTIN_SOURCE, Entry, Registry, zero_cost

__all__ = [
    "COMPOSITE",
    "DECOMPOSE",
    "UNKNOWN",
    "ZERO",
    "classify",
    "handler",
    "warn_unused_formulas",
]

ZERO = "zero"  # handler: costs nothing by decision
UNKNOWN = "unknown"  # handler: no formula; listed in Profile.uncounted
DECOMPOSE = "decompose"  # handler: a composite op, counted as the ops it is made of
COMPOSITE = torch._C.DispatchKey.CompositeImplicitAutograd
# a kernel of its own for one of these keys: the op runs as itself wherever autograd is on, too
_OWN_KERNEL_KEYS = (
    torch._C.DispatchKey.CPU,
    torch._C.DispatchKey.CUDA,
    torch._C.DispatchKey.Meta,
    torch._C.DispatchKey.CompositeExplicitAutograd,
)


def _torch_formula(formula: Callable[..., int]) -> Callable[..., Cost]:
    """An op only torch.utils.flop_counter knows: its count is 2 FLOPs per MAC."""

    def cost(args, kwargs, out) -> Cost:
        return Cost(macs=formula(*args, **kwargs, out_val=out) // 2)

    return cost


def _out_of_place_is_pointwise(func: torch._ops.OpOverload, name: str) -> bool:
    """An in-place op (`gelu_`, `mish_`, `threshold_`) whose out-of-place form carries the
    pointwise tag that it lacks itself."""
    if name == func.overloadpacket.__name__:
        return False
    packet = getattr(torch.ops.aten, name, None)
    overload = getattr(packet, func._overloadname, None) if packet is not None else None
    return overload is not None and torch.Tag.pointwise in overload.tags


def _moves_no_data(func: torch._ops.OpOverload) -> bool:
    """A view (its schema returns an alias of an input: `view`, `squeeze`, `t`) or an in-place
    view, tagged so (`squeeze_`, `unsqueeze_`, `t_`, `resize_`, `resize_as_`, `set_`): it
    changes a tensor's shape or strides and computes nothing, so it costs 0 by rule."""
    return func.is_view or torch.Tag.inplace_view in func.tags


def _is_composite(func: torch._ops.OpOverload) -> bool:
    """An op made of other ops (`linear`, `matmul`, `conv2d`, `layer_norm`, `dropout`, `lstm`,
    `scaled_dot_product_attention`, …): a CompositeImplicitAutograd kernel and no kernel of its
    own. Where autograd is on, only its parts reach the dispatch mode; under
    ``torch.inference_mode()`` (or on inference tensors) the op itself arrives."""
    name = func.name()
    has_kernel = torch._C._dispatch_has_kernel_for_dispatch_key
    try:
        return has_kernel(name, COMPOSITE) and not any(
            has_kernel(name, key) for key in _OWN_KERNEL_KEYS
        )
    except RuntimeError:  # an op outside the C++ dispatcher (`prim::device`): not composite
        return False


def _warn_unused(registry: Registry, op: str, entry: Entry) -> None:
    """Warn, once per registry, that `entry`'s formula for the composite op `op` is not used;
    the warning points at the formula (where it can be changed)."""
    if op in registry.warned:
        return
    registry.warned.add(op)
    message = (
        f"the formula for {op} from {entry.source} is not used: {op} is a composite op, which "
        "torch runs as the ops it is made of (aten::linear, say, as aten::addmm or aten::mm) "
        "before the counter can see it, under no_grad, with gradients and under inference_mode "
        "alike; those ops are counted in its place (the op table, profile.ops or "
        f"--flop-report, names them): register formulas for them instead of {op}, or price "
        "the module that calls it with the pytest_flopbudget_module_cost hook"
    )
    code = getattr(entry.formula, "__code__", None)
    if code is None:  # a callable object: no place to point at
        warnings.warn(message, UserWarning, stacklevel=2)
    else:
        warnings.warn_explicit(message, UserWarning, code.co_filename, code.co_firstlineno)


def _overloads(op: str) -> list[torch._ops.OpOverload]:
    """The overloads a registry key names (``ns::op``: all of them; ``ns::op.name``: one);
    none for an op that is not defined (yet)."""
    namespace, _, rest = op.partition("::")
    name, _, overload = rest.partition(".")
    packet = getattr(getattr(torch.ops, namespace), name, None)
    if packet is None:
        return []
    names = [overload] if overload else packet.overloads()
    return [getattr(packet, n) for n in names if hasattr(packet, n)]


def warn_unused_formulas(registry: Registry) -> None:
    """Warn about every user formula that names a composite op: torch never lets such an op
    reach the counter (no_grad, gradients) or the counter runs its parts (inference_mode), so
    the formula would be ignored without a word. Checked once per registry, when a count
    starts; an op defined only later is caught when it is classified."""
    if registry.checked:
        return
    registry.checked = True
    for op, entry in registry.entries.items():
        if entry.source != BUILTIN_SOURCE and any(map(_is_composite, _overloads(op))):
            _warn_unused(registry, op.partition(".")[0], entry)


def classify(func: torch._ops.OpOverload, registry: Registry) -> Any:
    """The cost handler of an op: a formula, ZERO, UNKNOWN or DECOMPOSE. A composite op is
    run as its parts, which are counted, so inference mode counts what no_grad counts (and a
    formula for a composite op, which no_grad never reaches, is not used: `warn_unused_formulas`
    says so when a count starts, and this when an op defined later arrives). The registry is asked
    next (by overload, packet, then an in-place op's out-of-place packet); an op outside the aten
    namespace is priced only there, by its full name, so it never takes the formula of an aten
    op that shares its bare name. Then views and in-place views are free by rule (whatever their
    namespace), `_foreach_*` and pointwise-tagged ops cost per element, and ops only torch's own
    registry knows get its count."""
    name = normalized_op_name(func.overloadpacket.__name__)
    entry = registry.lookup(
        func.name(), func.overloadpacket._qualified_op_name, f"{func.namespace}::{name}"
    )
    if _is_composite(func):
        if entry is not None and entry.source != BUILTIN_SOURCE:
            _warn_unused(registry, func.overloadpacket._qualified_op_name, entry)
        return DECOMPOSE
    if entry is not None:
        return ZERO if entry.formula is zero_cost else entry.formula
    if _moves_no_data(func):
        return ZERO
    if func.namespace != "aten":
        return UNKNOWN
    if name.startswith(FOREACH_PREFIX):
        return FOREACH_COST
    if torch.Tag.pointwise in func.tags or _out_of_place_is_pointwise(func, name):
        return per_output(ELEMENTWISE_COST.get(name, 1))
    if func.overloadpacket in torch_flop_registry:
        return _torch_formula(torch_flop_registry[func.overloadpacket])
    return UNKNOWN


def handler(registry: Registry, func: torch._ops.OpOverload) -> tuple[Any, str]:
    """An op's handler and display name, classified once per registry (the installed one lives
    for the process)."""
    found = registry.handlers.get(func)
    if found is None:
        found = registry.handlers[func] = (classify(func, registry), str(func.overloadpacket))
    return found
