"""Module tracking: which modules a count has seen, what they are named, and which are running.

Forward attribution comes from global module forward (pre-)hooks; backward attribution from
multi-grad hooks on each module's inputs and outputs (the scheme of torch.utils.module_tracker).
The modules running at a time form a *scope* (a tuple of names), kept ready for the counter to
file each op's cost under.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch.autograd.graph import register_multi_grad_hook
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode, _get_current_dispatch_mode_stack
from torch.utils._pytree import tree_flatten

__all__ = ["ModuleTracker"]


def _grad_tensors(values: Any) -> list[torch.Tensor]:
    flat, _ = tree_flatten(values)
    return [t for t in flat if isinstance(t, torch.Tensor) and t.requires_grad]


def _unique_in_order(names: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


class ModuleTracker:
    """Names modules and follows them as they run, forward and (with `track_backward`) backward.

    `roots` are named as in their ``named_modules()`` (the first root without a prefix); a module
    first seen at top level is adopted as a further root under its class name. `on_new_module`
    is told of every module as it is named (the counter's sparse weights learn its parameters).
    """

    def __init__(
        self,
        roots: list[torch.nn.Module],
        track_backward: bool,
        on_new_module: Callable[[torch.nn.Module], None],
    ) -> None:
        self.track_backward = track_backward
        self.on_new_module = on_new_module
        self.roots: list[torch.nn.Module] = []
        self.names: dict[torch.nn.Module, str] = {}
        self.calls: dict[str, int] = defaultdict(int)
        self.forward_stack: list[str] = []
        self.forward_scope: tuple[str, ...] = ()
        self.backward_active: dict[str, int] = defaultdict(int)
        self.backward_scope: tuple[str, ...] = ()
        self.backward_reset_queued = False
        self.handles: list[Any] = []
        self.thread = threading.get_ident()
        for root in roots:
            self.adopt(root, prefix="" if not self.roots else type(root).__name__)

    def adopt(self, module: torch.nn.Module, prefix: str | None = None) -> str:
        """Name `module` and its submodules not named yet; without a `prefix`, after its class,
        under the running module (or as a further root), made unique with ``#2``, ``#3``, …"""
        if prefix is None:
            parent = self.forward_stack[-1] if self.forward_stack else None
            base = type(module).__name__ if not parent else f"{parent}.{type(module).__name__}"
            prefix, n = base, 1
            while prefix in self.calls or prefix in self.names.values():
                n += 1
                prefix = f"{base}#{n}"
            if parent is None:
                self.roots.append(module)
        else:
            self.roots.append(module)
        for name, submodule in module.named_modules(prefix=prefix):
            if submodule in self.names:
                continue
            self.names[submodule] = name
            self.on_new_module(submodule)
        return self.names[module]

    # ---- the global forward hooks -----------------------------------------------------------

    def start(self, forward_pre: Callable[..., None], forward_post: Callable[..., None]) -> None:
        """Install global module forward hooks (the caller's, which call `enter` and `exit`)
        and take the current thread as the counting one."""
        self.thread = threading.get_ident()
        self.handles.append(register_module_forward_pre_hook(forward_pre))
        self.handles.append(register_module_forward_hook(forward_post, always_call=True))

    def stop(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    def unseen_here(self, mode: TorchDispatchMode) -> bool:
        """Whether a module call on this thread runs where `mode` cannot see its ops: a thread
        other than the counting one, with the mode off. Module hooks are global, dispatch modes
        per thread: the ops of such a call cannot be seen. The autograd engine's threads carry
        the mode along."""
        return (
            threading.get_ident() != self.thread and mode not in _get_current_dispatch_mode_stack()
        )

    def enter(self, module: torch.nn.Module, args: Any) -> None:
        """A module's forward begins: it joins the forward scope; its inputs' gradients will
        say when its backward ends."""
        name = self.names.get(module)
        if name is None:
            name = self.adopt(module)
        self.calls[name] += 1
        self.forward_stack.append(name)
        self.forward_scope = _unique_in_order(self.forward_stack)
        if self.track_backward and torch.is_grad_enabled():
            tensors = _grad_tensors(args)
            if tensors:
                exit_hook = partial(self._backward_exit, name)
                self.handles.append(register_multi_grad_hook(tensors, exit_hook))

    def exit(self, module: torch.nn.Module, output: Any) -> None:
        """A module's forward ends: it leaves the forward scope; its outputs' gradients will
        say when its backward begins."""
        name = self.names.get(module)
        if name is None or name not in self.forward_stack:
            return
        index = len(self.forward_stack) - 1 - self.forward_stack[::-1].index(name)
        del self.forward_stack[index]
        self.forward_scope = _unique_in_order(self.forward_stack)
        if self.track_backward and torch.is_grad_enabled():
            tensors = _grad_tensors(output)
            if tensors:
                enter_hook = partial(self._backward_enter, name)
                self.handles.append(register_multi_grad_hook(tensors, enter_hook))

    # ---- backward scope ---------------------------------------------------------------------

    def _backward_enter(self, name: str, grads: Any) -> None:
        if not self.backward_reset_queued:
            torch.autograd.Variable._execution_engine.queue_callback(self._backward_reset)
            self.backward_reset_queued = True
        self.backward_active[name] += 1
        self.backward_scope = tuple(n for n, k in self.backward_active.items() if k > 0)

    def _backward_exit(self, name: str, grads: Any) -> None:
        if self.backward_active.get(name, 0) > 0:
            self.backward_active[name] -= 1
        self.backward_scope = tuple(n for n, k in self.backward_active.items() if k > 0)

    def _backward_reset(self) -> None:
        self.backward_active.clear()
        self.backward_scope = ()
        self.backward_reset_queued = False
