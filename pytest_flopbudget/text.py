"""Number formatting and suggestions for every message, table and report.

Imported by every layer; imports nothing of ours (and nothing heavy: pytest loads the plugin,
and so this module, in every run).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

__all__ = [
    "calls_listed",
    "columns",
    "empty_path",
    "format_delta",
    "human",
    "op_name",
    "prefix",
    "relative_change",
    "share",
    "shown",
    "suggest",
    "teach_hint",
    "times_listed",
]

_PREFIXES: tuple[tuple[str, int], ...] = (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3))
_SHOWN = 60


def prefix(n: int) -> tuple[str, int]:
    """The SI prefix (``"G"``, 10**9) whose scale `n` reaches; ``("", 1)`` below a thousand."""
    return next(((p, s) for p, s in _PREFIXES if abs(n) >= s), ("", 1))


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


def share(part: int, whole: int) -> str:
    """`part` as a percentage of `whole`, one decimal."""
    return f"{100 * part / whole:.1f}%" if whole else "-"


def suggest(key: str, candidates: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the nearest candidate, or an empty string."""
    import difflib  # only for a message

    close = difflib.get_close_matches(str(key), candidates, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def empty_path(what: str) -> str:
    """The message for a path given as nothing, most often a shell variable that is not set:
    ``--flop-report=markdown:"$GITHUB_STEP_SUMMARY"`` outside GitHub Actions."""
    return f"{what} is empty: an environment variable in it is probably unset"


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


def columns(table: list[tuple[str, ...]]) -> list[str]:
    """Rows of cells in aligned columns (the first left, the rest right), a rule under the
    header row."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        for cells in table
    ]
    lines.insert(1, "-" * len(lines[0]))
    return lines


def relative_change(now: object, before: object) -> float | None:
    """The relative change from `before` to `now` (0.05 is +5%); None when either is not a
    count (unknown, or not an int in a hand-edited report) or `before` is 0."""
    if not isinstance(now, int) or not isinstance(before, int) or not before:
        return None
    return now / before - 1


# an op's key in Profile.uncounted and the op table (`tinyml.scaled_tanh`), maybe with a reason
_OP_KEY = re.compile(r"([A-Za-z_]\w*)\.(\w+)(?= |$)")


def op_name(key: str) -> str:
    """An uncounted op as it is registered, ``tinyml::scaled_tanh``, from its key in
    `Profile.uncounted` (``tinyml.scaled_tanh``, maybe with a reason after it: ``mylib.op
    (formula failed: …)``); any other key (a module-cost hook's, work on another thread) as is."""
    return _OP_KEY.sub(r"\1::\2", key, count=1) if _OP_KEY.match(key) else key


def teach_hint(uncounted: Mapping[str, int], how: str) -> str | None:
    """``teach it in conftest.py: ... {"tinyml::scaled_tanh": formula}``: how to price the ops
    in `uncounted` that have no formula at all (not those whose formula failed), from `how`, a
    template of ``{op}`` (the first such op) and ``{mapping}`` (a formulas mapping for them);
    None when there are none."""
    names = [op_name(key) for key in uncounted if _OP_KEY.fullmatch(key)]
    if not names:
        return None
    mapping = f'{{"{names[0]}": formula{", ..." if len(names) > 1 else ""}}}'
    them = "it" if len(names) == 1 else "them"
    return f"teach {them} " + how.format(op=names[0], mapping=mapping)


def calls_listed(calls: Mapping[str, int]) -> str:
    """``aten::foo (3 calls), aten::bar (1 call)``: uncounted ops as they are registered."""
    return ", ".join(
        f"{op_name(name)} ({n} call{'' if n == 1 else 's'})" for name, n in calls.items()
    )


def times_listed(calls: Mapping[str, int]) -> str:
    """``aten::foo ×3, aten::bar ×1``: uncounted ops as they are registered."""
    return ", ".join(f"{op_name(name)} ×{n}" for name, n in calls.items())
