"""Phase budgets: limits on the work done in a named phase (``phase("decode")``), applied to
each entry by default, as module budgets limit one part of a model.

    @pytest.mark.flop_budget(phases={"decode": {"max_mflops": 5, "statistic": "max"}})

    [tool.flopbudget.tests."tests/test_lm.py::test_generate".phases."decode"]
    max_mflops = 5
    statistic = "mean"

A phase budget takes the limit keys of the quantities an entry measures (``per_phase`` in the
table of quantities: FLOPs, MACs, bytes moved, any unit) and a ``statistic``: ``"max"`` (the
default: the costliest entry, per quantity), ``"mean"`` (per entry, rounded up to a whole
number) or ``"total"`` (summed over the entries). A phase entered in several recordings of one
test (several profiles, each input of a distribution) counts all their entries. The test's
tolerance applies. There are no top-level phase defaults. Pure Python, no torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_flopbudget.budgets.check import Budget, check, exceeded_text
from pytest_flopbudget.budgets.modules import named_tables
from pytest_flopbudget.budgets.quantities import (
    PHASE_LIMIT_KEYS,
    PHASE_QUANTITIES,
)
from pytest_flopbudget.budgets.values import BudgetError, Limit, parse_limits, parse_statistic
from pytest_flopbudget.text import suggest

__all__ = [
    "PHASE_STATISTICS",
    "PhaseBudget",
    "PhaseCheck",
    "PhaseViolation",
    "check_phases",
    "merge_phase_budgets",
    "parse_phase_budgets",
    "phase_values",
    "phases_summary",
]

PHASE_STATISTICS: tuple[str, ...] = ("max", "mean", "total")
_LABELS = {"max": "max per entry", "mean": "mean per entry"}


@dataclass(frozen=True)
class PhaseBudget:
    """One phase's limits (by quantity) and the statistic they apply to; `statistic` None means
    not set in this layer (the default, ``"max"``, once merged)."""

    limits: Mapping[str, Limit] = field(default_factory=dict)
    statistic: str | None = None


def parse_phase_budgets(value: object, where: str) -> dict[str, PhaseBudget]:
    """``{phase name: PhaseBudget}`` from a ``phases`` value found in `where` (a marker source
    or a TOML table name); :class:`BudgetError` naming the phase and key if invalid."""
    accepted = [*PHASE_LIMIT_KEYS, "statistic"]
    example = "{'decode': {'max_mflops': 5}}"
    budgets: dict[str, PhaseBudget] = {}
    for name, keys, source in named_tables(value, where, "phase", example, accepted):
        limits = {k: v for k, v in keys.items() if k != "statistic"}
        if not limits:
            raise BudgetError(f"budget of {source} has no limit keys")
        statistic = None
        if "statistic" in keys:
            statistic = parse_statistic(keys["statistic"], "statistic", source, PHASE_STATISTICS)
        budgets[name] = PhaseBudget(parse_limits(limits, source), statistic)
    return budgets


def merge_phase_budgets(layers: Sequence[Mapping[str, PhaseBudget]]) -> dict[str, PhaseBudget]:
    """The phase budgets of one test from its layers, the strongest first (marker, exact entry,
    globs): per phase, per quantity and for the statistic, the strongest layer wins; the
    statistic is ``"max"`` where no layer sets it."""
    limits: dict[str, dict[str, Limit]] = {}
    statistics: dict[str, str] = {}
    for layer in reversed(layers):
        for name, budget in layer.items():
            limits.setdefault(name, {}).update(budget.limits)
            if budget.statistic is not None:
                statistics[name] = budget.statistic
    return {name: PhaseBudget(limits[name], statistics.get(name, "max")) for name in limits}


def _entries(recordings: Sequence[Any], name: str) -> list[Any]:
    """Every entry (a per-entry totals object) of phase `name` over `recordings` (profiles)."""
    return [
        entry
        for r in recordings
        if name in (getattr(r, "phases", None) or {})
        for entry in r.phases[name].per_entry
    ]


def phase_values(entries: Sequence[Any], statistic: str) -> dict[str, int]:
    """Each per-phase quantity of `entries` under `statistic`: the largest entry's (per
    quantity), the mean rounded up, or the total."""
    values: dict[str, int] = {}
    for q in PHASE_QUANTITIES:
        numbers = [getattr(e, q) for e in entries]
        if statistic == "max":
            values[q] = max(numbers)
        elif statistic == "mean":
            values[q] = math.ceil(sum(numbers) / len(numbers))
        else:
            values[q] = sum(numbers)
    return values


@dataclass(frozen=True)
class PhaseViolation:
    """A phase's quantity, under its statistic, above its limit (tolerance included)."""

    phase: str
    statistic: str
    entries: int
    quantity: str
    measured: int
    limit: Limit

    def message(self) -> str:
        """``decode (max per entry): 5.30 MFLOPs > 5.00 MFLOPs (+6.0%)``."""
        how = _LABELS.get(self.statistic, f"total over {self.entries} entries")
        text = exceeded_text(self.quantity, self.measured, self.limit.value)
        return f"{self.phase} ({how}): {text}"


