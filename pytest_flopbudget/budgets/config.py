"""Reading and validating ``[tool.flopbudget]`` from pyproject.toml.

Everything is validated when the file is loaded; every problem is a :class:`ConfigError`
whose message names the file, the table and the key (the plugin makes it a usage error). The
settings::

    [tool.flopbudget]
    count = "all"              # counting convention: "all" or "matmul"
    tolerance = "0%"           # allowed overshoot of a limit before a test fails
    fail_on_increase = "5%"    # growth over the baseline that fails a test; off when absent
    warn_on_increase = "2%"    # growth that warns (status warn:flops), never fails; off if absent
    update_headroom = "10%"    # added to measured values by --flop-budget-update
    strict = false             # fail a budgeted test that ran ops with no cost formula
    max_gflops = 100           # default limits (any budget key) for every budgeted test
    statistic = "mean"         # what a distribution over inputs is checked on (or p50, p95, max)
    hardware = "h100"          # the device of latency estimates; or the table below, not both

    [tool.flopbudget.tests."tests/test_models.py::test_resnet"]
    max_gflops = 8.3
    tolerance = "2%"           # per-entry override of the top-level tolerance
    strict = true              # per-entry override of the top-level strict

    [tool.flopbudget.tests."tests/test_models.py::test_resnet".modules."layer4"]
    max_gflops = 1.5           # a module budget: FLOP, MAC and params keys

    [tool.flopbudget.tests."tests/test_lm.py::test_generate".phases."decode"]
    max_mflops = 5             # a phase budget: FLOP, MAC and bytes-moved keys, and
    statistic = "max"          # "max" (each entry; the default), "mean" or "total"

    [tool.flopbudget.hardware]  # instead of hardware = "NAME" above
    default = "myboard"        # the default device (a built-in or one of these profiles)

    [tool.flopbudget.hardware.myboard]   # a device profile (see engine.hardware)
    peak_tflops = { float32 = 1.2, float16 = 2.4 }
    bandwidth_gbps = 51.2
    launch_us = 4

A ``tests`` entry is a node id or a glob (``*`` and ``?``); it may hold budget keys, a
``tolerance``, ``warn_on_increase``, ``strict`` (``true`` or ``false``), ``modules`` and
``phases`` tables (exact and glob entries alike; there are no top-level module or phase
defaults), ``hardware`` (a device name) and ``statistic``. An empty entry budgets its tests
with the defaults alone. Percentages are strings such as ``"5%"`` or plain numbers of percent
(``5``).

TOML cannot hold both ``hardware = "NAME"`` and ``[tool.flopbudget.hardware.NAME]`` tables in
``[tool.flopbudget]``: the top-level ``hardware`` is either a device name or the table of
profiles, whose ``default`` key then names the default device. A device name is a built-in
profile's or one of the file's, case-insensitive.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_flopbudget.budgets.quantities import LIMIT_KEYS
from pytest_flopbudget.budgets.values import (
    BudgetError,
    Limit,
    parse_limits,
    parse_percent,
    parse_statistic,
    parse_strict,
)
from pytest_flopbudget.engine.conventions import COUNT_CONVENTIONS
from pytest_flopbudget.text import shown, suggest

if TYPE_CHECKING:
    from pytest_flopbudget.budgets.phases import PhaseBudget
    from pytest_flopbudget.engine.hardware import Hardware

__all__ = [
    "ENTRY_KEYS",
    "ENTRY_SETTINGS",
    "SETTINGS",
    "Config",
    "ConfigError",
    "TestEntry",
    "budgeted_by_config",
    "entry_line",
    "find_pyproject",
    "glob_matches",
    "load_config",
    "matching_entries",
    "misspelled_tables",
    "near_flopbudget",
    "unmatched_entries",
]
SETTINGS: tuple[str, ...] = (
    "count",
    "tolerance",
    "fail_on_increase",
    "warn_on_increase",
    "update_headroom",
    "strict",
    "tests",
    "hardware",
    "statistic",
)
_PERCENT_SETTINGS: tuple[str, ...] = (
    "tolerance",
    "fail_on_increase",
    "warn_on_increase",
    "update_headroom",
)
ENTRY_SETTINGS: tuple[str, ...] = (
    "tolerance",
    "strict",
    "modules",
    "hardware",
    "statistic",
    "phases",
    "warn_on_increase",
)
"""The keys of a tests entry (and of the marker) that are not limits."""
ENTRY_KEYS: list[str] = [*LIMIT_KEYS, *ENTRY_SETTINGS]  # the marker's too
_TABLE_KEYS = ("modules", "phases")  # entry keys whose value is a table
_TOP = "[tool.flopbudget]"
_HARDWARE = "[tool.flopbudget.hardware]"


class ConfigError(BudgetError):
    """``[tool.flopbudget]`` is invalid; the message names the file, the table and the key."""


@dataclass(frozen=True)
class TestEntry:
    """One ``[tool.flopbudget.tests."<pattern>"]`` table; ``tolerance``, ``strict`` or
    ``hardware`` (a device name, validated) None means inherited."""

    __test__ = False  # not a pytest test class

    pattern: str
    limits: Mapping[str, Limit]
    is_glob: bool
    tolerance: float | None = None
    strict: bool | None = None
    modules: Mapping[str, Mapping[str, Limit]] = field(default_factory=dict)
    hardware: str | None = None
    statistic: str | None = None
    phases: Mapping[str, PhaseBudget] = field(default_factory=dict)
    warn_on_increase: float | None = None


@dataclass(frozen=True)
class Config:
    """The validated ``[tool.flopbudget]`` table; the defaults when there is none.

    ``hardware``: the file's device profiles by lower-case name (look a name up with
    ``engine.hardware.find_hardware(name, config.hardware)``); ``default_hardware``: the device
    name set at top level (or ``default`` in ``[tool.flopbudget.hardware]``), None when unset.
    """

    path: Path | None = None
    count: str = "all"
    tolerance: float = 0.0
    fail_on_increase: float | None = None
    warn_on_increase: float | None = None
    update_headroom: float = 0.0
    strict: bool = False
    defaults: Mapping[str, Limit] = field(default_factory=dict)
    tests: tuple[TestEntry, ...] = ()
    hardware: Mapping[str, Hardware] = field(default_factory=dict)
    default_hardware: str | None = None
    statistic: str = "mean"


def find_pyproject(rootpath: Path, inipath: Path | None) -> Path | None:
    """pytest's ini file when it is a pyproject.toml, else ``rootpath/pyproject.toml`` if any."""
    if inipath is not None and Path(inipath).name == "pyproject.toml":
        return Path(inipath)
    candidate = Path(rootpath) / "pyproject.toml"
    return candidate if candidate.is_file() else None


