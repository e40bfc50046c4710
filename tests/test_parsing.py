"""Bad input: one parser per kind of value, bounded and ASCII, numpy scalars as numbers, and
every other value a usage error naming the key and the source; the last-run cache pruned.

Each example of issue 13 is here: a percentage with hundreds of digits, ``max_flops="1e400"``,
``np.float64(1.0)``, ``np.int64(1)``, ``"１２"`` and ``"５%"``.
"""

from __future__ import annotations

import json
import re
import textwrap
from fractions import Fraction

import numpy as np
import pytest
import torch  # noqa: F401  (imported once: pytester's in-process runs drop what a run imported)

import pytest_flopbudget.engine.counter  # noqa: F401
from pytest_flopbudget.budgets.config import load_config
from pytest_flopbudget.budgets.resolve import validate_marker
from pytest_flopbudget.budgets.values import (
    MAX_LIMIT,
    MAX_PERCENT,
    MAX_TEXT,
    BudgetError,
    parse_depth,
    parse_percent,
    parse_value,
)
from pytest_flopbudget.budgets.values import MAX_REPORT_DEPTH as MAX_DEPTH
from pytest_flopbudget.reporting.lastrun import (
    KEEP_RUNS,
    LAST_RUN_KEY,
    SEEN_KEY,
    read_last_run,
    read_seen,
    remember,
)
from pytest_flopbudget.text import human, shown

from .pytester_support import isolate_inner_runs, linear_flops, linear_params, usage_error

SRC = "marker on tests/t.py::test_a"
HUNDREDS_OF_DIGITS = "1" + "0" * 300  # 10**300
TOTALS = {"flops": 840, "macs": 400, "params": 110}


def error_of(call, *args) -> str:
    with pytest.raises(BudgetError) as info:
        call(*args)
    return str(info.value)


# --- limits ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("max_gflops", np.float64(1.0), 10**9),
        ("max_gflops", np.float64(8.3), 83 * 10**8),  # the decimal it prints as, exactly
        ("max_flops", np.int64(1), 1),
        ("max_params", np.int32(25), 25),
        ("max_params", np.uint8(200), 200),
        ("max_kflops", np.float32(0.5), 500),  # 0.5 is exact in float32
        ("max_flops", Fraction(7, 2), 4),  # rounded up
        ("max_flops", MAX_LIMIT, 10**30),
        ("max_tflops", 10**18, 10**30),
        ("max_flops", "1e30", 10**30),
        ("max_flops", 1e-300, 1),  # positive: one FLOP after rounding up
        ("max_param_bytes", "1.5GiB", 3 * 2**29),
        ("max_param_bytes", np.int64(1024), 1024),
        ("max_flops", "\t2G\n", 2 * 10**9),  # ASCII whitespace around a value is fine
    ],
)
def test_numbers_and_numpy_scalars_are_limits(key, value, expected):
    assert parse_value(key, value, SRC) == expected


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("max_flops", "1e400", "too large (a limit is at most 1e30 in base units)"),
        ("max_flops", 10**400, "too large (a limit is at most 1e30 in base units)"),
        ("max_flops", MAX_LIMIT + 1, "too large"),
        ("max_tflops", 10**18 + 1, "too large"),
        ("max_flops", "1e99999999999999", "the exponent must be within ±400"),
        ("max_flops", "1e-401", "the exponent must be within ±400"),
        ("max_flops", "1" * (MAX_TEXT + 1), f"too long (at most {MAX_TEXT} characters)"),
        ("max_flops", "１２", "non-ASCII character '１'; write numbers with the digits 0-9"),
        ("max_flops", "١٢", "non-ASCII character '١'"),  # Arabic-Indic digits
        ("max_flops", "12\u00a0", "non-ASCII character '\\xa0'"),  # a no-break space
        ("max_flops", "2Ｇ", "non-ASCII character 'Ｇ'"),
        ("max_flops", "nan", "not a number with an optional unit suffix"),
        ("max_flops", "inf", "not a number with an optional unit suffix"),
        ("max_flops", "-Infinity", "not a number with an optional unit suffix"),
        ("max_flops", "1_000", "not a number with an optional unit suffix"),
        ("max_gflops", np.float64("nan"), "must be a finite number"),
        ("max_gflops", np.float64("inf"), "must be a finite number"),
        ("max_gflops", np.float64(-1.0), "must be positive"),
        ("max_flops", np.bool_(True), "a boolean is not a number"),
        ("max_flops", True, "a boolean is not a number"),
        ("max_flops", np.array([1.0]), 'must be a positive number or a string such as "25.6M"'),
        ("max_flops", b"12", 'must be a positive number or a string such as "25.6M"'),
        ("max_flops", 1 + 2j, 'must be a positive number or a string such as "25.6M"'),
    ],
)
def test_bad_limits_are_budget_errors_naming_key_and_source(key, value, reason):
    message = error_of(parse_value, key, value, SRC)
    assert message.startswith(f"invalid value {shown(value)} for {key!r} in {SRC}: ")
    assert reason in message


