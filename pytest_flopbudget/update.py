"""`--flop-budget-update`: write measured values into pyproject.toml as budgets.

Written once, at the end of the session, on the xdist controller: tomlkit keeps every comment,
the ordering and the formatting outside the rewritten values; the file is replaced atomically
(a temporary file beside it, then os.replace).

What is written, per measured test:
- a test with no entry at all gets an exact `[tool.flopbudget.tests."<node id>"]` entry with its
  FLOPs and params (a test covered by a glob entry gets one only when the glob is off);
- in an exact entry, a limit that is exceeded, or has more than `SLACK` room beyond the new
  value, is rewritten; its key (and so its unit) is kept;
- a test whose limits are set by its marker is left alone and listed as pinned;
- new values are the measured ones plus `update_headroom`, rounded up to three significant
  figures, so a second run right after has nothing to update.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import tomlkit
from tomlkit.items import Table

from .budget import LIMIT_KEYS, human, matching_entries, parse_value
from .config import Config
from .exports import totals
from .report import TestRow

__all__ = [
    "SLACK",
    "UpdateResult",
    "flops_limit_key",
    "round_up",
    "toml_limit_value",
    "update_pyproject",
]

# An existing limit more than this far above the value we would write is tightened.
SLACK = Fraction(1, 5)
FLOP_KEYS = (
    (10**12, "max_tflops"),
    (10**9, "max_gflops"),
    (10**6, "max_mflops"),
    (10**3, "max_kflops"),
    (1, "max_flops"),
)


@dataclass(frozen=True)
class UpdateResult:
    updated: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    pinned: list[tuple[str, str]] = field(default_factory=list)  # (node id, file:line)
    stale: list[str] = field(default_factory=list)

    def lines(self, path: Path) -> list[str]:
        counts = (
            f"flop budget update ({path}): {len(self.updated)} updated, {len(self.new)} new, "
            f"{len(self.unchanged)} unchanged, {len(self.pinned)} pinned"
        )
        lines = [counts]
        lines += [f"  updated {nodeid}" for nodeid in self.updated]
        lines += [f"  new     {nodeid}" for nodeid in self.new]
        lines += [f"  pinned  {nodeid} (set in code at {where})" for nodeid, where in self.pinned]
        lines += [f"  stale   {pattern} (no test matched it)" for pattern in self.stale]
        return lines


def round_up(value: int, headroom: float = 0.0) -> int:
    """`value` plus `headroom` (a fraction), rounded up to three significant figures."""
    raised = Fraction(value) * (1 + Fraction(str(headroom)))
    whole = -(-raised.numerator // raised.denominator)  # ceil
    digits = len(str(whole))
    if digits <= 3:
        return whole
    step = 10 ** (digits - 3)
    return -(-whole // step) * step


def _number(value: Fraction) -> int | float:
    return int(value) if value.denominator == 1 else float(value)


def toml_limit_value(key: str, limit: int, previous: object = None) -> object:
    """The limit as the key's unit wants it: a number for scaled keys, an SI string (or an int,
    when the user wrote an int) for base keys."""
    quantity, multiplier = LIMIT_KEYS[key]
    if multiplier != 1:
        return _number(Fraction(limit, multiplier))
    if isinstance(previous, int) or limit < 1000 or quantity == "param_bytes":
        return limit
    return human(limit)


def flops_limit_key(flops: int) -> str:
    return next(key for scale, key in FLOP_KEYS if flops >= scale or scale == 1)


def _keep_trivia(new: object, old: object) -> object:
    item = tomlkit.item(new)
    if old is not None and hasattr(old, "trivia"):
        item.trivia.comment_ws = old.trivia.comment_ws
        item.trivia.comment = old.trivia.comment
    return item


def _rewrite_entry(entry: Table, row: TestRow, headroom: float) -> bool:
    """Rewrite the exceeded and far-under limits of an exact entry; whether anything changed."""
    measured = totals(row)
    changed = False
    for key in list(entry.keys()):
        if key not in LIMIT_KEYS:
            continue
        quantity, _ = LIMIT_KEYS[key]
        value = measured.get(quantity)
        if value is None:
            continue
        current = parse_value(key, entry[key], "pyproject.toml")
        proposed = round_up(value, headroom)
        if value > current or current > proposed * (1 + SLACK):
            written = toml_limit_value(key, proposed, entry[key])
            if written != entry[key]:
                entry[key] = _keep_trivia(written, entry.item(key))
                changed = True
    return changed


def _new_entry(row: TestRow, headroom: float) -> Table:
    table = tomlkit.table()
    flops = round_up(row.flops, headroom)
    flops_key = flops_limit_key(flops)
    table[flops_key] = toml_limit_value(flops_key, flops)
    table["max_params"] = toml_limit_value("max_params", round_up(row.params, headroom))
    table.add(tomlkit.nl())
    return table


def _tests_table(document: tomlkit.TOMLDocument) -> Table:
    tool = document.get("tool")
    if tool is None:
        tool = document["tool"] = tomlkit.table(is_super_table=True)
    flopbudget = tool.get("flopbudget")
    if flopbudget is None:
        flopbudget = tool["flopbudget"] = tomlkit.table()
    tests = flopbudget.get("tests")
    if tests is None:
        tests = flopbudget["tests"] = tomlkit.table(is_super_table=True)
    return tests


def stale_patterns(config: Config, nodeids: Iterable[str]) -> list[str]:
    """The patterns of the tests entries that no collected node id matches."""
    matched = {id(e) for nodeid in nodeids for e in matching_entries(nodeid, config)}
    return [e.pattern for e in config.tests if id(e) not in matched]


def _write_atomically(path: Path, text: str) -> None:
    mode = path.stat().st_mode if path.exists() else 0o644
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def update_pyproject(
    path: Path,
    config: Config,
    rows: Sequence[TestRow],
    pinned: Mapping[str, str],
    collected: Sequence[str] | None,
) -> UpdateResult:
    """Apply the update to `path` (created if missing); `pinned` maps node ids whose marker sets
    limits to their file:line; `collected` is every collected node id of a full run (None when
    the run was narrowed, so nothing can be called stale)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    document = tomlkit.parse(text)
    tests = _tests_table(document)
    result = UpdateResult(stale=stale_patterns(config, collected) if collected else [])
    for row in sorted(rows, key=lambda r: r.nodeid):
        if row.nodeid in pinned:
            result.pinned.append((row.nodeid, pinned[row.nodeid]))
            continue
        if not row.ran_torch_work:
            continue
        if row.nodeid in tests:
            changed = _rewrite_entry(tests[row.nodeid], row, config.update_headroom)
            (result.updated if changed else result.unchanged).append(row.nodeid)
        elif row.violated_limits or not matching_entries(row.nodeid, config):
            tests[row.nodeid] = _new_entry(row, config.update_headroom)
            result.new.append(row.nodeid)
        else:
            result.unchanged.append(row.nodeid)
    new_text = tomlkit.dumps(document)
    if new_text != text:
        _write_atomically(path, new_text)
    return result
