"""The FLOP counting conventions, as one small pure function (no torch: the budgets layer reads
the names at start-up)."""

from __future__ import annotations

__all__ = ["COUNT_CONVENTIONS", "flops"]

COUNT_CONVENTIONS: tuple[str, ...] = ("all", "matmul")
"""``"all"``: 2 FLOPs per MAC plus every other floating-point operation; ``"matmul"``: exactly 2
per MAC (the number torch.utils.flop_counter reports for the ops it sees)."""


def flops(macs: int, other_flops: int, count: str) -> int:
    """The FLOPs of `macs` multiply-accumulates and `other_flops` other operations under the
    convention `count`."""
    return 2 * macs + other_flops if count == "all" else 2 * macs
