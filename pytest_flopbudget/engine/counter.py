"""The hook counter: module hooks say which module is running, a TorchDispatchMode sees every
aten op that executes, and `formulas` says what each op costs.

The Counter is composed of a `tracking.ModuleTracker` (which modules run, forward and backward),
`classify` (how each op is priced, cached per registry) and a `sparsity.SparseWeights` (the MACs
a zero weight skips). Costs are accumulated per *scope* (the tuple of modules running at the
time) and spread over the modules only once, at the end (`aggregate`), so the per-op work stays
constant whatever the model's depth.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from pytest_flopbudget.engine.aggregate import BACKWARD, FORWARD, ScopeKey, build_profile
from pytest_flopbudget.engine.classify import (
    COMPOSITE,
    DECOMPOSE,
    UNKNOWN,
    ZERO,
    handler,
    warn_unused_formulas,
)
from pytest_flopbudget.engine.conventions import COUNT_CONVENTIONS
from pytest_flopbudget.engine.cost import Cost
from pytest_flopbudget.engine.formulas import INTEGER_MATMULS
from pytest_flopbudget.engine.params import has_values
from pytest_flopbudget.engine.phases import start_counter, stop_counter
from pytest_flopbudget.engine.profile import OTHER_THREAD, Profile, phase_on_another_thread
from pytest_flopbudget.engine.registry import Registry, current
from pytest_flopbudget.engine.sparsity import SparseWeights
from pytest_flopbudget.engine.tracking import ModuleTracker
from pytest_flopbudget.engine.traffic import bytes_moved, moves_nothing, op_dtype
from pytest_flopbudget.text import calls_listed, teach_hint

__all__ = ["Counter", "Counting", "UncountedOpsError", "counting", "profile"]


NO_COST = Cost()  # an op that moves bytes but costs no FLOPs (a copy, `cat`, indexing)


class UncountedOpsError(RuntimeError):
    """strict=True and some floating-point ops had no formula."""


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


class Counter(TorchDispatchMode):
    """Counts every aten op run inside it and attributes it to the modules running at the time.

    `roots` are named as in their ``named_modules()`` (the first root without a prefix); a module
    first seen at top level is adopted as a further root under its class name. `tracker` knows
    the modules and which of them run, `sparse` the model's weights; the mode itself prices each
    op and adds it to its scope's totals, which `result` spreads over the modules.
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
        warn_unused_formulas(registry)
        self.registry, self.module_cost = registry, module_cost
        # (op, scope key, its Cost or None for no cost, bytes moved, dtype, name if uncounted,
        # the phase entries open when it ran)
        self.held: list[list[tuple[str, ScopeKey, Cost | None, int, str, str, tuple]]] = []
        self.count = count
        self.track_backward = track_backward
        self.only_modules = only_modules
        self.by_scope: dict[ScopeKey, list[int]] = {}
        self.ops: dict[str, list[int]] = {}
        # each op's roofline inputs, (scope key, dtype, MACs, other FLOPs, bytes) -> calls
        self.roofline: dict[tuple[ScopeKey, str, int, int, int], int] = defaultdict(int)
        self.tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        self.uncounted: dict[str, int] = defaultdict(int)
        self.sparse = SparseWeights()
        self.tracker = ModuleTracker(roots, track_backward, self.sparse.add)
        # phases: each entry's [MACs, other FLOPs, bytes, forward MACs, forward other] per name,
        # and the entries open now (empty unless `phase` is used: `_add` checks only that)
        self.phase_log: dict[str, list[list[int]]] = {}
        self.open_phases: tuple[list[int], ...] = ()

    @property
    def roots(self) -> list[torch.nn.Module]:
        """The root modules: those given, then those first called at top level."""
        return self.tracker.roots

    # ---- module calls: the tracker follows them; the mode lists unseen ones, prices modules --

    def _forward_pre(self, module: torch.nn.Module, args: Any) -> None:
        if self.tracker.unseen_here(self):
            self.uncounted[OTHER_THREAD] += 1  # never a silent 0: say work went unseen
            return
        if self.module_cost is not None:
            self.held.append([])
        self.tracker.enter(module, args)

    def _forward_post(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        if self.tracker.unseen_here(self):
            return
        if self.module_cost is not None and self.held:
            self._price_module(module, args, output, self.held.pop())
        self.tracker.exit(module, output)

    def _price_module(self, module: torch.nn.Module, args: Any, output: Any, held: list) -> None:
        """The module-cost hook's Cost stands for the ops held while the module ran, those with
        no cost included; without one (None, or a hook that failed) the held ops are counted,
        or listed as uncounted, as they are."""
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
        elif not (self.only_modules and not self.tracker.forward_scope):
            # one kernel: the cost the hook gives, and the bytes its ops moved
            key = (self.tracker.forward_scope, FORWARD)
            moved = sum(record[3] for record in held)
            dtype = next((record[4] for record in held if record[4]), "float32")
            phases = held[0][6] if held else None  # the phases its ops ran in
            self._record(f"module:{type(module).__name__}", key, cost, moved, dtype, "", phases)

    # ---- phases (`phases.phase` calls these on every active counter) -------------------------

    def enter_phase(self, name: str) -> list[int] | None:
        """A new entry of phase `name` begins; its totals are the token for `exit_phase`. On a
        thread whose work this counter cannot see, the entry is listed as uncounted instead."""
        if self.tracker.unseen_here(self):
            self.uncounted[phase_on_another_thread(name)] += 1
            return None
        entry = [0, 0, 0, 0, 0]
        self.phase_log.setdefault(name, []).append(entry)
        self.open_phases += (entry,)
        return entry

    def exit_phase(self, entry: list[int] | None) -> None:
        if entry is not None:
            self.open_phases = tuple(e for e in self.open_phases if e is not entry)

    # ---- the dispatch mode ------------------------------------------------------------------

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        cost_of, name = handler(self.registry, func)
        if cost_of is DECOMPOSE:
            return self._run_parts(func, args, kwargs)
        out = func(*args, **kwargs)
        if moves_nothing(func):  # a view: no FLOPs, no bytes, no kernel
            return out
        if self.track_backward and torch._C._current_graph_task_id() != -1:
            key = (self.tracker.backward_scope, BACKWARD)
        else:
            key = (self.tracker.forward_scope, FORWARD)
        if self.only_modules and not key[0]:
            return out
        moved = self.bytes_moved(func, args, kwargs, out)
        if cost_of is ZERO or not (
            _is_float(out if out is not None else args[:1]) or cost_of in INTEGER_MATMULS
        ):
            self._record(name, key, NO_COST, moved, "")
            return out
        if cost_of is UNKNOWN:
            self._record(name, key, None, moved, "")
            return out
        try:
            cost = cost_of(args, kwargs, out)
        except Exception as error:  # a formula that cannot read these arguments: say so
            failed = f"{name} (formula failed: {_one_line(error)})"
            self._record(name, key, None, moved, "", failed)
            return out
        if not isinstance(cost, Cost):
            reason = f"formula returned {type(cost).__name__}, not a Cost"
            self._record(name, key, None, moved, "", f"{name} ({reason})")
            return out
        tf32 = bool(cost.macs) and self.tf32["conv" in name]
        priced = cost.macs or cost.other_flops
        self._record(name, key, cost, moved, op_dtype(args, out, tf32) if priced else "")
        return out

    bytes_moved = staticmethod(bytes_moved)  # a method, so a benchmark can switch it off

    def _run_parts(self, func: torch._ops.OpOverload, args: tuple, kwargs: dict) -> Any:
        """Run a composite op's C++ kernel (the one autograd runs, not a Python decomposition)
        with this mode active again, so each op it is made of reaches `__torch_dispatch__`."""
        TorchDispatchMode.__enter__(self)
        try:
            return func._op_dk(COMPOSITE, *args, **kwargs)
        finally:
            TorchDispatchMode.__exit__(self, None, None, None)

    def _record(
        self,
        name: str,
        key: ScopeKey,
        cost: Cost | None,
        moved: int,
        dtype: str,
        uncounted: str = "",
        phases: tuple | None = None,
    ) -> None:
        """Add an op's cost and bytes (a cost of None: list the op, as `uncounted` names it,
        with its bytes only), or hold them while a module that a module-cost hook may price
        runs: a Cost for the module stands for both kinds. `dtype` names the dtype the op
        computes in ("" when it has no FLOPs); `phases` the phase entries open when it ran (by
        default those open now)."""
        if phases is None:
            phases = self.open_phases
        if self.held:
            self.held[-1].append((name, key, cost, moved, dtype, uncounted, phases))
            return
        if cost is None:
            self.uncounted[uncounted or name] += 1
        self._add(name, key, cost or NO_COST, moved, dtype, phases)

    def _add(
        self, name: str, key: ScopeKey, cost: Cost, moved: int, dtype: str, phases: tuple
    ) -> None:
        has_weights = cost.weight_uses or cost.separate_weight_uses
        skipped = self.sparse.skipped_macs(cost) if has_weights and self.sparse.known else 0
        totals = self.by_scope.get(key)
        if totals is None:
            totals = self.by_scope[key] = [0, 0, 0, 0]
        totals[0] += cost.macs
        totals[1] += cost.other_flops
        totals[2] += skipped
        totals[3] += moved
        op = self.ops.get(name)
        if op is None:
            op = self.ops[name] = [0, 0, 0, 0]
        op[0] += 1
        op[1] += cost.macs
        op[2] += cost.other_flops
        op[3] += moved
        self.roofline[key, dtype, cost.macs, cost.other_flops, moved] += 1
        if phases:
            forward = key[1] == FORWARD
            for entry in phases:
                entry[0] += cost.macs
                entry[1] += cost.other_flops
                entry[2] += moved
                if forward:
                    entry[3] += cost.macs
                    entry[4] += cost.other_flops

    # ---- entering and leaving ---------------------------------------------------------------

    def __enter__(self) -> Counter:
        self.tracker.start(self._forward_pre, self._forward_post)
        try:
            entered = super().__enter__()
        except BaseException:
            self.tracker.stop()
            raise
        start_counter(self)
        return entered

    def __exit__(self, *exc_info: Any) -> None:
        try:
            super().__exit__(*exc_info)
        finally:
            stop_counter(self)
            self.open_phases = ()
            self.tracker.stop()

    def result(self, model_name: str) -> Profile:
        """The Profile of everything counted so far."""
        return build_profile(
            model_name,
            self.count,
            self.by_scope,
            self.ops,
            self.uncounted,
            self.tracker,
            self.sparse,
            self.roofline,
            self.phase_log,
        )


# ---- the public entry points ----------------------------------------------------------------


def _check_count(count: str) -> None:
    if count not in COUNT_CONVENTIONS:
        raise ValueError(f"count={count!r} is not a counting convention; use 'all' or 'matmul'")


def _name_of(model: Any) -> str:
    if isinstance(model, torch.nn.Module):
        return type(model).__name__
    return getattr(model, "__qualname__", None) or type(model).__name__


# how to teach the counter an op from Python (a `text.teach_hint` template)
PYTHON_HINT = (
    'with formulas={mapping} (this call), @pytest_flopbudget.register_formula("{op}") (the '
    "process) or pytest_flopbudget_formulas() in conftest.py (its tests)"
)


def _raise_if_uncounted(result: Profile) -> None:
    if result.uncounted:
        listed = calls_listed(result.uncounted)
        hint = teach_hint(result.uncounted, PYTHON_HINT)
        raise UncountedOpsError(
            f"strict=True: {len(result.uncounted)} op(s) of {result.model_name} produced "
            f"floating-point output but have no cost formula, so their FLOPs would be 0: "
            f"{listed}{f'; {hint}' if hint else ''}. Pass strict=False to count the rest and "
            "list these in profile.uncounted."
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
    `profile` (when the block raised too: what ran before the exception).
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
    try:
        with counter:
            yield handle
    finally:  # ready even when the block raised: what ran before the exception
        name = _name_of(model) if model is not None else "+".join(map(_name_of, counter.roots))
        handle._profile = counter.result(name or "block")
    if strict:
        _raise_if_uncounted(handle._profile)
