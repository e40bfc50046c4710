"""The table every family module registers into, and the helpers they share.

A formula is registered where it is defined, in the style of torch/utils/flop_counter.py:

    @formula("mm")                       # a function, under one or more op names
    def _mm(args, kwargs, out) -> Cost: ...

    register("quantized::conv2d", _quantized_conv(False))   # an adapter a factory makes

Names are the table's keys as the registry reads them: a bare name is an aten op (``"mm"`` is
``aten::mm``, the registry adds the namespace), any other op is written in full
(``"quantized::conv2d"``, ``"torchvision::roi_align"``). A name registered twice is an error at
import. The package's `__init__` imports every family module, then copies this table into
`FORMULAS`.

Adapters receive the op's actual ``(args, kwargs, out)`` and read only shapes and flags, so they
work the same on real, meta and fake tensors; nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from pytest_flopbudget.engine.cost import Cost

Shape = tuple[int, ...]
CostFunction = TypeVar("CostFunction", bound=Callable[..., Cost])

# Op name -> adapter, filled by `formula` and `register` as the family modules are imported.
REGISTERED: dict[str, Callable[..., Cost]] = {}


def register(names: str | Sequence[str], cost: CostFunction) -> CostFunction:
    """Price the op(s) `names` (one name or several) with `cost`; returns `cost`."""
    for name in (names,) if isinstance(names, str) else names:
        if name in REGISTERED:
            raise ValueError(f"a formula for {name!r} is registered twice")
        REGISTERED[name] = cost
    return cost


def formula(*names: str) -> Callable[[CostFunction], CostFunction]:
    """A decorator: ``@formula("addmm", "addmm_")`` registers the function under each name and
    returns it unchanged (other formulas may still call it)."""

    def decorate(cost: CostFunction) -> CostFunction:
        return register(names, cost)

    return decorate


def arg(
    args: Sequence[Any], kwargs: Mapping[str, Any], index: int, name: str, default: Any = None
) -> Any:
    """An op's argument: positional at `index` when the call passed that many, else the keyword
    `name`, else `default` (the schema's default)."""
    return args[index] if len(args) > index else kwargs.get(name, default)


def normalized_op_name(packet_name: str) -> str:
    """`add_` -> `add`: an in-place op costs what its out-of-place form costs."""
    if packet_name.endswith("_") and not packet_name.endswith("__"):
        return packet_name[:-1]
    return packet_name


def _shape(t: Any) -> Shape:
    return tuple(t.shape)


def _first(out: Any) -> Any:
    return out[0] if isinstance(out, (tuple, list)) else out


def _present(x: Any) -> int:
    return 0 if x is None else 1


def _values_known(t: Any) -> bool:
    """Whether a tensor's values can be read: not a meta tensor, not a fake one."""
    return not t.is_meta and not hasattr(t, "fake_mode")


def per_output(flops_per_element: int) -> Callable[..., Cost]:
    """A cost of `flops_per_element` per element of the op's (first) output."""

    def cost(args, kwargs, out) -> Cost:
        return Cost(other_flops=flops_per_element * _first(out).numel())

    return cost


def _per_input(flops_per_element: int, flops_per_output: int = 0) -> Callable[..., Cost]:
    def cost(args, kwargs, out) -> Cost:
        return Cost(
            other_flops=flops_per_element * args[0].numel() + flops_per_output * _first(out).numel()
        )

    return cost
