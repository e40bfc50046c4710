"""What one op call costs: the value every formula returns. No torch, no pytest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Cost"]


@dataclass(frozen=True)
class Cost:
    """The work one op call does."""

    macs: int = 0
    other_flops: int = 0
    # (operand, uses): every element of `operand` takes part in `uses` of the MACs above.
    weight_uses: tuple[tuple[Any, int], ...] = ()
    # (operand, uses) of weights each used in MACs of their own (an LSTM's input and hidden
    # weights): every one of them skips its own zeros, where weight_uses above are alternatives
    # for the same MACs (a product's two operands: the first weight decides).
    separate_weight_uses: tuple[tuple[Any, int], ...] = ()

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.macs + other.macs,
            self.other_flops + other.other_flops,
            self.weight_uses + other.weight_uses,
            self.separate_weight_uses + other.separate_weight_uses,
        )