def _entry_table(pattern: str) -> str:
    return f'[tool.flopbudget.tests."{pattern}"]'


def _error(path: Path, message: str) -> ConfigError:
    return ConfigError(f"{path}: {message}")


def _unknown_key(path: Path, table: str, key: str, accepted: list[str]) -> ConfigError:
    return _error(
        path,
        f"{table} key {key!r} is not a budget key{suggest(key, accepted)}; "
        f"accepted keys: {', '.join(accepted)}",
    )


def _read_toml(path: Path) -> dict:
    """The file's TOML (tomllib imported here: a project without a pyproject.toml never needs
    it, and pytest imports this module in every run)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # tomllib raises ValueError (not TOMLDecodeError) for an int over 4300 digits and
        # RecursionError for arrays nested thousands deep: bad input all the same
        raise _error(path, f"invalid TOML: {exc}") from None


def _limits(path: Path, table: str, values: Mapping[str, object]) -> dict[str, Limit]:
    try:
        limits = parse_limits(values, table)
    except BudgetError as exc:
        raise _error(path, str(exc)) from None
    source = f"{path.name} {table}"
    return {q: replace(limit, source=source) for q, limit in limits.items()}


def _percent(path: Path, table: str, key: str, value: object) -> float:
    try:
        return parse_percent(value, key, table)
    except BudgetError as exc:
        raise _error(path, str(exc)) from None


def _strict(path: Path, table: str, value: object) -> bool:
    try:
        return parse_strict(value, "strict", table)
    except BudgetError as exc:
        raise _error(path, str(exc)) from None


def _count(path: Path, value: object) -> str:
    if value not in COUNT_CONVENTIONS:
        hint = suggest(value, list(COUNT_CONVENTIONS)) if isinstance(value, str) else ""
        raise _error(
            path,
            f"{_TOP} key 'count' must be one of 'all', 'matmul', got {shown(value)}{hint}",
        )
    return value


def _entry(
    path: Path, pattern: object, table: object, devices: Mapping[str, Hardware]
) -> TestEntry:
    if not isinstance(pattern, str) or not pattern.strip():
        raise _error(path, f"[tool.flopbudget.tests] has an empty test pattern {pattern!r}")
    name = _entry_table(pattern)
    if not isinstance(table, dict):
        raise _error(
            path,
            f"[tool.flopbudget.tests] key {pattern!r} must be a table {name}, got {shown(table)}",
        )
    for key, value in table.items():
        if isinstance(value, dict) and key not in _TABLE_KEYS:
            raise _error(
                path,
                f"{name} key {key!r} is a table, not a budget value; quote the whole node id "
                f'as one key, e.g. [tool.flopbudget.tests."tests/test_x.py::test_a"]',
            )
        if key not in ENTRY_KEYS:
            raise _unknown_key(path, name, key, ENTRY_KEYS)
    tolerance = None
    if "tolerance" in table:
        tolerance = _percent(path, name, "tolerance", table["tolerance"])
    strict = _strict(path, name, table["strict"]) if "strict" in table else None
    limits = _limits(path, name, {k: v for k, v in table.items() if k in LIMIT_KEYS})
    is_glob = "*" in pattern or "?" in pattern
    modules = _modules(path, name, table["modules"]) if "modules" in table else {}
    hardware = None
    if "hardware" in table:
        hardware = _device_name(path, name, "hardware", table["hardware"], devices)
    statistic = _statistic(path, name, table["statistic"]) if "statistic" in table else None
    phases = _phases(path, name, table["phases"]) if "phases" in table else {}
    warn_on_increase = None
    if "warn_on_increase" in table:
        warn_on_increase = _percent(path, name, "warn_on_increase", table["warn_on_increase"])
    return TestEntry(
        pattern=pattern,
        limits=limits,
        is_glob=is_glob,
        tolerance=tolerance,
        strict=strict,
        modules=modules,
        hardware=hardware,
        statistic=statistic,
        phases=phases,
        warn_on_increase=warn_on_increase,
    )


def _statistic(path: Path, table: str, value: object) -> str:
    try:
        return parse_statistic(value, "statistic", table)
    except BudgetError as exc:
        raise _error(path, str(exc)) from None


def _phases(path: Path, table: str, value: object) -> dict[str, PhaseBudget]:
    """The ``phases`` tables of a tests entry; a bad one names the file, table and key."""
    from pytest_flopbudget.budgets.phases import parse_phase_budgets  # only when there are some

    try:
        budgets = parse_phase_budgets(value, table)
    except BudgetError as exc:
        raise _error(path, str(exc)) from None
    return {
        name: replace(
            budget,
            limits={
                q: replace(limit, source=f"{path.name} {limit.source}")
                for q, limit in budget.limits.items()
            },
        )
        for name, budget in budgets.items()
    }


def _modules(path: Path, table: str, value: object) -> dict[str, dict[str, Limit]]:
    """The ``modules`` tables of a tests entry; a bad one names the file, table and key."""
    from pytest_flopbudget.budgets.modules import parse_module_budgets  # only when there are some

    try:
        budgets = parse_module_budgets(value, table)
    except BudgetError as exc:
        raise _error(path, str(exc)) from None
    return {
        name: {
            q: replace(limit, source=f"{path.name} {limit.source}") for q, limit in limits.items()
        }
        for name, limits in budgets.items()
    }


def _tests(path: Path, tests: object, devices: Mapping[str, Hardware]) -> tuple[TestEntry, ...]:
    if not isinstance(tests, dict):
        raise _error(
            path,
            f"{_TOP} key 'tests' must be a table of tables such as "
            f'[tool.flopbudget.tests."tests/test_x.py::test_a"], got {shown(tests)}',
        )
    return tuple(_entry(path, pattern, table, devices) for pattern, table in tests.items())


def _device_name(
    path: Path, table: str, key: str, value: object, devices: Mapping[str, Hardware]
) -> str:
    """A ``hardware = "NAME"`` setting: the name of a built-in profile or of one of the file's."""
    from pytest_flopbudget.engine.hardware import HardwareError, find_hardware  # when used

    if not isinstance(value, str):
        raise _error(
            path, f'{table} key {key!r} must be a device name such as "h100", got {shown(value)}'
        )
    try:
        find_hardware(value, devices)
    except HardwareError as exc:
        raise _error(path, f"{table} key {key!r}: {exc}") from None
    return value