def test_a_5000_digit_int_is_shown_without_the_repr_that_raises():
    huge = 10**5000
    with pytest.raises(ValueError, match="Exceeds the limit"):
        repr(huge)  # what would have turned this into an INTERNALERROR
    message = error_of(parse_value, "max_flops", huge, SRC)
    assert message.startswith("invalid value <an int of about 5001 digits> for 'max_flops'")


def test_a_long_value_is_shortened_in_the_message():
    text = shown(10**300)
    assert len(text) < 90
    assert text.endswith("(301 characters)")


def test_the_largest_limit_formats_without_overflow():
    assert human(MAX_LIMIT, "FLOPs") == f"{MAX_LIMIT // 10**12} TFLOPs"


# --- percentages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.float64(5.0), 5 / 100),
        (np.int64(7), 7 / 100),
        (f"{MAX_PERCENT}%", 100.0),
        (MAX_PERCENT, 100.0),
        ("0%", 0.0),
    ],
)
def test_percentages_accept_numpy_scalars_up_to_the_bound(value, expected):
    assert parse_percent(value, "tolerance", SRC) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (HUNDREDS_OF_DIGITS + "%", f"too long (at most {MAX_TEXT} characters)"),
        (int(HUNDREDS_OF_DIGITS), f"must be at most {MAX_PERCENT}%"),
        (float(HUNDREDS_OF_DIGITS), f"must be at most {MAX_PERCENT}%"),
        ("10000.5%", f"must be at most {MAX_PERCENT}%"),
        ("５%", "non-ASCII character '５'"),
        ("5％", "non-ASCII character '％'"),  # a full-width percent sign
        ("nan%", 'must be a percentage such as "5%"'),
        ("inf%", 'must be a percentage such as "5%"'),
        ("1e3%", 'must be a percentage such as "5%"'),
        (float("inf"), "must be a finite number"),
        (np.float64("nan"), "must be a finite number"),
        (np.bool_(False), 'must be a percentage such as "5%"'),
        (-0.5, "must not be negative"),
    ],
)
def test_bad_percentages_are_budget_errors(value, reason):
    message = error_of(parse_percent, value, "fail_on_increase", SRC)
    assert message.startswith(f"invalid value {shown(value)} for 'fail_on_increase' in {SRC}: ")
    assert reason in message


# --- depth -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [("0", 0), (" 3 ", 3), (str(MAX_DEPTH), 64)])
def test_a_depth_is_ascii_digits_in_range(value, expected):
    assert parse_depth(value, "--flop-report-depth", "the command line") == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("１２", "non-ASCII character"),
        ("-1", "must be a whole number"),
        ("2.5", "must be a whole number"),
        (str(MAX_DEPTH + 1), f"must be from 0 to {MAX_DEPTH}"),
        (HUNDREDS_OF_DIGITS, "too long"),
    ],
)
def test_a_bad_depth_is_a_budget_error(value, reason):
    assert reason in error_of(parse_depth, value, "--flop-report-depth", "the command line")


# --- through load_config and validate_marker ---------------------------------------------------


def write(tmp_path, text: str):
    path = tmp_path / "pyproject.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize("key", ["tolerance", "fail_on_increase", "update_headroom"])
@pytest.mark.parametrize(
    ("toml_value", "reason"),
    [
        (f'"{HUNDREDS_OF_DIGITS}%"', "too long"),
        (HUNDREDS_OF_DIGITS, f"must be at most {MAX_PERCENT}%"),
        ('"５%"', "non-ASCII character '５'"),
        ("inf", "must be a finite number"),
    ],
)
def test_a_bad_percentage_in_pyproject_names_file_table_and_key(tmp_path, key, toml_value, reason):
    path = write(tmp_path, f"[tool.flopbudget]\n{key} = {toml_value}\n")
    with pytest.raises(BudgetError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: invalid value ")
    assert f"for {key!r} in [tool.flopbudget]: {reason}" in message


@pytest.mark.parametrize(
    ("toml_value", "reason"),
    [
        ('"1e400"', "too large"),
        ("1e400", "must be a finite number"),  # tomllib reads 1e400 as inf
        ("1" + "0" * 400, "too large"),
        ('"１２"', "non-ASCII character '１'"),
        ("nan", "must be a finite number"),
    ],
)
def test_a_bad_limit_in_an_entry_names_the_entry(tmp_path, toml_value, reason):
    path = write(
        tmp_path,
        f"""
        [tool.flopbudget.tests."tests/t.py::test_a"]
        max_flops = {toml_value}
        """,
    )
    with pytest.raises(BudgetError) as info:
        load_config(path)
    assert """for 'max_flops' in [tool.flopbudget.tests."tests/t.py::test_a"]: """ in str(
        info.value
    )
    assert reason in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "[tool.flopbudget]\nmax_flops = 1" + "0" * 5000 + "\n",  # tomllib: ValueError, not TOML's
        "[tool.flopbudget]\nmax_flops = " + "[" * 5000 + "]" * 5000 + "\n",  # RecursionError
    ],
)
def test_toml_that_tomllib_cannot_read_is_a_usage_error(tmp_path, text):
    path = tmp_path / "pyproject.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BudgetError, match=re.escape(f"{path}: invalid TOML: ")):
        load_config(path)


