"""The result of counting: totals, the per-module tree, the per-op table, and their text form.

This module imports no torch: a Profile is plain data that pytest reports and JSON can carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pytest_flopbudget.engine.phases import PhaseStats
from pytest_flopbudget.text import columns, human, share, times_listed

__all__ = [
    "OTHER_THREAD",
    "ModuleStats",
    "OpStats",
    "Profile",
    "RooflineOp",
    "module_label",
    "op_table",
    "phase_on_another_thread",
]

# The Profile.uncounted entry whose calls are module calls made on a thread the counter's
# dispatch mode was not active on: their torch work ran, unseen and uncounted.
OTHER_THREAD = "<torch work on another thread, not counted: module calls>"


def phase_on_another_thread(name: str) -> str:
    """The Profile.uncounted entry whose calls are entries of phase `name` on a thread the
    counter's dispatch mode was not active on: their work went unseen, and they add no entry."""
    return f"<phase {name!r} entered on another thread, not counted>"


@dataclass(frozen=True)
class ModuleStats:
    """One module of the tree, under its qualified name from ``named_modules()``.

    A module shared by several parents is listed once, with all its calls. `macs` and `flops`
    include the work of its children; a module never called itself (a ModuleList, a ModuleDict)
    carries the work its called descendants ran (each op once) with `calls` 0. `params` are the
    module's unique parameters, children's included. `bytes_moved` follows the "unfused"
    convention (:mod:`pytest_flopbudget.engine.traffic`), forward and backward.
    """

    name: str
    type_name: str
    calls: int
    macs: int
    flops: int
    forward_flops: int
    backward_flops: int
    params: int
    bytes_moved: int = 0

    @property
    def depth(self) -> int:
        return 0 if not self.name else self.name.count(".") + 1

    @property
    def intensity(self) -> float | None:
        """Arithmetic intensity: FLOPs per byte moved (None when it moved no bytes)."""
        return intensity(self.flops, self.bytes_moved)


@dataclass(frozen=True)
class OpStats:
    """One aten op (overload packet, e.g. ``aten.addmm``) over the whole run."""

    name: str
    calls: int
    macs: int
    flops: int
    bytes_moved: int = 0


@dataclass(frozen=True)
class RooflineOp:
    """What a latency estimate needs of ops that ran alike: the modules their time belongs to,
    the dtype they compute in, the FLOPs (under the "all" convention) and bytes of one call, and
    how many calls. An op without FLOPs has dtype ``""``."""

    modules: tuple[str, ...]
    dtype: str
    flops: int
    bytes_moved: int
    calls: int


def intensity(flops: int, moved: int) -> float | None:
    """FLOPs per byte moved; None when no bytes moved."""
    return flops / moved if moved else None


@dataclass(frozen=True)
class Profile:
    """What one model call (or one counted block) cost.

    `flops` follow the `count` convention: "all" is 2 per MAC plus every other floating-point
    operation, "matmul" is exactly 2 per MAC. `nonzero_params`, `sparse_macs` and `sparse_flops`
    are None when the weights' values are unknown (meta device, FakeTensorMode).
    `backward_flops` is None when no backward ran. `param_bytes` is the size of the unique
    parameters and buffers at their dtypes. `bytes_moved` is the memory traffic of every op
    under the "unfused" convention (each op reads its inputs and writes its outputs as its own
    kernel; views move nothing), forward and backward; `roofline` what :meth:`latency` needs.
    `phases` holds the work done inside each `pytest_flopbudget.phase` (empty when none was
    used); `kv_cache_bytes` the size of the KV cache `profile_generate` found at the end (None
    elsewhere, or when the model returned none).
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
    bytes_moved: int = 0
    backward_bytes_moved: int | None = None
    roofline: tuple[RooflineOp, ...] = ()
    phases: Mapping[str, PhaseStats] = field(default_factory=dict)
    kv_cache_bytes: int | None = None

    @property
    def intensity(self) -> float | None:
        """Arithmetic intensity: FLOPs per byte moved (None when no bytes moved)."""
        return intensity(self.flops, self.bytes_moved)

    def latency(self, hardware: object) -> float:
        """An idealized latency estimate on `hardware` in seconds: each op at its roofline, one
        after another (max of its FLOPs over the peak for its dtype and its bytes over the
        bandwidth, plus the fixed cost per op). `hardware` is a built-in device name
        (``"h100"``) or a :class:`pytest_flopbudget.Hardware`. Ops with no formula add only
        their bytes, so the estimate is then a lower bound, as the FLOPs are."""
        device = _hardware(hardware)
        return sum(_seconds(device, op) for op in self.roofline)

    def module_latency(self, hardware: object) -> dict[str, float]:
        """The latency estimate of each module (children's included), in seconds."""
        device = _hardware(hardware)
        seconds = dict.fromkeys(self.modules, 0.0)
        for op in self.roofline:
            time = _seconds(device, op)
            for name in op.modules:
                seconds[name] = seconds.get(name, 0.0) + time
        return seconds

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

    def table(self, depth: int | None = None, *, ops: bool = True, hardware: object = None) -> str:
        """The module tree (down to `depth` levels below the root), the op table and totals;
        with `hardware`, the latency estimate on it too."""
        lines = [self._summary_line()]
        estimate = None
        if hardware is not None:
            estimate = self.module_latency(hardware)
            device = _hardware(hardware).name or "the device"
            lines[0] += f", est. latency on {device} {milliseconds(self.latency(hardware))}"
        lines += _module_table(self, depth, estimate)
        if self.phases:
            lines.append("")
            lines += _phase_table(self)
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
            f"{human(self.bytes_moved, 'B')} moved",
        ]
        if self.nonzero_params is not None and self.nonzero_params != self.params:
            parts.append(f"nonzero {human(self.nonzero_params)}")
        if self.sparse_flops is not None and self.sparse_flops != self.flops:
            parts.append(f"sparse {human(self.sparse_flops, 'FLOPs')}")
        if self.kv_cache_bytes is not None:
            parts.append(f"KV cache {human(self.kv_cache_bytes, 'B')}")
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


