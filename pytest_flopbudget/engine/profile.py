"""The result of counting: totals, the per-module tree, the per-op table, and their text form.

This module imports no torch: a Profile is plain data that pytest reports and JSON can carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pytest_flopbudget.text import columns, human, share, times_listed

__all__ = [
    "OTHER_THREAD",
    "ModuleStats",
    "OpStats",
    "Profile",
    "module_label",
    "op_table",
]

# The Profile.uncounted entry whose calls are module calls made on a thread the counter's
# dispatch mode was not active on: their torch work ran, unseen and uncounted.
OTHER_THREAD = "<torch work on another thread, not counted: module calls>"


@dataclass(frozen=True)
class ModuleStats:
    """One module of the tree, under its qualified name from ``named_modules()``.

    A module shared by several parents is listed once, with all its calls. `macs` and `flops`
    include the work of its children; a module never called itself (a ModuleList, a ModuleDict)
    carries the work its called descendants ran (each op once) with `calls` 0. `params` are the
    module's unique parameters, children's included.
    """

    name: str
    type_name: str
    calls: int
    macs: int
    flops: int
    forward_flops: int
    backward_flops: int
    params: int

    @property
    def depth(self) -> int:
        return 0 if not self.name else self.name.count(".") + 1


@dataclass(frozen=True)
class OpStats:
    """One aten op (overload packet, e.g. ``aten.addmm``) over the whole run."""

    name: str
    calls: int
    macs: int
    flops: int


@dataclass(frozen=True)
class Profile:
    """What one model call (or one counted block) cost.

    `flops` follow the `count` convention: "all" is 2 per MAC plus every other floating-point
    operation, "matmul" is exactly 2 per MAC. `nonzero_params`, `sparse_macs` and `sparse_flops`
    are None when the weights' values are unknown (meta device, FakeTensorMode).
    `backward_flops` is None when no backward ran. `param_bytes` is the size of the unique
    parameters and buffers at their dtypes.
    """

    count: str
    macs: int
    flops: int
    params: int
    trainable_params: int
    nonzero_params: int | None
    param_bytes: int
    sparse_macs: int | None
    sparse_flops: int | None
    forward_flops: int
    backward_flops: int | None
    forward_macs: int
    backward_macs: int | None
    modules: Mapping[str, ModuleStats] = field(default_factory=dict)
    ops: Mapping[str, OpStats] = field(default_factory=dict)
    uncounted: Mapping[str, int] = field(default_factory=dict)
    model_name: str = "model"

    @property
    def unseen_thread_calls(self) -> int:
        """Module calls made on another thread, whose torch work the counter could not see
        (listed in `uncounted` too, so strict fails and the FLOPs are marked a lower bound)."""
        return self.uncounted.get(OTHER_THREAD, 0)

    @property
    def ran_torch_work(self) -> bool:
        """Whether any module ran or any op was seen at all."""
        return bool(self.ops or self.uncounted or any(m.calls for m in self.modules.values()))

    def top_modules(self, n: int = 5) -> list[ModuleStats]:
        """The `n` costliest modules by FLOPs, leaving out those that hold all the work (roots
        and wrappers around everything say nothing about where the cost is)."""
        informative = [m for m in self.modules.values() if 0 < m.flops < self.flops]
        return sorted(informative, key=lambda m: (-m.flops, m.name))[:n]

    def table(self, depth: int | None = None, *, ops: bool = True) -> str:
        """The module tree (down to `depth` levels below the root), the op table and totals."""
        lines = [self._summary_line()]
        lines += _module_table(self, depth)
        if ops and self.ops:
            lines.append("")
            lines += _op_table(self)
        if self.uncounted:
            lines.append("")
            lines.append(
                "uncounted ops (floating-point work with no formula, counted as 0): "
                + times_listed(self.uncounted)
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table(depth=3)

    def _summary_line(self) -> str:
        parts = [
            f"{self.model_name}: {human(self.flops, 'FLOPs')} ({self.count})",
            human(self.macs, "MACs"),
            f"params {human(self.params)}",
        ]
        if self.nonzero_params is not None and self.nonzero_params != self.params:
            parts.append(f"nonzero {human(self.nonzero_params)}")
        if self.sparse_flops is not None and self.sparse_flops != self.flops:
            parts.append(f"sparse {human(self.sparse_flops, 'FLOPs')}")
        if self.backward_flops is not None:
            parts.append(
                f"forward {human(self.forward_flops, 'FLOPs')}, "
                f"backward {human(self.backward_flops, 'FLOPs')}"
            )
        return ", ".join(parts)


def module_label(name: str, parent: str | None = None) -> str:
    """A module's row label below its shown `parent` (by default its own parent): the path
    between them, and never a bare index, which says nothing alone: an index is shown from the
    nearest named container on (``blocks.0``, ``blocks.0.0``, not ``0``)."""
    if parent is None:
        parent = name.rsplit(".", 1)[0] if "." in name else ""
    label = name[len(parent) + 1 :] if parent and name.startswith(parent + ".") else name
    if label.isdigit():
        parts = name.split(".")
        start = len(parts) - 1
        while start > 0 and parts[start].isdigit():
            start -= 1
        label = ".".join(parts[start:])
    return label


def op_table(ops: list[tuple[str, int, int, int]], total_flops: int) -> list[str]:
    """(name, calls, MACs, FLOPs) per op, the costliest first."""
    ordered = sorted(ops, key=lambda op: (-op[3], op[0]))
    return columns(
        [("op", "calls", "MACs", "FLOPs", "share")]
        + [(n, str(c), human(m), human(f), share(f, total_flops)) for n, c, m, f in ordered]
    )


def _module_table(profile: Profile, depth: int | None) -> list[str]:
    rows = [module for module in profile.modules.values() if depth is None or module.depth <= depth]
    if not rows:
        return []
    return columns(
        [("module", "calls", "params", "MACs", "FLOPs", "share")]
        + [
            (
                "  " * m.depth
                + (f"{module_label(m.name)} ({m.type_name})" if m.name else m.type_name),
                str(m.calls),
                human(m.params),
                human(m.macs),
                human(m.flops),
                share(m.flops, profile.flops),
            )
            for m in rows
        ]
    )


def _op_table(profile: Profile) -> list[str]:
    return op_table(
        [(o.name, o.calls, o.macs, o.flops) for o in profile.ops.values()], profile.flops
    )