def test_toml_underscores_are_toml_integers(tmp_path):
    path = write(tmp_path, "[tool.flopbudget]\nmax_flops = 1_000\n")
    assert load_config(path).defaults["flops"].value == 1000


def test_validate_marker_takes_numpy_scalars():
    limits = validate_marker(
        {"max_gflops": np.float64(1.0), "max_params": np.int64(1)}, (), "t.py::test_a"
    )
    assert (limits["flops"].value, limits["params"].value) == (10**9, 1)


@pytest.mark.parametrize(
    ("kwargs", "key", "reason"),
    [
        ({"tolerance": HUNDREDS_OF_DIGITS + "%"}, "tolerance", "too long"),
        ({"tolerance": int(HUNDREDS_OF_DIGITS)}, "tolerance", "must be at most"),
        ({"max_flops": "1e400"}, "max_flops", "too large"),
        ({"max_flops": 10**400}, "max_flops", "too large"),
        ({"max_flops": "１２"}, "max_flops", "non-ASCII"),
        ({"tolerance": "５%"}, "tolerance", "non-ASCII"),
        ({"strict": np.bool_(True)}, "strict", "must be true or false"),
    ],
)
def test_a_bad_marker_argument_is_a_usage_error_naming_the_test(kwargs, key, reason):
    with pytest.raises(BudgetError) as info:
        validate_marker(kwargs, (), "t.py::test_a")
    assert f"for {key!r} in marker on t.py::test_a: " in str(info.value)
    assert reason in str(info.value)


# --- end to end: exit code 4 with the message, never an INTERNALERROR --------------------------


@pytest.fixture
def inner(pytester, monkeypatch):
    isolate_inner_runs(monkeypatch)
    return pytester


def no_internal_error(result: pytest.RunResult) -> str:
    text = str(result.stdout) + str(result.stderr)
    assert "INTERNALERROR" not in text
    assert "Traceback" not in text
    return usage_error(result)


TEST_WITH_MARKER = """
import numpy as np
import pytest
import torch
from torch import nn

@pytest.mark.flop_budget({arguments})
def test_a():
    nn.Linear(10, 10)(torch.randn(4, 10))
"""


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            f'tolerance="{HUNDREDS_OF_DIGITS}%"',
            "for 'tolerance' in marker on test_m.py::test_a: too long",
        ),
        ('max_flops="1e400"', "for 'max_flops' in marker on test_m.py::test_a: too large"),
        ('max_flops="１２"', "for 'max_flops' in marker on test_m.py::test_a: non-ASCII"),
    ],
)
def test_a_bad_marker_argument_ends_the_run_with_a_usage_error(inner, arguments, message):
    inner.makepyfile(test_m=TEST_WITH_MARKER.format(arguments=arguments))
    assert message in no_internal_error(inner.runpytest())


def test_numpy_scalars_in_a_marker_are_budgets(inner):
    flops, params = linear_flops(4, 10, 10), linear_params(10, 10)
    inner.makepyfile(
        test_m=TEST_WITH_MARKER.format(
            arguments=f"max_flops=np.int64({flops}), max_params=np.float64({params - 1}.0)"
        )
    )
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)  # within the FLOP budget, one parameter over
    assert f"params {params} > {params - 1}" in result.stdout.str()


def test_a_huge_limit_in_pyproject_ends_the_run_with_a_usage_error(inner):
    inner.makepyprojecttoml('[tool.flopbudget]\nmax_flops = "1e400"\n')
    inner.makepyfile(test_m=TEST_WITH_MARKER.format(arguments=""))
    message = no_internal_error(inner.runpytest())
    assert "invalid value '1e400' for 'max_flops' in [tool.flopbudget]: too large" in message


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            "--flop-fail-on-increase=５%",
            "invalid value '５%' for '--flop-fail-on-increase' in the command line: non-ASCII",
        ),
        (
            f"--flop-fail-on-increase={HUNDREDS_OF_DIGITS}%",
            "for '--flop-fail-on-increase' in the command line: too long",
        ),
        ("--flop-report-depth=１２", "for '--flop-report-depth' in the command line: non-ASCII"),
    ],
)
def test_a_bad_command_line_value_is_a_usage_error(inner, option, message):
    inner.makepyfile(test_m=TEST_WITH_MARKER.format(arguments="max_gflops=1"))
    assert message in no_internal_error(inner.runpytest(option))