@dataclass(frozen=True)
class PhaseCheck:
    """The outcome of a test's phase budgets: what each phase measured, the limits exceeded,
    and the phases budgeted but never entered."""

    results: dict[str, dict[str, Any]]
    violations: list[PhaseViolation]
    errors: list[str]


def _never_entered(name: str, recordings: Sequence[Any]) -> str:
    names = list(dict.fromkeys(n for r in recordings for n in (getattr(r, "phases", None) or {})))
    if names:
        entered = "it entered: " + ", ".join(names) + suggest(name, names)
    else:
        entered = "it entered no phase"
    return f"phase budget {name!r}: the test never entered that phase ({entered})"


def check_phases(recordings: Sequence[Any], budget: Budget) -> PhaseCheck:
    """Measure and check each phase budget of `budget` against `recordings` (profiles)."""
    results: dict[str, dict[str, Any]] = {}
    violations: list[PhaseViolation] = []
    errors: list[str] = []
    for name, phase in budget.phases.items():
        statistic = phase.statistic or "max"
        entry: dict[str, Any] = {
            "statistic": statistic,
            "limits": {q: limit.value for q, limit in phase.limits.items()},
            "sources": {q: f"{limit.key} from {limit.source}" for q, limit in phase.limits.items()},
            "measured": None,
            "over": [],
        }
        results[name] = entry
        entries = _entries(recordings, name)
        if not entries:
            errors.append(_never_entered(name, recordings))
            continue
        values = phase_values(entries, statistic)
        entry["measured"] = values
        for over in check(values, Budget(limits=phase.limits, tolerance=budget.tolerance)):
            violations.append(
                PhaseViolation(
                    name, statistic, len(entries), over.quantity, over.measured, over.limit
                )
            )
            entry["over"].append(over.quantity)
    return PhaseCheck(results=results, violations=violations, errors=errors)


def phases_summary(recordings: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Every phase the recordings entered, for the reports: ``{name: {"entries": int, "total":
    {...}, "mean": {...}, "max": {...}, "last": {...}}}`` over the per-phase quantities (mean
    rounded up; last: the last entry of the last recording that entered it)."""
    names = dict.fromkeys(n for r in recordings for n in (getattr(r, "phases", None) or {}))
    summary: dict[str, dict[str, Any]] = {}
    for name in names:
        entries = _entries(recordings, name)
        if not entries:
            continue
        summary[name] = {
            "entries": len(entries),
            "total": phase_values(entries, "total"),
            "mean": phase_values(entries, "mean"),
            "max": phase_values(entries, "max"),
            "last": {q: getattr(entries[-1], q) for q in PHASE_QUANTITIES},
        }
    return summary