def op_table(ops: list[tuple[str, int, int, int, int]], total_flops: int) -> list[str]:
    """(name, calls, MACs, FLOPs, bytes moved) per op, the costliest first (by FLOPs, then
    bytes)."""
    ordered = sorted(ops, key=lambda op: (-op[3], -op[4], op[0]))
    return columns(
        [("op", "calls", "MACs", "FLOPs", "bytes", "share")]
        + [
            (n, str(c), human(m), human(f), human(b) + "B", share(f, total_flops))
            for n, c, m, f, b in ordered
        ]
    )


def flop_per_byte(value: float | None) -> str:
    """An arithmetic intensity for a table: FLOPs per byte, 3 significant digits."""
    return "-" if value is None else f"{value:.3g}"


def milliseconds(seconds: float) -> str:
    """A latency estimate for a table: milliseconds, 3 significant digits."""
    return f"{seconds * 1e3:.3g} ms"


def _module_table(
    profile: Profile, depth: int | None, estimate: Mapping[str, float] | None
) -> list[str]:
    rows = [module for module in profile.modules.values() if depth is None or module.depth <= depth]
    if not rows:
        return []
    header = ("module", "calls", "params", "MACs", "FLOPs", "bytes", "FLOP/B", "share")
    return columns(
        [header + (("est.",) if estimate is not None else ())]
        + [
            (
                "  " * m.depth
                + (f"{module_label(m.name)} ({m.type_name})" if m.name else m.type_name),
                str(m.calls),
                human(m.params),
                human(m.macs),
                human(m.flops),
                human(m.bytes_moved) + "B",
                flop_per_byte(m.intensity),
                share(m.flops, profile.flops),
            )
            + ((milliseconds(estimate[m.name]),) if estimate is not None else ())
            for m in rows
        ]
    )


def _phase_table(profile: Profile) -> list[str]:
    """Per phase: entries, FLOPs in all, per entry (mean, the largest, the last) and share."""
    return columns(
        [("phase", "entries", "FLOPs", "mean/entry", "max/entry", "last", "share")]
        + [
            (
                p.name,
                str(p.entries),
                human(p.flops),
                human(p.mean.flops),
                human(p.max.flops),
                human(p.last.flops),
                share(p.flops, profile.flops),
            )
            for p in profile.phases.values()
        ]
    )


def _op_table(profile: Profile) -> list[str]:
    return op_table(
        [(o.name, o.calls, o.macs, o.flops, o.bytes_moved) for o in profile.ops.values()],
        profile.flops,
    )


def _hardware(hardware: object):
    from pytest_flopbudget.engine.hardware import find_hardware  # plain data: no torch

    return find_hardware(hardware)


def _seconds(device, op: RooflineOp) -> float:
    return op.calls * device.op_seconds(op.flops, op.bytes_moved, op.dtype or "float32")
