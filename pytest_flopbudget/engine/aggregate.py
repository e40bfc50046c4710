"""From a count to a Profile: the per-scope totals spread over the modules, once, at the end.

The counter files each op's cost under a key ``(scope, phase)``: the tuple of modules running
at the time and FORWARD or BACKWARD. A module's work is then the sum over the scopes it is in,
so the per-op work stays constant whatever the model's depth.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from functools import partial

import torch

from pytest_flopbudget.engine.conventions import flops as convention_flops
from pytest_flopbudget.engine.params import count_params, own_sizes
from pytest_flopbudget.engine.phases import phase_stats
from pytest_flopbudget.engine.profile import ModuleStats, OpStats, Profile, RooflineOp
from pytest_flopbudget.engine.sparsity import SparseWeights
from pytest_flopbudget.engine.tracking import ModuleTracker

__all__ = ["BACKWARD", "FORWARD", "ScopeKey", "build_profile"]

FORWARD, BACKWARD = 0, 1
ScopeKey = tuple[tuple[str, ...], int]  # (the modules running, FORWARD or BACKWARD)


def build_profile(
    model_name: str,
    count: str,
    by_scope: Mapping[ScopeKey, list[int]],
    ops: Mapping[str, list[int]],
    uncounted: Mapping[str, int],
    tracker: ModuleTracker,
    sparse: SparseWeights,
    roofline: Mapping[tuple[ScopeKey, str, int, int, int], int] | None = None,
    phase_log: Mapping[str, list[list[int]]] | None = None,
) -> Profile:
    """The Profile of a count: `by_scope` holds [MACs, other FLOPs, skipped MACs, bytes moved]
    per scope key, `ops` [calls, MACs, other FLOPs, bytes moved] per op name, `roofline` the
    calls of each (scope key, dtype, MACs, other FLOPs, bytes moved), `phase_log` each phase
    entry's [MACs, other FLOPs, bytes moved, forward MACs, forward other FLOPs]."""

    flops = partial(convention_flops, count=count)
    attributed = _attributed({scope for scope, _ in by_scope}, tracker)

    # per module: forward MACs, forward other, backward MACs, backward other, bytes moved
    per_module: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    phase_totals = [[0, 0, 0], [0, 0, 0]]
    skipped = 0
    saw_backward = False
    for (scope, phase), (macs, other, skipped_macs, moved) in by_scope.items():
        phase_totals[phase][0] += macs
        phase_totals[phase][1] += other
        phase_totals[phase][2] += moved
        skipped += skipped_macs
        saw_backward |= phase == BACKWARD
        for name in attributed[scope]:
            row = per_module[name]
            row[2 * phase] += macs
            row[2 * phase + 1] += other
            row[4] += moved
    forward_macs, forward_other, forward_bytes = phase_totals[FORWARD]
    backward_macs, backward_other, backward_bytes = phase_totals[BACKWARD]
    macs = forward_macs + backward_macs
    other = forward_other + backward_other
    counts = count_params(tracker.roots, sparse.nonzero)
    sparse_known = sparse.known and counts.nonzero_params is not None
    sparse_macs = macs - skipped if sparse_known else None
    params_under = _params_per_module(list(tracker.names))
    modules = {}
    for module, name in tracker.names.items():
        fm, fo, bm, bo, moved = per_module.get(name, (0, 0, 0, 0, 0))
        modules[name] = ModuleStats(
            name=name,
            type_name=type(module).__name__,
            calls=tracker.calls.get(name, 0),
            macs=fm + bm,
            flops=flops(fm + bm, fo + bo),
            forward_flops=flops(fm, fo),
            backward_flops=flops(bm, bo),
            params=params_under[module],
            bytes_moved=moved,
        )
    return Profile(
        count=count,
        macs=macs,
        flops=flops(macs, other),
        params=counts.params,
        trainable_params=counts.trainable_params,
        nonzero_params=counts.nonzero_params,
        param_bytes=counts.param_bytes,
        sparse_macs=sparse_macs,
        sparse_flops=None if sparse_macs is None else flops(sparse_macs, other),
        forward_flops=flops(forward_macs, forward_other),
        backward_flops=flops(backward_macs, backward_other) if saw_backward else None,
        forward_macs=forward_macs,
        backward_macs=backward_macs if saw_backward else None,
        modules=modules,
        ops={
            name: OpStats(name, calls, op_macs, flops(op_macs, op_other), moved)
            for name, (calls, op_macs, op_other, moved) in ops.items()
        },
        uncounted=dict(uncounted),
        model_name=model_name,
        bytes_moved=forward_bytes + backward_bytes,
        backward_bytes_moved=backward_bytes if saw_backward else None,
        roofline=tuple(
            RooflineOp(attributed[scope], dtype, convention_flops(m, o, "all"), moved, calls)
            for ((scope, _), dtype, m, o, moved), calls in (roofline or {}).items()
        ),
        phases=phase_stats(phase_log or {}, flops),
    )


def _attributed(
    scopes: set[tuple[str, ...]], tracker: ModuleTracker
) -> dict[tuple[str, ...], tuple[str, ...]]:
    """The modules each scope's work belongs to: the modules running, and the modules never
    called themselves (a ModuleList, a ModuleDict, a module whose children its parent calls
    directly) that hold one of them, so a container carries the work of every scope one of its
    called descendants ran in, each scope once (a shared child or a nested container is never
    counted twice). A called module's row already holds its children's work."""
    called = {name for name, calls in tracker.calls.items() if calls}
    containers = []
    for module, name in tracker.names.items():
        if name not in called:
            inside = {tracker.names.get(m) for m in module.modules()} & called
            if inside:
                containers.append((name, inside))
    return {
        scope: scope + tuple(name for name, inside in containers if not inside.isdisjoint(scope))
        for scope in scopes
    }


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
