"""`profile_generate`: count a Hugging Face-style ``model.generate(...)`` split into its prefill
(the first forward) and decode steps (each later forward, one phase entry per step)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch

from pytest_flopbudget.engine.counter import (
    Counter,
    _check_count,
    _ModelState,
    _raise_if_uncounted,
)
from pytest_flopbudget.engine.phases import phase
from pytest_flopbudget.engine.profile import Profile
from pytest_flopbudget.engine.registry import current

__all__ = ["DECODE", "PREFILL", "profile_generate", "tensor_bytes"]

PREFILL, DECODE = "prefill", "decode"


def tensor_bytes(value: Any, seen: set[int] | None = None) -> int:
    """The bytes of the tensors in `value` (nested tuples, lists, dicts, and objects' attributes,
    as a cache object holds its keys and values), each tensor once, at its dtype's size."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, Mapping):
        return sum(tensor_bytes(item, seen) for item in value.values())
    if isinstance(value, (tuple, list)):
        return sum(tensor_bytes(item, seen) for item in value)
    if hasattr(value, "__dict__") and not isinstance(value, (type, torch.nn.Module)):
        return sum(tensor_bytes(item, seen) for item in vars(value).values())
    return 0


def _past_key_values(output: Any) -> Any:
    """The cache a forward's (or generate's) output holds: its `past_key_values` attribute or
    key; None when it holds none."""
    if isinstance(output, Mapping):
        return output.get("past_key_values")
    return getattr(output, "past_key_values", None)


class _Steps:
    """Forward hooks on the top module: the first forward runs in phase `prefill`, every later
    one in phase `decode`; the cache the last forward returned is kept."""

    def __init__(self) -> None:
        self.forwards = 0
        self.open: list[Any] = []
        self.cache: Any = None

    def pre(self, module: torch.nn.Module, args: Any) -> None:
        context = phase(PREFILL if self.forwards == 0 else DECODE)
        self.forwards += 1
        context.__enter__()
        self.open.append(context)

    def post(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        if self.open:
            self.open.pop().__exit__(None, None, None)
        cache = _past_key_values(output)
        if cache is not None:
            self.cache = cache


def profile_generate(
    model: torch.nn.Module,
    *args: Any,
    count: str = "all",
    strict: bool = False,
    formulas: Mapping[Any, Any] | None = None,
    **generate_kwargs: Any,
) -> Profile:
    """Run ``model.generate(*args, **generate_kwargs)`` once under ``torch.no_grad()`` and count
    it, as `profile` does, split into phases: ``prefill`` (the model's first forward) and
    ``decode`` (each later forward: one entry per generated token after the first). The work
    between forwards (choosing the next token) is in the totals, in no phase.

    The Profile's `kv_cache_bytes` is the size of the `past_key_values` the output of
    ``generate`` holds, or else the last forward returned (None when neither holds one).
    `count`, `strict` and `formulas` are `profile`'s; every other keyword goes to ``generate``.
    """
    _check_count(count)
    if not isinstance(model, torch.nn.Module) or not callable(getattr(model, "generate", None)):
        raise TypeError(
            "pytest_flopbudget.profile_generate() takes an nn.Module with a generate() method; "
            f"got {type(model).__name__} {model!r:.60}"
        )
    registry, module_cost = current(formulas)
    name = type(model).__name__
    state = _ModelState(model)
    steps = _Steps()
    counter = Counter([model], count, False, registry=registry, module_cost=module_cost)
    handles = [
        model.register_forward_pre_hook(steps.pre),
        model.register_forward_hook(steps.post, always_call=True),
    ]
    try:
        with torch.no_grad(), counter:
            output = model.generate(*args, **generate_kwargs)
    except Exception as error:
        if hasattr(error, "add_note"):
            error.add_note(f"(raised by {name}.generate while profile_generate was counting it)")
        raise
    finally:
        for handle in handles:
            handle.remove()
        while steps.open:  # a forward that raised before its post hook could run
            steps.open.pop().__exit__(None, None, None)
        state.restore()
    cache = _past_key_values(output)
    cache = steps.cache if cache is None else cache
    result = dataclasses.replace(
        counter.result(name), kv_cache_bytes=None if cache is None else tensor_bytes(cache)
    )
    if strict:
        _raise_if_uncounted(result)
    return result
