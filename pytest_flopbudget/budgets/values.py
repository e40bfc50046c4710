"""Budget values: limits and percentages as users write them, parsed exactly.

A budget key names a quantity and a unit (see :mod:`.quantities`): ``max_gflops=8.3`` limits
``flops`` to 8_300_000_000. All arithmetic on user values is exact (:class:`fractions.Fraction`);
a fractional result in base units is rounded up. Value strings are ASCII only (re.ASCII: \\d is
0-9, \\s is ASCII whitespace); no underscores, no "nan" or "inf". A TOML or Python number may
use underscores (1_000) on its own terms. Pure Python: no torch, no pytest.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pytest_flopbudget.budgets.quantities import LIMIT_KEYS, base_key, by_name
from pytest_flopbudget.text import shown, suggest

if TYPE_CHECKING:
    from fractions import Fraction

__all__ = [
    "MAX_LIMIT",
    "MAX_PERCENT",
    "MAX_REPORT_DEPTH",
    "MAX_TEXT",
    "STATISTICS",
    "BudgetError",
    "Distribution",
    "Limit",
    "parse_depth",
    "parse_limits",
    "parse_percent",
    "parse_statistic",
    "parse_strict",
    "parse_value",
    "statistic_of",
    "unknown_key",
]


def _fraction(*args: Any) -> Fraction:
    """fractions.Fraction, imported on first use: pytest imports this module in every run."""
    from fractions import Fraction

    return Fraction(*args)


_NUMBER = re.compile(
    r"^\s*(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE](?P<exp>[+-]?\d+))?)"
    r"\s*(?P<unit>[A-Za-z]*)\s*$",
    re.ASCII,
)
_PERCENT = re.compile(r"^\s*(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*%?\s*$", re.ASCII)
_PERCENT_FORM = 'must be a percentage such as 5, "5" or "5%"'
MAX_LIMIT: int = 10**30
"""The largest limit, in base units (FLOPs, MACs, parameters, bytes)."""
MAX_PERCENT: int = 10_000
"""The largest percentage (tolerance, fail_on_increase, update_headroom): 10000% is 100x."""
MAX_TEXT: int = 64
"""The longest value string, in characters."""
MAX_REPORT_DEPTH: int = 64
"""The deepest --flop-report-depth."""
_MAX_EXPONENT = 400


class BudgetError(ValueError):
    """A budget key or value is invalid; the message names the key, the value and its source."""


@dataclass(frozen=True)
class Limit:
    """One limit: ``value`` is in base units (FLOPs, MACs, parameters, bytes)."""

    quantity: str
    value: int
    key: str
    source: str


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


def _string_amount(text: str, key: str, source: str) -> Fraction:
    quantity, multiplier = LIMIT_KEYS[key]
    suffixes = by_name[quantity].suffixes
    match = _NUMBER.match(_checked_text(text, key, source))
    if match is None or match["unit"] not in suffixes:
        accepted = ", ".join(s for s in suffixes if s)
        if not accepted:
            raise _invalid(key, text, source, "not a number (it takes no unit suffix)")
        raise _invalid(key, text, source, f"not a number with an optional unit suffix ({accepted})")
    if match["unit"] and multiplier != 1:
        base = base_key(quantity)
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


def unknown_key(key: object, source: str, accepted: list[str]) -> BudgetError:
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
            raise unknown_key(key, source, list(LIMIT_KEYS))
        quantity = LIMIT_KEYS[key][0]
        if quantity in limits:
            raise BudgetError(
                f"budget keys {limits[quantity].key!r} and {key!r} in {source} both limit "
                f"{quantity}; use only one of them"
            )
        limits[quantity] = Limit(quantity, parse_value(key, value, source), key, source)
    return limits


def parse_percent(value: object, key: str, source: str) -> float:
    """A number of percent (``5``, ``np.float64(5)``) or a string with or without ``%``
    (``"5"``, ``"5%"``) as a fraction (0.05); from 0% to :data:`MAX_PERCENT` %. A string is
    ASCII digits, an optional decimal point and an optional ``%`` (no exponent); the same rule
    for the marker, pyproject.toml and the command line."""
    if isinstance(value, str):
        match = _PERCENT.match(_checked_text(value, key, source))
        if match is None:
            raise _invalid(key, value, source, _PERCENT_FORM)
        percent = _fraction(match["num"])
    else:
        number = None if _is_bool(value) else _number(value, key, source)
        if number is None:
            raise _invalid(key, value, source, _PERCENT_FORM)
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
    if not 0 <= depth <= MAX_REPORT_DEPTH:
        raise _invalid(key, value, source, f"must be from 0 to {MAX_REPORT_DEPTH}")
    return depth


def parse_strict(value: object, key: str, source: str) -> bool:
    """A ``strict`` setting: ``true`` or ``false`` only (not 1, not ``"yes"``)."""
    if not isinstance(value, bool):
        raise _invalid(key, value, source, "must be true or false")
    return value


STATISTICS: tuple[str, ...] = ("mean", "p50", "p95", "max")
"""The ``statistic`` a test's limits are checked on when it recorded a distribution (over
inputs, ``profile_each``); ``"mean"`` when unset."""


def parse_statistic(
    value: object, key: str, source: str, accepted: tuple[str, ...] = STATISTICS
) -> str:
    """A ``statistic`` setting: one of `accepted` (a string, exactly)."""
    if not isinstance(value, str) or value not in accepted:
        hint = suggest(value, list(accepted)) if isinstance(value, str) else ""
        names = ", ".join(repr(a) for a in accepted)
        raise _invalid(key, value, source, f"must be one of {names}{hint}")
    return value


class Distribution(Protocol):
    """What the budgets read of a distribution over inputs (the engine's
    ``engine.distribution.Distribution``, which the budgets may not import: it imports the
    counter, and so torch)."""

    count: int
    profiles: tuple[Any, ...]

    def statistic(self, name: str) -> Any: ...


def statistic_of(values: Sequence[float], name: str) -> float:
    """The statistic `name` (one of STATISTICS) of `values`: their mean, largest value, or a
    percentile, by the engine's Distribution's rule (:mod:`pytest_flopbudget.engine.statistics`)."""
    from pytest_flopbudget.engine.statistics import mean, percentile  # fractions: on first use

    if name == "mean":
        return mean(values)
    if name == "max":
        return max(values)
    return percentile(values, int(name[1:]))
