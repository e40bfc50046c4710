"""Property tests over configuration tables and marker arguments: every input loads (within
the documented bounds) or is a usage error; never another exception.

Deterministic (``derandomize=True``) and small (200 examples each), so CI sees the same inputs
on every run.
"""

from __future__ import annotations

import math

import numpy as np
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_flopbudget.budgets.check import check
from pytest_flopbudget.budgets.config import SETTINGS, Config, load_config
from pytest_flopbudget.budgets.quantities import LIMIT_KEYS
from pytest_flopbudget.budgets.resolve import resolve, validate_marker
from pytest_flopbudget.budgets.values import MAX_LIMIT, MAX_PERCENT, BudgetError
from pytest_flopbudget.text import human

PROPERTY = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NODE = "tests/test_x.py::test_a[1]"

# --- values a user might write (or mistype) ------------------------------------------------------

TRICKY_TEXT = st.sampled_from(
    [
        "5%",
        "0%",
        "10000%",
        "10000.1%",
        "1" + "0" * 300 + "%",
        "1" + "0" * 300,
        "1e400",
        "1e30",
        "1e-400",
        "1e99999999999999999",
        "25.6M",
        "2G",
        "1.5GiB",
        "25MB",
        "１２",
        "５%",
        "١٢",
        "12\u00a0",
        "nan",
        "NaN%",
        "inf",
        "-Infinity",
        "1_000",
        "",
        " ",
        "all",
        "matmul",
        "true",
        "tests/test_x.py::*",
    ]
)
HUGE_INTS = st.sampled_from([10**400, -(10**400), MAX_LIMIT, MAX_LIMIT + 1, 2**63, 10**4000])
ODD_FLOATS = st.sampled_from([math.nan, math.inf, -math.inf, 1e300, 1e-300, 0.0, -1.0, 8.3])
TRICKY = st.one_of(TRICKY_TEXT, HUGE_INTS, ODD_FLOATS)
SCALARS = st.one_of(
    TRICKY_TEXT,
    st.text(max_size=12),
    st.integers(),
    HUGE_INTS,
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
TOML_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
# mostly the values and keys that matter, now and then anything (one_of picks a branch evenly)
VALUES = st.one_of(TRICKY, TRICKY, TRICKY, SCALARS, TOML_VALUES)
KNOWN_KEYS = st.sampled_from([*SETTINGS, *LIMIT_KEYS])
KEYS = st.one_of(
    KNOWN_KEYS,
    KNOWN_KEYS,
    KNOWN_KEYS,
    st.sampled_from(["max_gflop", "Tolerance", "max_flops "]),
    st.text(max_size=10),
)
ENTRY_KEYS = st.one_of(
    st.sampled_from([*LIMIT_KEYS, "tolerance", "strict"]),
    st.sampled_from([*LIMIT_KEYS, "tolerance", "strict"]),
    st.text(max_size=10),
)
ENTRIES = st.dictionaries(
    st.one_of(st.sampled_from([NODE, "tests/*", "tests/test_x.py::test_?[*]", ""]), st.text()),
    st.one_of(st.dictionaries(ENTRY_KEYS, VALUES, max_size=4), TOML_VALUES),
    max_size=3,
)
SECTIONS = st.dictionaries(KEYS, VALUES, max_size=5).flatmap(
    lambda section: st.one_of(
        st.just(section), ENTRIES.map(lambda tests: {**section, "tests": tests})
    )
)

# --- the invariants of whatever loads -----------------------------------------------------------


def assert_sane(config: Config) -> None:
    """Every loaded number is within its documented bounds, and every use of it works."""
    fractions = [config.tolerance, config.update_headroom, config.fail_on_increase]
    fractions += [entry.tolerance for entry in config.tests]
    for fraction in fractions:
        assert fraction is None or (math.isfinite(fraction) and 0 <= fraction <= MAX_PERCENT / 100)
    limit_sets = [config.defaults, *(entry.limits for entry in config.tests)]
    for limits in limit_sets:
        for limit in limits.values():
            assert 1 <= limit.value <= MAX_LIMIT
            human(limit.value, "FLOPs")
    try:
        budget = resolve(None, NODE, config)
    except BudgetError as error:  # a latency limit, and no device named for the estimate
        assert "needs a device to estimate on" in str(error)
        budget = resolve(None, NODE, config, hardware="h100")  # --flop-hardware=h100
    check({q: MAX_LIMIT for q in budget.limits}, budget)


def dumped(section: dict) -> str | None:
    """The TOML text of ``{"tool": {"flopbudget": section}}``; None when TOML cannot hold it."""
    try:
        return tomlkit.dumps({"tool": {"flopbudget": section}})
    except (ValueError, TypeError):  # e.g. tomlkit cannot write a 4000-digit int
        return None


@PROPERTY
@given(section=SECTIONS)
def test_any_flopbudget_table_loads_or_is_a_usage_error(tmp_path, section):
    text = dumped(section)
    if text is None:
        return
    path = tmp_path / "pyproject.toml"
    path.write_text(text, encoding="utf-8")
    try:
        config = load_config(path)
    except BudgetError as error:
        assert str(error).startswith(f"{path}: ")
        return
    assert_sane(config)


TOML_LINES = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "[tool.flopbudget]",
                '[tool.flopbudget.tests."tests/t.py::test_a"]',
                "[tool]",
                "flopbudget = 1",
                "tool.flopbudget.max_gflops = 1",
                "[[tool.flopbudget]]",
            ]
        ),
        st.tuples(
            KEYS,
            st.sampled_from(
                [
                    "1",
                    "1" + "0" * 5000,
                    "1e400",
                    "-1e400",
                    "nan",
                    "inf",
                    "1_000",
                    "0x10",
                    '"５%"',
                    '"１２"',
                    "true",
                    "[1, [2]]",
                    "{ a = 1 }",
                    "[" * 3000 + "]" * 3000,
                    "'unterminated",
                    "1979-05-27",
                ]
            ),
        ).map(lambda pair: f"{tomlkit.string(pair[0]).as_string()} = {pair[1]}"),
    ),
    max_size=6,
)