# --- the last-run cache: pruned ----------------------------------------------------------------


def test_an_entry_not_seen_in_the_last_keep_runs_runs_is_dropped():
    last_run, seen = {}, (0, {})
    state = remember(last_run, seen, {"t::a": TOTALS, "t::b": TOTALS}, ["t::a", "t::b"], False)
    for _ in range(KEEP_RUNS - 1):  # partial runs of t::a alone
        state = remember(state.last_run, (state.run, state.seen), {"t::a": TOTALS}, ["t::a"], False)
        assert set(state.last_run) == {"t::a", "t::b"}  # t::b seen in one of the last KEEP_RUNS
    state = remember(state.last_run, (state.run, state.seen), {"t::a": TOTALS}, ["t::a"], False)
    assert set(state.last_run) == {"t::a"}
    assert state.seen == {"t::a": KEEP_RUNS + 1}
    assert state.seen_value() == {"run": KEEP_RUNS + 1, "tests": {"t::a": KEEP_RUNS + 1}}


def test_a_test_collected_but_not_measured_keeps_its_entry():
    state = remember({"t::b": TOTALS}, (5, {"t::b": 5 - KEEP_RUNS + 1}), {}, ["t::b"], False)
    assert state.last_run == {"t::b": TOTALS}
    assert state.seen == {"t::b": 6}


def test_a_full_run_drops_every_test_it_did_not_collect():
    state = remember(
        {"t::a": TOTALS, "t::gone": TOTALS}, (3, {"t::a": 3, "t::gone": 3}), {}, ["t::a"], True
    )
    assert set(state.last_run) == {"t::a"}


def test_entries_from_before_the_counter_count_as_seen_now():
    state = remember({"t::old": TOTALS}, (0, {}), {}, [], False)
    assert state.last_run == {"t::old": TOTALS}
    assert state.seen == {"t::old": 1}


@pytest.mark.parametrize(
    "value",
    [
        None,
        [],
        "x",
        {"t::a": "840"},
        {"t::a": {"flops": "840"}},
        {"t::a": {"flops": True}},
        {"t::a": {"flops": -1}},
        {"t::a": {"flops": 10**400}},
        {"t::a": {"flops": 8.4}},
    ],
)
def test_a_malformed_last_run_entry_is_ignored(value):
    assert read_last_run(value) == {}


def test_a_wellformed_last_run_is_read_back():
    assert read_last_run({"t::a": {**TOTALS, "nonzero_params": None}}) == {
        "t::a": {**TOTALS, "nonzero_params": None}
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, (0, {})),
        ({"run": "3"}, (0, {})),
        ({"run": True, "tests": {}}, (0, {})),
        ({"run": 3, "tests": []}, (3, {})),
        ({"run": 3, "tests": {"t::a": 2, "t::b": "2"}}, (3, {"t::a": 2})),
    ],
)
def test_a_malformed_seen_record_is_ignored(value, expected):
    assert read_seen(value) == expected


def cached(pytester: pytest.Pytester, key: str) -> object:
    return json.loads((pytester.path / ".pytest_cache" / "v" / key).read_text(encoding="utf-8"))


def test_the_cache_forgets_a_deleted_test_in_a_full_run_and_keeps_it_in_a_partial_one(inner):
    body = TEST_WITH_MARKER.format(arguments="max_gflops=1")
    inner.makepyfile(test_a=body, test_b=body)
    inner.runpytest().assert_outcomes(passed=2)
    assert set(cached(inner, LAST_RUN_KEY)) == {"test_a.py::test_a", "test_b.py::test_a"}
    assert cached(inner, LAST_RUN_KEY)["test_a.py::test_a"]["flops"] == linear_flops(4, 10, 10)

    inner.runpytest("test_a.py").assert_outcomes(passed=1)  # partial: test_b stays
    assert set(cached(inner, LAST_RUN_KEY)) == {"test_a.py::test_a", "test_b.py::test_a"}
    assert cached(inner, SEEN_KEY) == {
        "run": 2,
        "tests": {"test_a.py::test_a": 2, "test_b.py::test_a": 1},
    }

    (inner.path / "test_b.py").unlink()
    inner.runpytest().assert_outcomes(passed=1)  # full: test_b is gone
    assert set(cached(inner, LAST_RUN_KEY)) == {"test_a.py::test_a"}
    assert cached(inner, SEEN_KEY) == {"run": 3, "tests": {"test_a.py::test_a": 3}}