def _profiles(path: Path, section: dict) -> tuple[dict[str, Hardware], str | None]:
    """The top-level ``hardware``: a device name (the default device), or the table of device
    profiles ``[tool.flopbudget.hardware.NAME]`` whose ``default`` key may name the default
    device. Returns the profiles by lower-case name and the default device's name, unchecked."""
    value = section.get("hardware")
    if value is None or isinstance(value, str):
        return {}, value
    if not isinstance(value, dict):
        raise _error(
            path,
            f"{_TOP} key 'hardware' must be a device name such as \"h100\" or the table of "
            f"device profiles [tool.flopbudget.hardware.NAME], got {shown(value)}",
        )
    # the built-in profiles only when the file has its own: pytest reads this file in every run
    from pytest_flopbudget.engine.hardware import HardwareError, hardware_table, parse_hardware

    profiles: dict[str, Hardware] = {}
    for name, table in value.items():
        if name == "default" and not isinstance(table, dict):
            continue
        source = hardware_table(name)
        if not isinstance(table, dict):
            raise _error(
                path,
                f"{_HARDWARE} key {name!r} must be a table {source} with peak_tflops and "
                f'bandwidth_gbps (or default = "NAME"), got {shown(table)}',
            )
        try:
            profile = parse_hardware(name, table, source)
        except HardwareError as exc:
            raise _error(path, str(exc)) from None
        if name.lower() in profiles:
            twin = profiles[name.lower()].name
            raise _error(
                path,
                f"{hardware_table(twin)} and {source} name the same device "
                f"(device names are case-insensitive)",
            )
        profiles[name.lower()] = profile
    return profiles, value.get("default")