@PROPERTY
@given(lines=TOML_LINES)
def test_any_pyproject_text_loads_or_is_a_usage_error(tmp_path, lines):
    path = tmp_path / "pyproject.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        config = load_config(path)
    except BudgetError as error:
        assert str(error).startswith(f"{path}: ")
        return
    assert_sane(config)


# --- marker arguments ---------------------------------------------------------------------------

NUMPY_SCALARS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(np.float64),
    st.floats(width=32, allow_nan=True, allow_infinity=True).map(np.float32),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(np.int64),
    st.integers(min_value=0, max_value=255).map(np.uint8),
    st.booleans().map(np.bool_),
    st.lists(st.floats(allow_nan=False), max_size=2).map(np.array),
)
MARKER_VALUES = st.one_of(
    TRICKY, TRICKY, NUMPY_SCALARS, NUMPY_SCALARS, SCALARS, TOML_VALUES, st.none(), st.just(object())
)
MARKER_KWARGS = st.dictionaries(
    st.one_of(st.sampled_from([*LIMIT_KEYS, "tolerance", "strict"]), st.text(max_size=10)),
    MARKER_VALUES,
    max_size=4,
)


@PROPERTY
@given(kwargs=MARKER_KWARGS, args=st.lists(SCALARS, max_size=1).map(tuple))
def test_any_marker_arguments_validate_or_are_a_usage_error(kwargs, args):
    try:
        limits = validate_marker(kwargs, args, NODE)
    except BudgetError as error:
        assert NODE in str(error)
        return
    for limit in limits.values():
        assert 1 <= limit.value <= MAX_LIMIT
    budget = resolve(kwargs, NODE, Config())
    assert 0 <= budget.tolerance <= MAX_PERCENT / 100
    assert isinstance(budget.strict, bool)
    check({q: MAX_LIMIT for q in budget.limits}, budget)
