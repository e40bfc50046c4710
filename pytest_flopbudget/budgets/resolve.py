"""A test's budget from its sources: the marker's arguments and ``[tool.flopbudget]``.

Resolution, per quantity: marker kwargs > the exact node id entry in ``[tool.flopbudget.tests]``
> the matching glob entries (the longest pattern first; equal lengths in file order) > the
top-level defaults. In a glob only ``*`` and ``?`` are wildcards: ``[`` and ``]`` are literal,
so ``"tests/t.py::test_a[*]"`` matches every parametrization of ``test_a``. Pure Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_flopbudget.budgets.check import Budget
from pytest_flopbudget.budgets.config import (
    ENTRY_KEYS,
    ENTRY_SETTINGS,
    Config,
    TestEntry,
    matching_entries,
)
from pytest_flopbudget.budgets.modules import merge_module_budgets, parse_module_budgets
from pytest_flopbudget.budgets.phases import PhaseBudget, merge_phase_budgets, parse_phase_budgets
from pytest_flopbudget.budgets.quantities import HARDWARE_QUANTITIES, QUANTITIES
from pytest_flopbudget.budgets.values import (
    BudgetError,
    Limit,
    parse_limits,
    parse_percent,
    parse_statistic,
    parse_strict,
    unknown_key,
)
from pytest_flopbudget.engine.hardware import HardwareError, find_hardware
from pytest_flopbudget.text import shown

__all__ = ["MARKER_KEYS", "SETTINGS", "parse_marker", "resolve", "validate_marker"]

MARKER_KEYS: list[str] = ENTRY_KEYS
"""What ``@pytest.mark.flop_budget(...)`` accepts: the budget keys, tolerance, strict, modules,
hardware, statistic, phases."""
SETTINGS: tuple[str, ...] = ENTRY_SETTINGS
"""The marker's keys that are not limits: a marker holding only these does not pin its test."""


def parse_marker(
    kwargs: Mapping[str, object], source: str
) -> tuple[dict[str, Limit], float | None]:
    """The limits and the optional ``tolerance`` of ``@pytest.mark.flop_budget(...)``; an
    optional ``strict`` and ``modules`` are validated here too (and read by :func:`resolve`)."""
    for key in kwargs:
        if key not in MARKER_KEYS:
            raise unknown_key(key, source, MARKER_KEYS)
    tolerance = None
    if "tolerance" in kwargs:
        tolerance = parse_percent(kwargs["tolerance"], "tolerance", source)
    if "strict" in kwargs:
        parse_strict(kwargs["strict"], "strict", source)
    if "warn_on_increase" in kwargs:
        parse_percent(kwargs["warn_on_increase"], "warn_on_increase", source)
    if "modules" in kwargs:
        parse_module_budgets(kwargs["modules"], source)
    if "statistic" in kwargs:
        parse_statistic(kwargs["statistic"], "statistic", source)
    if "phases" in kwargs:
        parse_phase_budgets(kwargs["phases"], source)
    if "hardware" in kwargs and not isinstance(kwargs["hardware"], str):
        raise BudgetError(
            f"invalid value {shown(kwargs['hardware'])} for 'hardware' in {source}: must be a "
            'device name such as "h100"'
        )
    limits = {k: v for k, v in kwargs.items() if k not in SETTINGS}
    return parse_limits(limits, source), tolerance


def validate_marker(
    kwargs: Mapping[str, object], args: tuple[object, ...], node_id: str
) -> dict[str, Limit]:
    """The limits of ``@pytest.mark.flop_budget(...)`` on ``node_id``; BudgetError if invalid.

    Besides the budget keys the marker accepts ``tolerance``, ``strict`` and ``modules``
    (validated here, applied by :func:`resolve`).
    """
    if args:
        raise BudgetError(
            f"{node_id}: flop_budget takes keyword arguments only, got positional {args!r}; "
            f"accepted keys: {', '.join(MARKER_KEYS)}"
        )
    limits, _ = parse_marker(kwargs, f"marker on {node_id}")
    return limits


