"""The hook counter: module hooks say which module is running, a TorchDispatchMode sees every
aten op that executes, and `formulas` says what each op costs.

Forward attribution comes from global module forward (pre-)hooks; backward attribution from
multi-grad hooks on each module's inputs and outputs (the scheme of torch.utils.module_tracker).
Costs are accumulated per *scope* (the tuple of modules running at the time) and spread over the
modules only once, at the end, so the per-op work stays constant whatever the model's depth.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any

import torch
from torch.autograd.graph import register_multi_grad_hook
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode, _get_current_dispatch_mode_stack
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import flop_registry as torch_flop_registry

from pytest_flopbudget.engine.cost import Cost
from pytest_flopbudget.engine.formulas import (
    ELEMENTWISE_COST,
    FOREACH_COST,
    FOREACH_PREFIX,
    INTEGER_MATMULS,
    normalized_op_name,
    per_output,
)
from pytest_flopbudget.engine.params import (
    count_params,
    has_values,
    own_parameters,
    own_sizes,
    pruned_weight_names,
)
from pytest_flopbudget.engine.profile import (
    COUNT_CONVENTIONS,
    OTHER_THREAD,
    ModuleStats,
    OpStats,
    Profile,
)
from pytest_flopbudget.engine.registry import BUILTIN_SOURCE, Registry, current, zero_cost

__all__ = ["Counter", "Counting", "UncountedOpsError", "counting", "profile"]

FORWARD, BACKWARD = 0, 1
_ZERO = "zero"  # handler: costs nothing by decision
_UNKNOWN = "unknown"  # handler: no formula; listed in Profile.uncounted
_DECOMPOSE = "decompose"  # handler: a composite op, counted as the ops it is made of
_COMPOSITE = torch._C.DispatchKey.CompositeImplicitAutograd
# a kernel of its own for one of these keys: the op runs as itself wherever autograd is on, too
_OWN_KERNEL_KEYS = (
    torch._C.DispatchKey.CPU,
    torch._C.DispatchKey.CUDA,
    torch._C.DispatchKey.Meta,
    torch._C.DispatchKey.CompositeExplicitAutograd,
)


class UncountedOpsError(RuntimeError):
    """strict=True and some floating-point ops had no formula."""


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


def _is_composite(func: torch._ops.OpOverload) -> bool:
    """An op made of other ops (`linear`, `matmul`, `conv2d`, `layer_norm`, `dropout`, `lstm`,
    `scaled_dot_product_attention`, …): a CompositeImplicitAutograd kernel and no kernel of its
    own. Where autograd is on, only its parts reach the dispatch mode; under
    ``torch.inference_mode()`` (or on inference tensors) the op itself arrives."""
    name = func.name()
    has_kernel = torch._C._dispatch_has_kernel_for_dispatch_key
    try:
        return has_kernel(name, _COMPOSITE) and not any(
            has_kernel(name, key) for key in _OWN_KERNEL_KEYS
        )
    except RuntimeError:  # an op outside the C++ dispatcher (`prim::device`): not composite
        return False


def classify(func: torch._ops.OpOverload, registry: Registry) -> Any:
    """The cost handler of an op: a formula, _ZERO, _UNKNOWN or _DECOMPOSE. A composite op is
    run as its parts, which are counted, so inference mode counts what no_grad counts (and a
    formula for a composite op, which no_grad never reaches, is not used). The registry is asked
    next (by overload, packet, then an in-place op's out-of-place packet); an op outside the aten
    namespace is priced only there, by its full name, so it never takes the formula of an aten
    op that shares its bare name. Then views are free, `_foreach_*` and pointwise-tagged ops
    cost per element, and ops only torch's own registry knows get its count."""
    name = normalized_op_name(func.overloadpacket.__name__)
    entry = registry.lookup(
        func.name(), func.overloadpacket._qualified_op_name, f"{func.namespace}::{name}"
    )
    if _is_composite(func):
        if entry is not None and entry.source != BUILTIN_SOURCE:
            warnings.warn(
                f"the formula for {func.name()} from {entry.source} is not used: torch runs "
                "this op as other ops (a composite op), and those are counted; price them, or "
                "price the module with pytest_flopbudget_module_cost",
                stacklevel=2,
            )
        return _DECOMPOSE
    if entry is not None:
        return _ZERO if entry.formula is zero_cost else entry.formula
    if func.namespace != "aten":
        return _UNKNOWN
    if func.is_view:
        return _ZERO
    if name.startswith(FOREACH_PREFIX):
        return FOREACH_COST
    if torch.Tag.pointwise in func.tags or _out_of_place_is_pointwise(func, name):
        return per_output(ELEMENTWISE_COST.get(name, 1))
    if func.overloadpacket in torch_flop_registry:
        return _torch_formula(torch_flop_registry[func.overloadpacket])
    return _UNKNOWN


def _handler(registry: Registry, func: torch._ops.OpOverload) -> tuple[Any, str]:
    """An op's handler and display name, classified once per registry (the installed one lives
    for the process)."""
    found = registry.handlers.get(func)
    if found is None:
        found = registry.handlers[func] = (classify(func, registry), str(func.overloadpacket))
    return found


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    text = text if len(text) <= 120 else text[:119] + "…"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _is_float(value: Any) -> bool:
    """Floating-point, complex or quantized output: arithmetic. Integer and bool outputs are
    bookkeeping (indices, masks, argmax) and free."""
    if isinstance(value, torch.Tensor):
        return value.is_floating_point() or value.is_complex() or value.is_quantized
    if isinstance(value, (tuple, list)):
        return any(_is_float(item) for item in value)
    return False


def _grad_tensors(values: Any) -> list[torch.Tensor]:
    flat, _ = tree_flatten(values)
    return [t for t in flat if isinstance(t, torch.Tensor) and t.requires_grad]


def _unique_in_order(names: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


class Counter(TorchDispatchMode):
    """Counts every aten op run inside it and attributes it to the modules running at the time.

    `roots` are named as in their ``named_modules()`` (the first root without a prefix); a module
    first seen at top level is adopted as a further root under its class name.
    """

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        """Keep torch from wrapping __torch_dispatch__ in a dynamo-disable shim: this mode
        never compiles anything, and the shim's first call imports torch._dynamo (1-2 s per
        process, paid by every test run that counts anything)."""
        return False

    def __init__(
        self,
        roots: list[torch.nn.Module],
        count: str,
        track_backward: bool,
        only_modules: bool = False,
        registry: Registry | None = None,
        module_cost: Callable[..., Any] | None = None,
    ) -> None:
        super().__init__()
        if registry is None:  # Counter used directly: the registry a count would use now
            registry, module_cost = current()
        self.registry, self.module_cost = registry, module_cost
        self.held: list[list[tuple[str, tuple[tuple[str, ...], int], Cost]]] = []
        self.count = count
        self.track_backward = track_backward
        self.only_modules = only_modules
        self.roots: list[torch.nn.Module] = []
        self.names: dict[torch.nn.Module, str] = {}
        self.module_calls: dict[str, int] = defaultdict(int)
        self.forward_stack: list[str] = []
        self.forward_scope: tuple[str, ...] = ()
        self.backward_active: dict[str, int] = defaultdict(int)
        self.backward_scope: tuple[str, ...] = ()
        self.by_scope: dict[tuple[tuple[str, ...], int], list[int]] = {}
        self.ops: dict[str, list[int]] = {}
        self.uncounted: dict[str, int] = defaultdict(int)
        self.weights: dict[int, torch.Tensor] = {}
        self.pruned: list[torch.nn.Module] = []
        self.pruned_current: dict[tuple[int, str], int] = {}
        self.nonzero_cache: dict[tuple[int, int], int] = {}
        self.sparse_known = True
        self.backward_reset_queued = False
        self.handles: list[Any] = []
        self.thread = threading.get_ident()
        for root in roots:
            self._adopt(root, prefix="" if not self.roots else type(root).__name__)

    # ---- module tracking --------------------------------------------------------------------

    def _adopt(self, module: torch.nn.Module, prefix: str | None = None) -> str:
        if prefix is None:
            parent = self.forward_stack[-1] if self.forward_stack else None
            base = type(module).__name__ if not parent else f"{parent}.{type(module).__name__}"
            prefix, n = base, 1
            while prefix in self.module_calls or prefix in self.names.values():
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
            for _, param in own_parameters(submodule):
                if has_values(param) and param.numel():
                    self.weights[param.untyped_storage().data_ptr()] = param
            if pruned_weight_names(submodule):
                self.pruned.append(submodule)
        return self.names[module]

    def _mode_inactive_here(self) -> bool:
        """Whether this mode is off on the current thread (asked for module calls on a thread
        other than the counting one). Module hooks are global, dispatch modes per thread: the
        ops of such a call cannot be seen. The autograd engine's threads carry the mode along."""
        return self not in _get_current_dispatch_mode_stack()

    def _forward_pre(self, module: torch.nn.Module, args: Any) -> None:
        if threading.get_ident() != self.thread and self._mode_inactive_here():
            self.uncounted[OTHER_THREAD] += 1  # never a silent 0: say work went unseen
            return
        if self.module_cost is not None:
            self.held.append([])
        name = self.names.get(module)
        if name is None:
            name = self._adopt(module)
        self.module_calls[name] += 1
        self.forward_stack.append(name)
        self.forward_scope = _unique_in_order(self.forward_stack)
        if self.track_backward and torch.is_grad_enabled():
            tensors = _grad_tensors(args)
            if tensors:
                exit_hook = partial(self._backward_exit, name)
                self.handles.append(register_multi_grad_hook(tensors, exit_hook))

    def _forward_post(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        if threading.get_ident() != self.thread and self._mode_inactive_here():
            return
        name = self.names.get(module)
        if self.module_cost is not None and self.held:
            self._price_module(module, name, args, output, self.held.pop())
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

    def _price_module(
        self, module: torch.nn.Module, name: str | None, args: Any, output: Any, held: list
    ) -> None:
        """The module-cost hook's Cost stands for the ops held while the module ran; without
        one (None, or a hook that failed) the held ops are counted as they are."""
        label = f"{type(module).__name__} (module cost)"
        try:
            cost = self.module_cost(module=module, args=args, output=output)
        except Exception as error:
            self.uncounted[f"{label} failed: {_one_line(error)}"] += 1
            cost = None
        if cost is not None and not isinstance(cost, Cost):
            self.uncounted[f"{label} returned {type(cost).__name__}, not a Cost"] += 1
            cost = None
        if cost is None:
            for record in held:
                self._record(*record)
        elif not (self.only_modules and not self.forward_scope):
            self._record(f"module:{type(module).__name__}", (self.forward_scope, FORWARD), cost)

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

    # ---- sparse weights ---------------------------------------------------------------------

    def _weight(self, operand: torch.Tensor) -> torch.Tensor | None:
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

    def _skipped_macs(self, cost: Cost) -> int:
        """MACs that multiply by a zero weight: (zero elements of the weight) × (uses of each).
        Among `weight_uses` the first weight decides; each of `separate_weight_uses` counts."""
        skipped = self._skipped_by(cost.weight_uses)
        for entry in cost.separate_weight_uses:
            skipped += self._skipped_by((entry,))
        return skipped

    def _skipped_by(self, weight_uses: tuple[tuple[Any, int], ...]) -> int:
        for operand, uses in weight_uses:
            if not isinstance(operand, torch.Tensor) or not has_values(operand):
                self.sparse_known = False
                return 0
            weight = self._weight(operand) if operand.numel() else None
            if weight is not None:
                # a view of the whole weight (w.t()) has its nonzeros; a slice has its own
                whole = operand.numel() == weight.numel()
                nonzero = self.nonzero(weight) if whole else int(torch.count_nonzero(operand))
                return (operand.numel() - nonzero) * uses
        return 0

    # ---- the dispatch mode ------------------------------------------------------------------

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        handler, name = _handler(self.registry, func)
        if handler is _DECOMPOSE:
            return self._run_parts(func, args, kwargs)
        out = func(*args, **kwargs)
        if handler is _ZERO or not (
            _is_float(out if out is not None else args[:1]) or handler in INTEGER_MATMULS
        ):
            return out
        if self.track_backward and torch._C._current_graph_task_id() != -1:
            key = (self.backward_scope, BACKWARD)
        else:
            key = (self.forward_scope, FORWARD)
        if self.only_modules and not key[0]:
            return out
        if handler is _UNKNOWN:
            self.uncounted[name] += 1
            return out
        try:
            cost = handler(args, kwargs, out)
        except Exception as error:  # a formula that cannot read these arguments: say so
            self.uncounted[f"{name} (formula failed: {_one_line(error)})"] += 1
            return out
        if not isinstance(cost, Cost):
            self.uncounted[f"{name} (formula returned {type(cost).__name__}, not a Cost)"] += 1
            return out
        self._record(name, key, cost)
        return out

    def _run_parts(self, func: torch._ops.OpOverload, args: tuple, kwargs: dict) -> Any:
        """Run a composite op's C++ kernel (the one autograd runs, not a Python decomposition)
        with this mode active again, so each op it is made of reaches `__torch_dispatch__`."""
        TorchDispatchMode.__enter__(self)
        try:
            return func._op_dk(_COMPOSITE, *args, **kwargs)
        finally:
            TorchDispatchMode.__exit__(self, None, None, None)

    def _record(self, name: str, key: tuple[tuple[str, ...], int], cost: Cost) -> None:
        """Add a cost, or hold it while a module that a module-cost hook may price runs."""
        if self.held:
            self.held[-1].append((name, key, cost))
        else:
            self._add(name, key, cost)

    def _add(self, name: str, key: tuple[tuple[str, ...], int], cost: Cost) -> None:
        has_weights = cost.weight_uses or cost.separate_weight_uses
        skipped = self._skipped_macs(cost) if has_weights and self.sparse_known else 0
        totals = self.by_scope.get(key)
        if totals is None:
            totals = self.by_scope[key] = [0, 0, 0]
        totals[0] += cost.macs
        totals[1] += cost.other_flops
        totals[2] += skipped
        op = self.ops.get(name)
        if op is None:
            op = self.ops[name] = [0, 0, 0]
        op[0] += 1
        op[1] += cost.macs
        op[2] += cost.other_flops

    # ---- entering and leaving ---------------------------------------------------------------

    def __enter__(self) -> Counter:
        self.thread = threading.get_ident()
        self.handles.append(register_module_forward_pre_hook(self._forward_pre))
        self.handles.append(register_module_forward_hook(self._forward_post, always_call=True))
        try:
            return super().__enter__()
        except BaseException:
            self._remove_hooks()
            raise

    def __exit__(self, *exc_info: Any) -> None:
        try:
            super().__exit__(*exc_info)
        finally:
            self._remove_hooks()

    def _remove_hooks(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    # ---- the result -------------------------------------------------------------------------

    def _flops(self, macs: int, other: int) -> int:
        return 2 * macs + other if self.count == "all" else 2 * macs

    def result(self, model_name: str) -> Profile:
        per_module: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        phase_totals = [[0, 0], [0, 0]]
        skipped = 0
        saw_backward = False
        for (scope, phase), (macs, other, skipped_macs) in self.by_scope.items():
            phase_totals[phase][0] += macs
            phase_totals[phase][1] += other
            skipped += skipped_macs
            saw_backward |= phase == BACKWARD
            for name in scope:
                row = per_module[name]
                row[2 * phase] += macs
                row[2 * phase + 1] += other
        (forward_macs, forward_other), (backward_macs, backward_other) = phase_totals
        macs = forward_macs + backward_macs
        other = forward_other + backward_other
        counts = count_params(self.roots, self.nonzero)
        sparse_known = self.sparse_known and counts.nonzero_params is not None
        sparse_macs = macs - skipped if sparse_known else None
        params_under = _params_per_module(list(self.names))
        per_module.update(self._containers_work())
        modules = {}
        for module, name in self.names.items():
            fm, fo, bm, bo = per_module.get(name, (0, 0, 0, 0))
            modules[name] = ModuleStats(
                name=name,
                type_name=type(module).__name__,
                calls=self.module_calls.get(name, 0),
                macs=fm + bm,
                flops=self._flops(fm + bm, fo + bo),
                forward_flops=self._flops(fm, fo),
                backward_flops=self._flops(bm, bo),
                params=params_under[module],
            )
        return Profile(
            count=self.count,
            macs=macs,
            flops=self._flops(macs, other),
            params=counts.params,
            trainable_params=counts.trainable_params,
            nonzero_params=counts.nonzero_params,
            param_bytes=counts.param_bytes,
            sparse_macs=sparse_macs,
            sparse_flops=None if sparse_macs is None else self._flops(sparse_macs, other),
            forward_flops=self._flops(forward_macs, forward_other),
            backward_flops=self._flops(backward_macs, backward_other) if saw_backward else None,
            forward_macs=forward_macs,
            backward_macs=backward_macs if saw_backward else None,
            modules=modules,
            ops={
                name: OpStats(name, calls, op_macs, self._flops(op_macs, op_other))
                for name, (calls, op_macs, op_other) in self.ops.items()
            },
            uncounted=dict(self.uncounted),
            model_name=model_name,
        )

    def _containers_work(self) -> dict[str, list[int]]:
        """The rows of modules never called themselves (a ModuleList, a ModuleDict, a module
        whose children its parent calls directly): the work of every scope that one of their
        called descendants ran in, each scope once, so a shared child or a nested container
        is never counted twice. A called module's row already holds its children's work."""
        called = {name for name, calls in self.module_calls.items() if calls}
        rows: dict[str, list[int]] = {}
        for module, name in self.names.items():
            if name in called:
                continue
            inside = {self.names.get(m) for m in module.modules()} & called
            if not inside:
                continue
            row = rows[name] = [0, 0, 0, 0]
            for (scope, phase), (macs, other, _) in self.by_scope.items():
                if not inside.isdisjoint(scope):
                    row[2 * phase] += macs
                    row[2 * phase + 1] += other
        return rows


def _params_per_module(modules: list[torch.nn.Module]) -> dict[torch.nn.Module, int]:
    """Each module's unique parameters, its descendants' (shared ones once) included: one
    memoized walk instead of a ``parameters()`` walk per module."""
    memo: dict[torch.nn.Module, dict[int, int]] = {}

    def sizes(module: torch.nn.Module) -> dict[int, int]:
        if module not in memo:
            own = own_sizes(module)
            for child in module.children():
                own.update(sizes(child))
            memo[module] = own
        return memo[module]

    return {module: sum(sizes(module).values()) for module in modules}


# ---- the public entry points ----------------------------------------------------------------


def _check_count(count: str) -> None:
    if count not in COUNT_CONVENTIONS:
        raise ValueError(f"count={count!r} is not a counting convention; use 'all' or 'matmul'")


def _name_of(model: Any) -> str:
    if isinstance(model, torch.nn.Module):
        return type(model).__name__
    return getattr(model, "__qualname__", None) or type(model).__name__


def _raise_if_uncounted(result: Profile) -> None:
    if result.uncounted:
        listed = ", ".join(
            f"{name} ({calls} call{'s' if calls != 1 else ''})"
            for name, calls in result.uncounted.items()
        )
        raise UncountedOpsError(
            f"strict=True: {len(result.uncounted)} op(s) of {result.model_name} produced "
            f"floating-point output but have no cost formula, so their FLOPs would be 0: "
            f"{listed}. Pass strict=False to count the rest and list these in profile.uncounted."
        )


class _ModelState:
    """What profile() promises to leave as it was: training flags, requires_grad, .grad and
    buffer values (a module in train mode updates its running statistics)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.training = [(m, m.training) for m in model.modules()]
        self.params = [(p, p.requires_grad, p.grad) for p in model.parameters()]
        self.buffers = [(b, b.detach().clone()) for b in model.buffers() if has_values(b)]

    def restore(self) -> None:
        for module, training in self.training:
            module.training = training
        for param, requires_grad, grad in self.params:
            if param.requires_grad != requires_grad:  # an inference tensor refuses even a no-op
                param.requires_grad_(requires_grad)
            param.grad = grad
        with torch.no_grad():  # kernels update running statistics without bumping _version
            for buffer, saved in self.buffers:
                if buffer.is_inference():  # writable only under inference_mode
                    with torch.inference_mode():
                        buffer.copy_(saved)
                else:
                    buffer.copy_(saved)


def profile(
    model: Callable[..., Any],
    *args: Any,
    count: str = "all",
    strict: bool = False,
    formulas: Mapping[Any, Any] | None = None,
    **kwargs: Any,
) -> Profile:
    """Run ``model(*args, **kwargs)`` once under ``torch.no_grad()`` and count what executed.

    `formulas` prices ops for this call only (``{"mylib::op": formula}``; see `hookspecs`)."""
    _check_count(count)
    registry, module_cost = current(formulas)
    if not callable(model):
        raise TypeError(
            "pytest_flopbudget.profile() counts an nn.Module or a callable; "
            f"got {type(model).__name__} {model!r:.60}"
        )
    name = _name_of(model)
    is_module = isinstance(model, torch.nn.Module)
    state = _ModelState(model) if is_module else None
    roots = [model] if is_module else []
    counter = Counter(roots, count, False, registry=registry, module_cost=module_cost)
    try:
        with torch.no_grad(), counter:
            model(*args, **kwargs)
    except Exception as error:
        if hasattr(error, "add_note"):
            error.add_note(f"(raised by {name} while pytest_flopbudget.profile was counting it)")
        raise
    finally:
        if state is not None:
            state.restore()
    result = counter.result(name)
    if strict:
        _raise_if_uncounted(result)
    return result


class Counting:
    """The handle `counting()` yields; its `profile` is ready when the with block ends."""

    def __init__(self) -> None:
        self._profile: Profile | None = None

    @property
    def profile(self) -> Profile:
        if self._profile is None:
            raise RuntimeError("counting().profile is ready only after the with block has ended")
        return self._profile


@contextlib.contextmanager
def counting(
    model: torch.nn.Module | None = None,
    *,
    count: str = "all",
    strict: bool = False,
    only_modules: bool = False,
    formulas: Mapping[Any, Any] | None = None,
) -> Iterator[Counting]:
    """Count everything run inside the block, forward and backward (a training step).

    Modules are named after `model`'s ``named_modules()`` when it is given; modules first called
    at top level are named by their class. With `only_modules`, only work that runs inside some
    module's forward (or its backward) counts: what the pytest marker alone measures.
    `formulas` prices ops for this block only. Read the result from the yielded handle's
    `profile`.
    """
    _check_count(count)
    if model is not None and not isinstance(model, torch.nn.Module):
        raise TypeError(
            f"pytest_flopbudget.counting(model) takes an nn.Module to name the modules by; "
            f"got {type(model).__name__}"
        )
    registry, module_cost = current(formulas)
    roots = [model] if model is not None else []
    counter = Counter(roots, count, True, only_modules, registry, module_cost)
    handle = Counting()
    with counter:
        yield handle
    name = _name_of(model) if model is not None else "+".join(map(_name_of, counter.roots))
    handle._profile = counter.result(name or "block")
    if strict:
        _raise_if_uncounted(handle._profile)
