"""The table of quantities: every measured quantity is one row, and everything that names a
quantity reads it (budget keys and their units, the marker help, violation messages, module
budgets, the summary columns, the JSON totals, the CLI totals, the update's units).

Adding a unit variant is one entry in a row's ``keys``; adding a quantity is one row plus its
measurement (a `Profile` attribute of the same name). Pure Python: no torch, no pytest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BYTE_UNITS",
    "HARDWARE_QUANTITIES",
    "LIMIT_KEYS",
    "MODULE_LIMIT_KEYS",
    "MODULE_QUANTITIES",
    "NULLABLE",
    "PHASE_LIMIT_KEYS",
    "PHASE_QUANTITIES",
    "QUANTITIES",
    "SI_UNITS",
    "TABLE",
    "Quantity",
    "base_key",
    "by_name",
    "combine",
    "keys_by_scale",
    "scaled",
]

SI_UNITS: dict[str, int] = {"": 1, "K": 10**3, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
BYTE_UNITS: dict[str, int] = {
    "B": 1,
    "KB": 10**3,
    "kB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
}


@dataclass(frozen=True)
class Quantity:
    """One measured quantity.

    `keys` maps each budget key to its multiplier in base units; `suffixes` are the unit
    suffixes a string value may carry on the base key. `unit` is written after a number
    (``8.27 GFLOPs``, ``1.5 GB``; empty for a plain count), `exceeded` starts its violation
    message, `digits` are the decimals there. `per_module`: a module's row measures it (module
    budgets accept its keys). `nullable`: unknown (None) where weights have no values (meta).
    `combine`: over several recordings of one test, ``"sum"`` (work) or ``"largest"`` (the
    largest model's: profiling a model twice does not double its parameters). `column` heads
    its summary column (None: not shown), under ``-v`` only when `verbose`, at least `width`
    characters wide where the table fits, each cell a number and `cell_unit` (``1.2MB``).
    `scale`: numbers are always shown in one unit, `unit`, which is `scale` base units (a
    latency in ns shown in ms), not with SI prefixes. `needs_hardware`: measured only for a
    device (a latency estimate); then its column shows only in a run where some test has one.
    `per_phase`: a phase's entries measure it (phase budgets accept its keys)."""

    name: str
    keys: Mapping[str, int]
    unit: str
    exceeded: str
    suffixes: Mapping[str, int] = field(default_factory=lambda: SI_UNITS)
    digits: int = 1
    per_module: bool = False
    nullable: bool = False
    combine: str = "sum"
    column: str | None = None
    verbose: bool = False
    cell_unit: str = ""
    width: int = 7
    scale: int = 0
    needs_hardware: bool = False
    per_phase: bool = False


TABLE: tuple[Quantity, ...] = (
    Quantity(
        "flops",
        {
            "max_flops": 1,
            "max_kflops": 10**3,
            "max_mflops": 10**6,
            "max_gflops": 10**9,
            "max_tflops": 10**12,
        },
        unit="FLOPs",
        exceeded="FLOP budget exceeded: ",
        digits=2,
        per_module=True,
        per_phase=True,
    ),
    Quantity(
        "macs",
        {
            "max_macs": 1,
            "max_kmacs": 10**3,
            "max_mmacs": 10**6,
            "max_gmacs": 10**9,
            "max_tmacs": 10**12,
        },
        unit="MACs",
        exceeded="MAC budget exceeded: ",
        digits=2,
        per_module=True,
        per_phase=True,
        column="MACs",
        verbose=True,
    ),
    Quantity(
        "params",
        {"max_params": 1},
        unit="",
        exceeded="params ",
        per_module=True,
        combine="largest",
        column="params",
    ),
    Quantity(
        "nonzero_params",
        {"max_nonzero_params": 1},
        unit="",
        exceeded="nonzero params ",
        nullable=True,
        combine="largest",
        column="nonzero",
    ),
    Quantity(
        "sparse_flops",
        {"max_sparse_flops": 1},
        unit="FLOPs",
        exceeded="sparse FLOP budget exceeded: ",
        digits=2,
        nullable=True,
    ),
    Quantity(
        "param_bytes",
        {"max_param_bytes": 1},
        unit="B",
        exceeded="param bytes ",
        suffixes={**SI_UNITS, **BYTE_UNITS},
        combine="largest",
        column="bytes",
        verbose=True,
        cell_unit="B",
        width=8,
    ),
    Quantity(
        "bytes_moved",
        {"max_bytes_moved": 1},
        unit="B",
        exceeded="bytes moved ",
        suffixes={**SI_UNITS, **BYTE_UNITS},
        per_module=True,
        per_phase=True,
        column="moved",
        verbose=True,
        cell_unit="B",
        width=8,
    ),
    Quantity(
        "latency_ns",
        {"max_latency_ms": 10**6},
        unit="ms",
        exceeded="est. latency on {hardware}: ",
        suffixes={"": 1},  # a number of milliseconds: "2.5", 2.5
        digits=2,
        nullable=True,
        column="est.ms",  # one word: the summary stays split by whitespace
        scale=10**6,
        needs_hardware=True,
    ),
)

QUANTITIES: tuple[str, ...] = tuple(q.name for q in TABLE)
by_name: dict[str, Quantity] = {q.name: q for q in TABLE}
LIMIT_KEYS: dict[str, tuple[str, int]] = {
    key: (q.name, multiplier) for q in TABLE for key, multiplier in q.keys.items()
}
"""Every budget key: (the quantity it limits, its multiplier in base units)."""
MODULE_QUANTITIES: tuple[str, ...] = tuple(q.name for q in TABLE if q.per_module)
MODULE_LIMIT_KEYS: list[str] = [k for k, (q, _) in LIMIT_KEYS.items() if q in MODULE_QUANTITIES]
PHASE_QUANTITIES: tuple[str, ...] = tuple(q.name for q in TABLE if q.per_phase)
PHASE_LIMIT_KEYS: list[str] = [k for k, (q, _) in LIMIT_KEYS.items() if q in PHASE_QUANTITIES]
NULLABLE: frozenset[str] = frozenset(q.name for q in TABLE if q.nullable)
HARDWARE_QUANTITIES: tuple[str, ...] = tuple(q.name for q in TABLE if q.needs_hardware)


def scaled(quantity: str, value: int) -> str:
    """A value of a quantity with a fixed display unit, without the unit (``2.41`` ms)."""
    row = by_name[quantity]
    return f"{value / row.scale:.{row.digits}f}"


def base_key(quantity: str) -> str:
    """The key of `quantity` in base units (``max_flops``)."""
    return next(key for key, multiplier in by_name[quantity].keys.items() if multiplier == 1)


def keys_by_scale(quantity: str) -> list[tuple[int, str]]:
    """(multiplier, key) of `quantity`'s keys, the largest unit first."""
    return sorted(((m, k) for k, m in by_name[quantity].keys.items()), reverse=True)


def combine(recordings: Sequence[Any], names: Sequence[str] = QUANTITIES) -> dict[str, int | None]:
    """Each quantity in `names` over several recordings (profiles, module rows: anything with
    the quantities as attributes): work adds up, unknown (None) when any recording does not know
    it; a ``"largest"`` quantity is the one of the recording with the most parameters."""
    largest = max(recordings, key=lambda r: r.params)
    combined: dict[str, int | None] = {}
    for name in names:
        if by_name[name].combine == "largest":
            combined[name] = getattr(largest, name)
        else:
            values = [getattr(r, name) for r in recordings]
            combined[name] = None if any(v is None for v in values) else sum(values)
    return combined
