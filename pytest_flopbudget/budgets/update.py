"""`--flop-budget-update`: write measured values into pyproject.toml as budgets.

Written once, at the end of the session, on the xdist controller: tomlkit keeps every comment,
the ordering and the formatting outside the rewritten values. The file is read, edited and
replaced under an exclusive lock (`flock` on `.pyproject.toml.flopbudget.lock` beside it, removed
afterwards), so two updating runs at once both land; the new text goes to
`.pyproject.toml.flopbudget.tmp` (fsynced, given the file's mode bits) and then replaces the file
with os.replace, so the file is always the old or the new text. A symlink's target is rewritten
and the link stays a link; a read-only file is refused; the line ending (that of the first line)
and the newlines at the end are kept; nothing is written when nothing changed, so a second run is
byte-identical. An inline `[tool.flopbudget]` or `tests` table that must receive a new entry is
rewritten as a table; a rewrite that would change anything outside the test entries is refused.

What is written, per measured test:
- a test with no entry at all gets an exact `[tool.flopbudget.tests."<node id>"]` entry with its
  FLOPs and params (a test covered by a glob entry gets one only when the glob is off);
- in an exact entry, a limit that is exceeded, or has more than `SLACK` room beyond the new
  value, is rewritten; its key (and so its unit) is kept; the same for the entry's phase
  budgets (``phases."decode"``), each on its statistic's value; a test that recorded a
  distribution is written its `statistic`'s value (its totals);
- a test whose limits are set by its marker is left alone and listed as pinned;
- new values are the measured ones plus `update_headroom`, rounded up to three significant
  figures, so a second run right after has nothing to update.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import InlineTable, Table

from pytest_flopbudget.budgets.config import (
    Config,
    ConfigError,
    load_config,
    matching_entries,
    unmatched_entries,
)
from pytest_flopbudget.budgets.quantities import LIMIT_KEYS, by_name, keys_by_scale
from pytest_flopbudget.budgets.values import parse_value
from pytest_flopbudget.budgets.verdict import TestRow
from pytest_flopbudget.text import human

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

try:
    import fcntl
except ImportError:  # Windows: updates are not locked
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LOCK_SUFFIX",
    "SLACK",
    "TEMP_SUFFIX",
    "UpdateError",
    "UpdateResult",
    "flops_limit_key",
    "lock_path",
    "round_up",
    "temp_path",
    "toml_limit_value",
    "update_pyproject",
]

# An existing limit more than this far above the value we would write is tightened.
SLACK = Fraction(1, 5)
LOCK_SUFFIX = ".flopbudget.lock"
TEMP_SUFFIX = ".flopbudget.tmp"
LOCK_TIMEOUT_S = 60.0
_TOP = "[tool.flopbudget]"
_TESTS = "[tool.flopbudget.tests]"


class UpdateError(Exception):
    """Why nothing was written: one line that names the file."""


@dataclass(frozen=True)
class UpdateResult:
    updated: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    pinned: list[tuple[str, str]] = field(default_factory=list)  # (node id, file:line)
    stale: list[str] = field(default_factory=list)
    converted: list[str] = field(default_factory=list)  # inline tables rewritten as tables

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
        lines += [f"  rewrote {name}, an inline table, as a table" for name in self.converted]
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
    if isinstance(previous, int) or limit < 1000 or by_name[quantity].unit == "B":
        return limit
    return human(limit)


def flops_limit_key(flops: int) -> str:
    """The FLOP key whose unit `flops` reaches (``max_gflops`` from 10**9 on)."""
    return next(key for scale, key in keys_by_scale("flops") if flops >= scale or scale == 1)


def _keep_trivia(new: object, old: object) -> object:
    item = tomlkit.item(new)
    if old is not None and hasattr(old, "trivia"):
        item.trivia.comment_ws = old.trivia.comment_ws
        item.trivia.comment = old.trivia.comment
    return item


def _rewrite_limits(table: Table, measured: Mapping[str, int | None], headroom: float) -> bool:
    """Rewrite the exceeded and far-under limits of `table` from `measured`; whether anything
    changed."""
    changed = False
    for key in list(table.keys()):
        if key not in LIMIT_KEYS:
            continue
        quantity, _ = LIMIT_KEYS[key]
        value = measured.get(quantity)
        if value is None:
            continue
        current = parse_value(key, table[key], "pyproject.toml")
        proposed = round_up(value, headroom)
        if value > current or current > proposed * (1 + SLACK):
            written = toml_limit_value(key, proposed, table[key])
            if written != table[key]:
                table[key] = _keep_trivia(written, table.item(key))
                changed = True
    return changed


def _rewrite_entry(entry: Table, row: TestRow, headroom: float) -> bool:
    """Rewrite the exceeded and far-under limits of an exact entry, and of its phase budgets
    (each on its statistic's value); whether anything changed."""
    changed = _rewrite_limits(entry, row.totals, headroom)
    phases = entry.get("phases")
    for name, budget in phases.items() if isinstance(phases, Mapping) else ():
        measured = row.phase_budgets.get(name, {}).get("measured")
        if measured and isinstance(budget, Mapping):
            changed = _rewrite_limits(budget, measured, headroom) or changed
    return changed


def _new_entry(row: TestRow, headroom: float) -> Table:
    table = tomlkit.table()
    flops = round_up(row.flops, headroom)
    flops_key = flops_limit_key(flops)
    table[flops_key] = toml_limit_value(flops_key, flops)
    table["max_params"] = toml_limit_value("max_params", round_up(row.params, headroom))
    table.add(tomlkit.nl())
    return table


def lock_path(target: Path) -> Path:
    """The lock file beside `target`; removed when the update is done."""
    return target.with_name(f".{target.name}{LOCK_SUFFIX}")


def temp_path(target: Path) -> Path:
    """The one temporary file of an update, beside `target`, written under the lock."""
    return target.with_name(f".{target.name}{TEMP_SUFFIX}")


@contextlib.contextmanager
def _locked(target: Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold an exclusive `flock` on the lock file beside `target`.

    The lock file is removed on the way out, so a waiter may wake up holding the lock of a
    removed file: it checks that the path still names the file it locked, and tries again if
    not. Without fcntl (Windows) there is no lock."""
    if fcntl is None:
        yield
        return
    lock = lock_path(target)
    deadline = time.monotonic() + timeout_s
    while True:
        descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise UpdateError(
                            f"{target} not updated: another run held {lock} for {timeout_s:g} s"
                        ) from None
                    time.sleep(0.01)
            try:
                current = os.path.samestat(os.fstat(descriptor), os.stat(lock))
            except FileNotFoundError:
                current = False
        except BaseException:
            os.close(descriptor)
            raise
        if current:
            break
        os.close(descriptor)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)  # before the unlock: a waiter on this file sees it gone
        os.close(descriptor)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _write_replacing(target: Path, data: bytes) -> None:
    """Write `data` to the temporary file, then replace `target` with it (same mode bits).
    The temporary file is gone on every way out but SIGKILL; the next update removes that one."""
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o644
    temporary = temp_path(target)
    _remove(temporary)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        descriptor = os.open(temporary, flags, 0o600)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    finally:
        _remove(temporary)


def _line_ending(text: str) -> str:
    """The file's line ending: that of its first line."""
    first = text.find("\n")
    return "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"


def _as_written(rendered: str, original: str) -> str:
    """tomlkit's text with the original's line ending and number of newlines at the end."""
    text = rendered.replace("\r\n", "\n")
    kept = original.replace("\r\n", "\n")
    ending = len(kept) - len(kept.rstrip("\n")) if kept.strip() else 1
    text = text.rstrip("\n") + "\n" * ending
    return text.replace("\n", "\r\n") if _line_ending(original) == "\r\n" else text


def _without_tests(data: dict) -> dict:
    """`data` without the entries of `[tool.flopbudget.tests]`: what an update must not touch."""
    flopbudget = data.get("tool", {}).get("flopbudget", {})
    return {
        **data,
        "tool": {**data.get("tool", {}), "flopbudget": {**flopbudget, "tests": None}},
    }


def _reads_back(before: str, after: str, expected: dict) -> bool:
    """Whether `after` is valid TOML holding `expected`, the same as `before` outside the test
    entries and with every entry of `before`."""
    try:
        old, new = tomllib.loads(before), tomllib.loads(after)
    except tomllib.TOMLDecodeError:
        return False
    old_tests = old.get("tool", {}).get("flopbudget", {}).get("tests", {})
    new_tests = new.get("tool", {}).get("flopbudget", {}).get("tests", {})
    return (
        new == expected
        and _without_tests(old) == _without_tests(new)
        and set(old_tests) <= set(new_tests)
    )


def _appended(rendered: str, added: Mapping[str, Table]) -> str:
    """`rendered` with the new entries as tables at the end of the file."""
    tables = [
        f"[tool.flopbudget.tests.{tomlkit.key(nodeid).as_string()}]\n{table.as_string()}"
        for nodeid, table in added.items()
    ]
    return rendered.rstrip("\n") + "\n\n" + "".join(tables)


def _as_table(inline: InlineTable) -> Table:
    table = tomlkit.table()
    for key, value in inline.value.body:
        if key is not None:
            table.append(key, value)
    table.add(tomlkit.nl())
    return table


def _find_tests(document: tomlkit.TOMLDocument) -> Mapping[str, object]:
    """`[tool.flopbudget.tests]` as it is (empty when absent); nothing is created."""
    tests: object = document
    for key in ("tool", "flopbudget", "tests"):
        tests = tests.get(key) if isinstance(tests, Mapping) else None
    return tests if isinstance(tests, Mapping) else {}


def _tests_table(document: tomlkit.TOMLDocument, converted: list[str]) -> Table:
    """`[tool.flopbudget.tests]`, created where missing; an inline table on the way is
    rewritten as a table (and listed in `converted`) so that entries can be added."""
    parent: Any = document
    for key, name in (("tool", "[tool]"), ("flopbudget", _TOP), ("tests", _TESTS)):
        value = parent.get(key)
        if value is None:
            value = parent[key] = tomlkit.table(is_super_table=True)
        elif isinstance(value, InlineTable):
            value = parent[key] = _as_table(value)
            converted.append(name)
        parent = value
    return parent


def _refuse_read_only(path: Path, target: Path) -> None:
    if not target.exists():
        return
    mode = target.stat().st_mode
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(target, os.W_OK):
        raise UpdateError(f"{path} not updated: the file is read-only (no write permission)")


def update_pyproject(
    path: Path,
    config: Config,
    rows: Sequence[TestRow],
    pinned: Mapping[str, str],
    collected: Sequence[str] | None,
) -> UpdateResult:
    """Apply the update to `path` (created if missing); `pinned` maps node ids whose marker sets
    limits to their file:line; `collected` is every collected node id of a full run (None when
    the run was narrowed, so nothing can be called stale).

    The file is read, edited and replaced under a lock, so a run updating at the same time
    applies its changes on top of this one's. The entries are matched against the file as it
    is then (`config`, read at start-up, serves when there is no file). A symlink's target is
    rewritten; nothing is written when nothing changed. Every reason for writing nothing is an
    `UpdateError` with a one-line message naming the file."""
    try:
        target = path.resolve()  # a symlink's target; the link stays a link
        _refuse_read_only(path, target)
        with _locked(target):
            return _update_locked(path, target, config, rows, pinned, collected)
    except (OSError, RuntimeError) as error:  # RuntimeError: a loop of symlinks (Python < 3.13)
        raise UpdateError(f"{path} not updated: {error}") from None


def _update_locked(
    path: Path,
    target: Path,
    config: Config,
    rows: Sequence[TestRow],
    pinned: Mapping[str, str],
    collected: Sequence[str] | None,
) -> UpdateResult:
    _remove(temp_path(target))  # left by a run killed while writing
    try:
        text = target.read_bytes().decode("utf-8") if target.exists() else ""
        # edited as if it ended with a newline (a new entry then follows a blank line); the
        # text written ends as the original did (see _as_written)
        document = tomlkit.parse(text if text.endswith("\n") or not text else text + "\n")
        current = load_config(target) if target.exists() else config
    except (UnicodeDecodeError, TOMLKitError) as error:
        raise UpdateError(f"{path} not updated: it is not valid TOML ({error})") from None
    except ConfigError as error:
        raise UpdateError(f"not updated: {error}") from None
    tests = _find_tests(document)
    stale = unmatched_entries(current, collected) if collected else []
    result = UpdateResult(stale=[entry.pattern for entry in stale])
    added: dict[str, Table] = {}
    for row in sorted(rows, key=lambda r: r.nodeid):
        if row.nodeid in pinned:
            result.pinned.append((row.nodeid, pinned[row.nodeid]))
            continue
        if not row.ran_torch_work:
            continue
        if row.nodeid in tests:
            changed = _rewrite_entry(tests[row.nodeid], row, current.update_headroom)
            (result.updated if changed else result.unchanged).append(row.nodeid)
        elif row.violated_limits or not matching_entries(row.nodeid, current):
            added[row.nodeid] = _new_entry(row, current.update_headroom)
            result.new.append(row.nodeid)
        else:
            result.unchanged.append(row.nodeid)
    if not (result.updated or result.new):
        return result  # the file is left exactly as it is
    # tomlkit puts a new entry beside the others, but misplaces some under dotted keys; then the
    # entries go at the end of the file. Either text must read back as the edited document.
    rewrites_only = tomlkit.dumps(document)
    candidates = [rewrites_only]
    if added:
        table = _tests_table(document, result.converted)
        for nodeid, entry in added.items():
            table[nodeid] = entry
        candidates = [tomlkit.dumps(document), _appended(rewrites_only, added)]
    expected = document.unwrap()
    for rendered in candidates:
        new_text = _as_written(rendered, text)
        if _reads_back(text, new_text, expected):
            if rendered is not candidates[0]:
                result.converted.clear()  # nothing was converted in this text
            _write_replacing(target, new_text.encode("utf-8"))
            return result
    raise UpdateError(
        f"{path} not updated: its [tool.flopbudget] could not be rewritten without changing "
        'other content; write it as [tool.flopbudget] and [tool.flopbudget.tests."<node id>"] '
        "tables"
    )