def _section(path: Path, data: dict) -> dict | None:
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise _error(path, f"[tool] must be a table, got {shown(tool)}")
    section = tool.get("flopbudget")
    if section is not None and not isinstance(section, dict):
        raise _error(path, f"{_TOP} must be a table, got {shown(section)}")
    return section


def load_config(path: Path | None) -> Config:
    """The validated ``[tool.flopbudget]`` of ``path``; the defaults when there is none."""
    if path is None or not Path(path).is_file():
        return Config()
    path = Path(path)
    section = _section(path, _read_toml(path))
    if section is None:
        return Config(path=path)
    accepted = [*SETTINGS, *LIMIT_KEYS]
    for key in section:
        if key in _TABLE_KEYS:  # module and phase names belong to one test: no defaults
            kind = key[:-1]
            raise _error(
                path,
                f"{_TOP} key {key!r}: {kind} budgets go in a tests entry, "
                f'[tool.flopbudget.tests."<node id>".{key}."<{kind}>"]',
            )
        if key not in accepted:
            raise _unknown_key(path, _TOP, key, accepted)
    percents = {k: _percent(path, _TOP, k, section[k]) for k in _PERCENT_SETTINGS if k in section}
    devices, default = _profiles(path, section)
    if default is not None:
        where = (
            (_TOP, "hardware") if isinstance(section["hardware"], str) else (_HARDWARE, "default")
        )
        default = _device_name(path, *where, default, devices)
    return Config(
        path=path,
        count=_count(path, section.get("count", "all")),
        tolerance=percents.get("tolerance", 0.0),
        fail_on_increase=percents.get("fail_on_increase"),
        warn_on_increase=percents.get("warn_on_increase"),
        update_headroom=percents.get("update_headroom", 0.0),
        strict=_strict(path, _TOP, section.get("strict", False)),
        defaults=_limits(path, _TOP, {k: v for k, v in section.items() if k in LIMIT_KEYS}),
        tests=_tests(path, section.get("tests", {}), devices),
        hardware=devices,
        default_hardware=default,
        statistic=_statistic(path, _TOP, section.get("statistic", "mean")),
    )