def resolve(
    marker_kwargs: Mapping[str, Any] | None,
    node_id: str,
    config: Config,
    hardware: str | None = None,
    warn_on_increase: float | None = None,
) -> Budget:
    """The budget of one test: marker > exact entry > globs (longest first) > defaults.

    ``marker_kwargs`` are the raw keyword arguments of ``@pytest.mark.flop_budget`` (limit keys,
    an optional ``tolerance``, ``strict`` and ``hardware``); invalid ones raise
    :class:`BudgetError`. The tolerance and strict are resolved in the same order as each limit;
    the device of latency estimates too, with `hardware` (``--flop-hardware``) between the
    entries and the top-level default. A latency limit with no device is a BudgetError.
    ``warn_on_increase`` likewise, with `warn_on_increase` (``--flop-warn-on-increase``, a
    fraction) between the entries and the top-level setting.
    """
    marker_kwargs = marker_kwargs or {}
    marker_limits, marker_tolerance = parse_marker(marker_kwargs, f"marker on {node_id}")
    entries = matching_entries(node_id, config)
    layers = [marker_limits, *(e.limits for e in entries), config.defaults]
    limits: dict[str, Limit] = {}
    for layer in reversed(layers):
        limits.update(layer)
    tolerances = [marker_tolerance, *(e.tolerance for e in entries), config.tolerance]
    tolerance = next(t for t in tolerances if t is not None)
    stricts = [marker_kwargs.get("strict"), *(e.strict for e in entries), config.strict]
    strict = next(s for s in stricts if s is not None)
    statistics = [marker_kwargs.get("statistic"), *(e.statistic for e in entries), config.statistic]
    statistic = next(s for s in statistics if s is not None)
    warn = marker_kwargs.get("warn_on_increase")
    warns = [
        None if warn is None else parse_percent(warn, "warn_on_increase", f"marker on {node_id}"),
        *(e.warn_on_increase for e in entries),
        warn_on_increase,
        config.warn_on_increase,
    ]
    ordered = {q: limits[q] for q in QUANTITIES if q in limits}
    modules = _module_layers(marker_kwargs, node_id, entries)
    devices = [
        marker_kwargs.get("hardware"),
        *(e.hardware for e in entries),
        hardware,
        config.default_hardware,
    ]
    device = next((d for d in devices if d is not None), None)
    if device is not None:
        try:
            device = find_hardware(device, config.hardware).name or device
        except HardwareError as error:
            raise BudgetError(f"'hardware' for {node_id}: {error}") from None
    for quantity in HARDWARE_QUANTITIES:
        if quantity in ordered and device is None:
            limit = ordered[quantity]
            raise BudgetError(
                f"{limit.key!r} in {limit.source} needs a device to estimate on: set "
                'hardware = "NAME" (in the marker, the tests entry or [tool.flopbudget]) or '
                "pass --flop-hardware=NAME"
            )
    return Budget(
        limits=ordered,
        tolerance=tolerance,
        strict=strict,
        modules=modules,
        hardware=device,
        statistic=statistic,
        phases=_phase_layers(marker_kwargs, node_id, entries),
        warn_on_increase=next((w for w in warns if w is not None), None),
    )


def _module_layers(
    marker_kwargs: Mapping[str, Any], node_id: str, entries: list[TestEntry]
) -> dict[str, dict[str, Limit]]:
    """Module budgets, per module and quantity: marker > exact entry > globs (no defaults)."""
    marker = parse_module_budgets(marker_kwargs.get("modules", {}), f"marker on {node_id}")
    return merge_module_budgets([marker, *(e.modules for e in entries)])


def _phase_layers(
    marker_kwargs: Mapping[str, Any], node_id: str, entries: list[TestEntry]
) -> dict[str, PhaseBudget]:
    """Phase budgets, per phase, quantity and statistic: marker > exact entry > globs."""
    marker = parse_phase_budgets(marker_kwargs.get("phases", {}), f"marker on {node_id}")
    return merge_phase_budgets([marker, *(e.phases for e in entries)])
