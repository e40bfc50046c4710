"""Budgets: limit keys and their units, value parsing, resolution and checking.

Pure Python; this module never imports torch. A budget key names a quantity and a unit, e.g.
``max_gflops=8.3`` limits the quantity ``flops`` to 8_300_000_000. All arithmetic on user values
is exact (:class:`fractions.Fraction`); a fractional result in base units is rounded up.

Resolution, per quantity: marker kwargs > the exact node id entry in ``[tool.flopbudget.tests]``
> the matching glob entries (the longest pattern first; equal lengths in file order) > the
top-level defaults. In a glob only ``*`` and ``?`` are wildcards: ``[`` and ``]`` are literal,
so ``"tests/t.py::test_a[*]"`` matches every parametrization of ``test_a``.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fractions import Fraction

    from pytest_flopbudget.config import Config, TestEntry

__all__ = [
    "LIMIT_KEYS",
    "MAX_DEPTH",
    "MAX_LIMIT",
    "MAX_PERCENT",
    "MAX_TEXT",
    "QUANTITIES",
    "Budget",
    "BudgetError",
    "Limit",
    "Violation",
    "budgeted_by_config",
    "check",
    "format_delta",
    "human",
    "matching_entries",
    "parse_depth",
    "parse_limits",
    "parse_marker",
    "parse_percent",
    "parse_strict",
    "parse_value",
    "resolve",
    "shown",
    "suggest",
]

QUANTITIES: tuple[str, ...] = (
    "flops",
    "macs",
    "params",
    "nonzero_params",
    "sparse_flops",
    "param_bytes",
)

LIMIT_KEYS: dict[str, tuple[str, int]] = {
    "max_flops": ("flops", 1),
    "max_kflops": ("flops", 10**3),
    "max_mflops": ("flops", 10**6),
    "max_gflops": ("flops", 10**9),
    "max_tflops": ("flops", 10**12),
    "max_macs": ("macs", 1),
    "max_gmacs": ("macs", 10**9),
    "max_params": ("params", 1),
    "max_nonzero_params": ("nonzero_params", 1),
    "max_sparse_flops": ("sparse_flops", 1),
    "max_param_bytes": ("param_bytes", 1),
}

_SI_SUFFIXES: dict[str, int] = {"": 1, "K": 10**3, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_BYTE_UNITS: dict[str, int] = {
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
# Value strings are ASCII only (re.ASCII: \d is 0-9, \s is ASCII whitespace); no underscores,
# no "nan" or "inf". A TOML or Python number may use underscores (1_000) on its own terms.


def _fraction(*args: Any) -> Fraction:
    """fractions.Fraction, imported on first use: pytest imports this module in every run."""
    from fractions import Fraction

    return Fraction(*args)


_NUMBER = re.compile(
    r"^\s*(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE](?P<exp>[+-]?\d+))?)"
    r"\s*(?P<unit>[A-Za-z]*)\s*$",
    re.ASCII,
)
_PERCENT = re.compile(r"^\s*(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*%\s*$", re.ASCII)
MAX_LIMIT: int = 10**30
"""The largest limit, in base units (FLOPs, MACs, parameters, bytes)."""
MAX_PERCENT: int = 10_000
"""The largest percentage (tolerance, fail_on_increase, update_headroom): 10000% is 100x."""
MAX_TEXT: int = 64
"""The longest value string, in characters."""
MAX_DEPTH: int = 64
"""The deepest --flop-report-depth."""
_MAX_EXPONENT = 400
_SHOWN = 60
_PREFIXES: tuple[tuple[str, int], ...] = (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3))


class BudgetError(ValueError):
    """A budget key or value is invalid; the message names the key, the value and its source."""


@dataclass(frozen=True)
class Limit:
    """One limit: ``value`` is in base units (FLOPs, MACs, parameters, bytes)."""

    quantity: str
    value: int
    key: str
    source: str


@dataclass(frozen=True)
class Budget:
    """The limits that apply to one test, by quantity, the allowed overshoot (a fraction),
    whether ops with no cost formula fail the test (`strict`), and the limits of named modules
    (`modules`: {module name: {quantity: Limit}}, see :mod:`pytest_flopbudget.module_budgets`)."""

    limits: Mapping[str, Limit] = field(default_factory=dict)
    tolerance: float = 0.0
    strict: bool = False
    modules: Mapping[str, Mapping[str, Limit]] = field(default_factory=dict)


@dataclass(frozen=True)
class Violation:
    """A measured quantity above its limit (tolerance included)."""

    quantity: str
    measured: int
    limit: Limit

    @property
    def overshoot(self) -> float:
        """How far above the limit, as a fraction of it (0.2 is 20% above)."""
        return float(_fraction(self.measured, self.limit.value) - 1)

    def message(self) -> str:
        """One line, e.g. ``FLOP budget exceeded: 8.27 GFLOPs > 2.00 GFLOPs (+313.5%)``."""
        measured, limit = _format_pair(self.quantity, self.measured, self.limit.value)
        return f"{_LABELS[self.quantity]}{measured} > {limit} ({format_delta(self.overshoot)})"


_LABELS: dict[str, str] = {
    "flops": "FLOP budget exceeded: ",
    "macs": "MAC budget exceeded: ",
    "sparse_flops": "sparse FLOP budget exceeded: ",
    "params": "params ",
    "nonzero_params": "nonzero params ",
    "param_bytes": "param bytes ",
}


# --- parsing ---------------------------------------------------------------------------------


def suggest(key: str, candidates: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the nearest candidate, or an empty string."""
    import difflib  # only for a message

    close = difflib.get_close_matches(str(key), candidates, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def shown(value: object) -> str:
    """``repr(value)`` for a message: at most about 60 characters, and never an exception (the
    repr of a 5000-digit int raises)."""
    try:
        text = repr(value)
    except Exception:  # a repr that raises is still bad input, not an internal error
        if isinstance(value, int):  # over sys.get_int_max_str_digits()
            digits = math.floor(abs(value).bit_length() * math.log10(2)) + 1
            return f"<an int of about {digits} digits>"
        return f"<{type(value).__name__}>"
    if len(text) <= _SHOWN:
        return text
    return f"{text[: _SHOWN - 20]}...{text[-10:]} ({len(text)} characters)"


def _invalid(key: str, value: object, source: str, reason: str) -> BudgetError:
    return BudgetError(f"invalid value {shown(value)} for {key!r} in {source}: {reason}")


def _is_bool(value: object) -> bool:
    """Python's bool and numpy's (``np.bool_``, which is no ``numbers.Integral``)."""
    return isinstance(value, bool) or type(value).__name__ in ("bool", "bool_")


def _number(value: object, key: str, source: str) -> Fraction | None:
    """The exact value of a number (int, float, Fraction, a numpy scalar: anything registered
    as ``numbers.Real``); None when ``value`` is not a number. A float is the decimal it
    prints as (8.3 is 83/10, not the nearest binary fraction); another real (``np.float32``)
    is converted to float first."""
    if _is_bool(value):
        raise _invalid(key, value, source, "a boolean is not a number")
    if isinstance(value, numbers.Integral):
        return _fraction(int(value))
    if isinstance(value, numbers.Rational):
        return _fraction(int(value.numerator), int(value.denominator))
    if not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise _invalid(key, value, source, "must be a finite number") from None
    if not math.isfinite(number):
        raise _invalid(key, value, source, "must be a finite number")
    return _fraction(repr(number))  # np.float32(8.3) is its exact value, 8.300000190734863


def _checked_text(text: str, key: str, source: str) -> str:
    """A value string: at most :data:`MAX_TEXT` characters, ASCII only."""
    if len(text) > MAX_TEXT:
        raise _invalid(key, text, source, f"too long (at most {MAX_TEXT} characters)")
    if not text.isascii():
        char = next(c for c in text if not c.isascii())
        raise _invalid(
            key, text, source, f"non-ASCII character {char!r}; write numbers with the digits 0-9"
        )
    return text


def _suffixes_for(quantity: str) -> dict[str, int]:
    return {**_SI_SUFFIXES, **_BYTE_UNITS} if quantity == "param_bytes" else _SI_SUFFIXES


def _string_amount(text: str, key: str, source: str) -> Fraction:
    quantity, multiplier = LIMIT_KEYS[key]
    suffixes = _suffixes_for(quantity)
    match = _NUMBER.match(_checked_text(text, key, source))
    if match is None or match["unit"] not in suffixes:
        accepted = ", ".join(s for s in suffixes if s)
        raise _invalid(key, text, source, f"not a number with an optional unit suffix ({accepted})")
    if match["unit"] and multiplier != 1:
        base = next(k for k, (q, m) in LIMIT_KEYS.items() if q == quantity and m == 1)
        raise _invalid(
            key,
            text,
            source,
            f"a unit suffix on a scaled key is ambiguous; write {base}={text!r} "
            f"or {key} as a plain number",
        )
    if match["exp"] is not None and abs(int(match["exp"])) > _MAX_EXPONENT:
        raise _invalid(key, text, source, f"the exponent must be within ±{_MAX_EXPONENT}")
    return _fraction(match["num"]) * suffixes[match["unit"]]


def _amount(value: object, key: str, source: str) -> Fraction:
    if isinstance(value, str):
        return _string_amount(value, key, source)
    number = _number(value, key, source)
    if number is None:
        raise _invalid(key, value, source, 'must be a positive number or a string such as "25.6M"')
    return number


def parse_value(key: str, value: object, source: str) -> int:
    """``value`` of budget ``key`` in base units, rounded up; :class:`BudgetError` if invalid.

    A value is a number (int, float, a numpy scalar; never a bool) or a string of ASCII digits
    with an optional SI suffix (``"25.6M"``; on ``max_param_bytes`` also ``"25MB"``,
    ``"1.5GiB"``); it must be positive and at most :data:`MAX_LIMIT` in base units.
    """
    amount = _amount(value, key, source) * LIMIT_KEYS[key][1]
    if amount <= 0:
        raise _invalid(key, value, source, "must be positive")
    if amount > MAX_LIMIT:
        raise _invalid(key, value, source, "too large (a limit is at most 1e30 in base units)")
    return math.ceil(amount)


def _unknown_key(key: object, source: str, accepted: list[str]) -> BudgetError:
    return BudgetError(
        f"unknown budget key {key!r} in {source}{suggest(str(key), accepted)}; "
        f"accepted keys: {', '.join(accepted)}"
    )


def parse_limits(mapping: Mapping[str, object], source: str) -> dict[str, Limit]:
    """Validate budget keys and values from one source; the result is keyed by quantity."""
    if not isinstance(mapping, Mapping):
        raise BudgetError(f"budget in {source} must be a table of keys, got {shown(mapping)}")
    limits: dict[str, Limit] = {}
    for key, value in mapping.items():
        if key not in LIMIT_KEYS:
            raise _unknown_key(key, source, list(LIMIT_KEYS))
        quantity = LIMIT_KEYS[key][0]
        if quantity in limits:
            raise BudgetError(
                f"budget keys {limits[quantity].key!r} and {key!r} in {source} both limit "
                f"{quantity}; use only one of them"
            )
        limits[quantity] = Limit(quantity, parse_value(key, value, source), key, source)
    return limits


def parse_percent(value: object, key: str, source: str) -> float:
    """``"5%"`` or a plain number of percent (``5``, ``np.float64(5)``) as a fraction (0.05);
    from 0% to :data:`MAX_PERCENT` %. A string is ASCII digits, an optional decimal point and
    ``%`` (no exponent)."""
    if isinstance(value, str):
        match = _PERCENT.match(_checked_text(value, key, source))
        if match is None:
            raise _invalid(key, value, source, 'must be a percentage such as "5%"')
        percent = _fraction(match["num"])
    else:
        number = None if _is_bool(value) else _number(value, key, source)
        if number is None:
            raise _invalid(key, value, source, 'must be a percentage such as "5%"')
        percent = number
    if percent < 0:
        raise _invalid(key, value, source, "must not be negative")
    if percent > MAX_PERCENT:
        raise _invalid(key, value, source, f"must be at most {MAX_PERCENT}%")
    return float(percent / 100)


def parse_depth(value: object, key: str, source: str) -> int:
    """A depth (``--flop-report-depth``): an int or a string of ASCII digits, 0 to 64."""
    if isinstance(value, str):
        text = _checked_text(value, key, source).strip()
        if not text.isdigit():
            raise _invalid(key, value, source, "must be a whole number such as 2")
        depth = int(text)
    elif isinstance(value, numbers.Integral) and not _is_bool(value):
        depth = int(value)
    else:
        raise _invalid(key, value, source, "must be a whole number such as 2")
    if not 0 <= depth <= MAX_DEPTH:
        raise _invalid(key, value, source, f"must be from 0 to {MAX_DEPTH}")
    return depth


def parse_strict(value: object, key: str, source: str) -> bool:
    """A ``strict`` setting: ``true`` or ``false`` only (not 1, not ``"yes"``)."""
    if not isinstance(value, bool):
        raise _invalid(key, value, source, "must be true or false")
    return value


def parse_marker(
    kwargs: Mapping[str, object], source: str
) -> tuple[dict[str, Limit], float | None]:
    """The limits and the optional ``tolerance`` of ``@pytest.mark.flop_budget(...)``; an
    optional ``strict`` and ``modules`` are validated here too (and read by :func:`resolve`)."""
    accepted = [*LIMIT_KEYS, "tolerance", "strict", "modules"]
    for key in kwargs:
        if key not in accepted:
            raise _unknown_key(key, source, accepted)
    tolerance = None
    if "tolerance" in kwargs:
        tolerance = parse_percent(kwargs["tolerance"], "tolerance", source)
    if "strict" in kwargs:
        parse_strict(kwargs["strict"], "strict", source)
    if "modules" in kwargs:
        from .module_budgets import parse_module_budgets

        parse_module_budgets(kwargs["modules"], source)
    limits = {k: v for k, v in kwargs.items() if k not in ("tolerance", "strict", "modules")}
    return parse_limits(limits, source), tolerance


# --- resolution ------------------------------------------------------------------------------


def _glob_matches(node_id: str, pattern: str) -> bool:
    parts = ("." if ch == "?" else ".*" if ch == "*" else re.escape(ch) for ch in pattern)
    return re.fullmatch("".join(parts), node_id, flags=re.DOTALL) is not None


def matching_entries(node_id: str, config: Config) -> list[TestEntry]:
    """The ``tests`` entries that apply to ``node_id``, the strongest first."""
    exact = [e for e in config.tests if e.pattern == node_id]
    globs = [
        e
        for e in config.tests
        if e.is_glob and e.pattern != node_id and _glob_matches(node_id, e.pattern)
    ]
    return exact + sorted(globs, key=lambda e: -len(e.pattern))


def budgeted_by_config(node_id: str, config: Config) -> bool:
    """True when a ``tests`` entry names or matches ``node_id``; defaults alone budget nothing."""
    return bool(matching_entries(node_id, config))


def resolve(marker_kwargs: Mapping[str, Any] | None, node_id: str, config: Config) -> Budget:
    """The budget of one test: marker > exact entry > globs (longest first) > defaults.

    ``marker_kwargs`` are the raw keyword arguments of ``@pytest.mark.flop_budget`` (limit keys,
    an optional ``tolerance`` and ``strict``); invalid ones raise :class:`BudgetError`. The
    tolerance and strict are resolved in the same order as each limit.
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
    ordered = {q: limits[q] for q in QUANTITIES if q in limits}
    modules = _module_layers(marker_kwargs, node_id, entries)
    return Budget(limits=ordered, tolerance=tolerance, strict=strict, modules=modules)


def _module_layers(
    marker_kwargs: Mapping[str, Any], node_id: str, entries: list[TestEntry]
) -> dict[str, dict[str, Limit]]:
    """Module budgets, per module and quantity: marker > exact entry > globs (no defaults)."""
    from .module_budgets import merge_module_budgets, parse_module_budgets

    marker = parse_module_budgets(marker_kwargs.get("modules", {}), f"marker on {node_id}")
    return merge_module_budgets([marker, *(e.modules for e in entries)])


# --- checking --------------------------------------------------------------------------------


def check(measured: Mapping[str, int | None], budget: Budget) -> list[Violation]:
    """Limits exceeded by more than the tolerance; an unknown (None or absent) value never is."""
    allowed = 1 + _fraction(budget.tolerance)
    violations = []
    for quantity, limit in budget.limits.items():
        value = measured.get(quantity)
        if value is not None and value > limit.value * allowed:
            violations.append(Violation(quantity, value, limit))
    return violations


# --- formatting ------------------------------------------------------------------------------


def _prefix(n: int) -> tuple[str, int]:
    return next(((p, s) for p, s in _PREFIXES if abs(n) >= s), ("", 1))


def _format_pair(quantity: str, measured: int, limit: int) -> tuple[str, str]:
    prefix, scale = _prefix(limit)
    if quantity in ("flops", "macs", "sparse_flops"):
        unit = " " + prefix + ("MACs" if quantity == "macs" else "FLOPs")
        digits = 2
    elif quantity == "param_bytes":
        unit = " " + prefix + "B"
        digits = 1
    else:
        unit = prefix
        digits = 1

    def fmt(n: int) -> str:
        return f"{n}{unit}" if scale == 1 else f"{n / scale:.{digits}f}{unit}"

    return fmt(measured), fmt(limit)


def _three_figures(x: float) -> str:
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def human(n: int | float | None, unit: str = "") -> str:
    """A count to three significant figures: ``8.27G``, ``25.6M``, ``512``, ``-`` for None.

    With ``unit`` a space separates number and unit: ``human(8_270_000_000, "FLOPs")`` is
    ``"8.27 GFLOPs"``.
    """
    if n is None:
        return "-"
    sep = " " if unit else ""
    if isinstance(n, int) and abs(n) < 1000:
        return f"{n}{sep}{unit}"
    if abs(n) < 999.5:  # a float that stays below 1000 at three figures
        return f"{n:.3g}{sep}{unit}"
    ladder = list(reversed(_PREFIXES))
    index = next((i for i, (_, s) in enumerate(ladder) if abs(n) < s * 1000), len(ladder) - 1)
    text = _three_figures(n / ladder[index][1])
    if abs(float(text)) >= 1000 and index + 1 < len(ladder):
        index += 1
        text = _three_figures(n / ladder[index][1])
    return f"{text}{sep}{ladder[index][0]}{unit}"


def format_delta(fraction: float) -> str:
    """A signed percentage with one decimal: ``+313.5%``, ``-2.0%``, ``+0.0%`` (never ``-0.0%``)."""
    text = f"{fraction * 100:+.1f}%"
    return "+0.0%" if text == "-0.0%" else text