def glob_matches(node_id: str, pattern: str) -> bool:
    """Whether `node_id` matches `pattern`, whose ``*`` and ``?`` alone are wildcards."""
    parts = ("." if ch == "?" else ".*" if ch == "*" else re.escape(ch) for ch in pattern)
    return re.fullmatch("".join(parts), node_id, flags=re.DOTALL) is not None


def matching_entries(node_id: str, config: Config) -> list[TestEntry]:
    """The ``tests`` entries that apply to ``node_id``, the strongest first: the exact entry,
    then the globs, the longest pattern first (equal lengths in file order)."""
    exact = [e for e in config.tests if e.pattern == node_id]
    globs = [
        e
        for e in config.tests
        if e.is_glob and e.pattern != node_id and glob_matches(node_id, e.pattern)
    ]
    return exact + sorted(globs, key=lambda e: -len(e.pattern))


def budgeted_by_config(node_id: str, config: Config) -> bool:
    """True when a ``tests`` entry names or matches ``node_id``; defaults alone budget nothing."""
    return bool(matching_entries(node_id, config))


# ---- hygiene: what the plugin warns about (a full run's unmatched entries, near-miss tables) ----

_TABLE = "flopbudget"


def unmatched_entries(config: Config, nodeids: Iterable[str]) -> list[TestEntry]:
    """The ``tests`` entries (exact or glob) that none of ``nodeids`` matches, in file order."""
    matched = {id(e) for nodeid in nodeids for e in matching_entries(nodeid, config)}
    return [e for e in config.tests if id(e) not in matched]


def entry_line(path: Path, pattern: str) -> int:
    """The 1-based line of ``path`` where the ``tests`` entry ``pattern`` is written (its key, in
    double or single quotes, or bare), for a warning's location; 1 when it cannot be found."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return 1
    written = (f'"{pattern}"', f"'{pattern}'", f"tests.{pattern}")
    for number, line in enumerate(lines, start=1):
        if any(form in line for form in written):
            return number
    return 1


def near_flopbudget(name: str) -> bool:
    """Whether a ``[tool.<name>]`` table looks like a misspelled ``[tool.flopbudget]``: the same
    letters once case, ``-``, ``_`` and ``.`` are dropped (``flop-budget``, ``FlopBudget``), or
    close by difflib (``flopbudgets``, ``flopbuget``)."""
    if name == _TABLE:
        return False
    normalized = "".join(ch for ch in name.lower() if ch not in "-_. ")
    import difflib  # only for a warning

    return normalized == _TABLE or difflib.SequenceMatcher(None, normalized, _TABLE).ratio() >= 0.8


def misspelled_tables(path: Path | None) -> list[str]:
    """The ``[tool.*]`` tables of ``path`` whose name is close to ``flopbudget`` (not it)."""
    if path is None or not Path(path).is_file():
        return []
    tool = _read_toml(Path(path)).get("tool", {})
    if not isinstance(tool, dict):
        return []
    return [
        name for name, table in tool.items() if isinstance(table, dict) and near_flopbudget(name)
    ]
