"""Checking measured quantities against a test's budget. Pure Python: no torch, no pytest."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_flopbudget.budgets.quantities import by_name, scaled
from pytest_flopbudget.budgets.values import Limit
from pytest_flopbudget.text import format_delta, prefix

if TYPE_CHECKING:
    from pytest_flopbudget.budgets.phases import PhaseBudget

__all__ = ["Budget", "Violation", "check", "exceeded_text", "format_pair"]


@dataclass(frozen=True)
class Budget:
    """The limits that apply to one test, by quantity, the allowed overshoot (a fraction),
    whether ops with no cost formula fail the test (`strict`), and the limits of named modules
    (`modules`: {module name: {quantity: Limit}}, see :mod:`.modules`); the `statistic` of a
    recorded distribution the limits apply to, and the budgets of named phases (`phases`:
    {phase name: PhaseBudget}, see :mod:`.phases`)."""

    limits: Mapping[str, Limit] = field(default_factory=dict)
    tolerance: float = 0.0
    strict: bool = False
    modules: Mapping[str, Mapping[str, Limit]] = field(default_factory=dict)
    hardware: str | None = None  # the device of latency estimates, by name
    statistic: str = "mean"
    phases: Mapping[str, PhaseBudget] = field(default_factory=dict)
    # growth over the earlier run (a fraction) past which the test warns (never fails)
    warn_on_increase: float | None = None


def format_pair(quantity: str, measured: int, limit: int) -> tuple[str, str]:
    """`measured` and `limit` in the unit the limit reaches, e.g. ``8.27 GFLOPs``, ``2.00
    GFLOPs``: the quantity's unit and decimals from the table of quantities."""
    row = by_name[quantity]
    if row.scale:
        return f"{scaled(quantity, measured)} {row.unit}", f"{scaled(quantity, limit)} {row.unit}"
    letter, scale = prefix(limit)
    unit = f" {letter}{row.unit}" if row.unit else letter

    def fmt(n: int) -> str:
        return f"{n}{unit}" if scale == 1 else f"{n / scale:.{row.digits}f}{unit}"

    return fmt(measured), fmt(limit)


def exceeded_text(quantity: str, measured: int, limit: int) -> str:
    """``3.40 GFLOPs > 3.00 GFLOPs (+13.3%)``; a count without a unit is named (``params 120 >
    100 (+20.0%)``): the part every violation line shares."""
    shown, limit_shown = format_pair(quantity, measured, limit)
    label = "" if by_name[quantity].unit else f"{quantity} "
    return f"{label}{shown} > {limit_shown} ({format_delta(measured / limit - 1)})"


@dataclass(frozen=True)
class Violation:
    """A measured quantity above its limit (tolerance included)."""

    quantity: str
    measured: int
    limit: Limit
    hardware: str = ""  # the device, for an estimate's message

    @property
    def overshoot(self) -> float:
        """How far above the limit, as a fraction of it (0.2 is 20% above)."""
        from fractions import Fraction  # on first use: pytest imports this module in every run

        return float(Fraction(self.measured, self.limit.value) - 1)

    def message(self) -> str:
        """One line, e.g. ``FLOP budget exceeded: 8.27 GFLOPs > 2.00 GFLOPs (+313.5%)``."""
        measured, limit = format_pair(self.quantity, self.measured, self.limit.value)
        label = by_name[self.quantity].exceeded.format(hardware=self.hardware)
        return f"{label}{measured} > {limit} ({format_delta(self.overshoot)})"


def check(measured: Mapping[str, int | None], budget: Budget) -> list[Violation]:
    """Limits exceeded by more than the tolerance; an unknown (None or absent) value never is."""
    from fractions import Fraction

    allowed = 1 + Fraction(budget.tolerance)
    violations = []
    for quantity, limit in budget.limits.items():
        value = measured.get(quantity)
        if value is not None and value > limit.value * allowed:
            violations.append(Violation(quantity, value, limit, budget.hardware or ""))
    return violations
