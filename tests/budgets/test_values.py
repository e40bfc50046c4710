"""Limit keys, units and values; percentages; depths."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest
import torch  # noqa: F401  (imported once: pytester's in-process runs drop what a run imported)

from pytest_flopbudget.budgets.quantities import LIMIT_KEYS
from pytest_flopbudget.budgets.values import (
    MAX_LIMIT,
    MAX_PERCENT,
    MAX_TEXT,
    BudgetError,
    Limit,
    parse_depth,
    parse_limits,
    parse_percent,
    parse_value,
)
from pytest_flopbudget.budgets.values import MAX_REPORT_DEPTH as MAX_DEPTH
from pytest_flopbudget.text import human, shown

SRC = "marker on tests/t.py::test_a"


def limit_of(key: str, value: object, source: str = SRC) -> Limit:
    (limit,) = parse_limits({key: value}, source).values()
    return limit


# --- keys and units ----------------------------------------------------------------------------

EXPECTED_KEYS = {
    "max_flops": ("flops", 1),
    "max_kflops": ("flops", 1_000),
    "max_mflops": ("flops", 1_000_000),
    "max_gflops": ("flops", 1_000_000_000),
    "max_tflops": ("flops", 1_000_000_000_000),
    "max_macs": ("macs", 1),
    "max_kmacs": ("macs", 1_000),
    "max_mmacs": ("macs", 1_000_000),
    "max_gmacs": ("macs", 1_000_000_000),
    "max_tmacs": ("macs", 1_000_000_000_000),
    "max_params": ("params", 1),
    "max_nonzero_params": ("nonzero_params", 1),
    "max_sparse_flops": ("sparse_flops", 1),
    "max_param_bytes": ("param_bytes", 1),
    "max_bytes_moved": ("bytes_moved", 1),
    "max_latency_ms": ("latency_ns", 1_000_000),
}


def test_limit_keys_are_exactly_the_documented_keys():
    assert LIMIT_KEYS == EXPECTED_KEYS


@pytest.mark.parametrize(
    ("key", "quantity", "multiplier"), [(k, *v) for k, v in EXPECTED_KEYS.items()]
)
def test_each_key_scales_a_number_by_its_unit(key, quantity, multiplier):
    limits = parse_limits({key: 3}, SRC)
    assert limits == {quantity: Limit(quantity, 3 * multiplier, key, SRC)}


def test_limits_are_keyed_by_quantity_and_keep_the_key_as_written():
    limits = parse_limits({"max_gflops": 2, "max_params": 5}, SRC)
    assert limits["flops"] == Limit("flops", 2 * 10**9, "max_gflops", SRC)
    assert limits["params"] == Limit("params", 5, "max_params", SRC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25.6M", 256 * 10**5),
        ("2G", 2 * 10**9),
        ("500k", 500 * 10**3),
        ("500K", 500 * 10**3),
        ("1.5T", 15 * 10**11),
        ("1000", 1000),
        ("1e3", 1000),
        (" 7 M ", 7 * 10**6),
        ("2 G", 2 * 10**9),  # the written grammar allows spaces around the number and suffix
        (".5K", 500),
    ],
)
def test_si_suffix_strings_are_parsed_in_base_units(text, expected):
    assert limit_of("max_flops", text).value == expected


def test_decimal_values_are_exact_not_binary_floats():
    # 8.3 * 1e9 is 8300000000.000001 in binary floating point; a ceil would make it ...001.
    assert 8.3 * 1e9 != 8_300_000_000
    assert limit_of("max_gflops", 8.3).value == 83 * 10**8
    assert limit_of("max_params", "25.6M").value == 256 * 10**5
    assert limit_of("max_mflops", 0.1).value == 10**5


def test_a_fractional_base_unit_value_is_rounded_up():
    assert limit_of("max_flops", 10.2).value == 11
    assert limit_of("max_kflops", 0.0005).value == 1  # half a FLOP
    assert limit_of("max_params", "1.0000001K").value == 1001


def test_a_plain_number_string_on_a_scaled_key_is_in_that_keys_unit():
    assert limit_of("max_gflops", "8.3").value == 83 * 10**8


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25MB", 25 * 10**6),
        ("1.5GiB", 3 * 2**29),
        ("512B", 512),
        ("2KB", 2000),
        ("2kB", 2000),
        ("3GB", 3 * 10**9),
        ("1TB", 10**12),
        ("1KiB", 1024),
        ("2MiB", 2 * 1024 * 1024),
        ("1TiB", 1024**4),
        ("4M", 4 * 10**6),
        (1024, 1024),
    ],
)
def test_param_bytes_accepts_byte_units(text, expected):
    assert limit_of("max_param_bytes", text).value == expected


def test_byte_units_are_only_for_param_bytes():
    with pytest.raises(BudgetError, match=r"invalid value '25MB' for 'max_params' in marker on"):
        parse_limits({"max_params": "25MB"}, SRC)


def test_a_suffix_on_a_scaled_key_is_ambiguous_and_names_the_base_key():
    with pytest.raises(
        BudgetError,
        match=re.escape(
            "invalid value '2G' for 'max_gflops' in marker on tests/t.py::test_a: a unit suffix "
            "on a scaled key is ambiguous; write max_flops='2G' or max_gflops as a plain number"
        ),
    ):
        parse_limits({"max_gflops": "2G"}, SRC)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (True, "a boolean is not a number"),
        (False, "a boolean is not a number"),
        (0, "must be positive"),
        (0.0, "must be positive"),
        (-1, "must be positive"),
        (-2.5, "must be positive"),
        ("0", "must be positive"),
        ("-5M", "must be positive"),
        (float("nan"), "must be a finite number"),
        (float("inf"), "must be a finite number"),
        ("abc", r"not a number with an optional unit suffix \(K, k, M, G, T\)"),
        ("", "not a number with an optional unit suffix"),
        ("12X", "not a number with an optional unit suffix"),
        ("2 GFLOPs", "not a number with an optional unit suffix"),
        ("2 5M", "not a number with an optional unit suffix"),
        ("nan", "not a number with an optional unit suffix"),
        ([1], 'must be a positive number or a string such as "25.6M"'),
        (None, 'must be a positive number or a string such as "25.6M"'),
        ({"a": 1}, 'must be a positive number or a string such as "25.6M"'),
    ],
)
def test_invalid_values_name_the_key_the_value_and_the_source(value, reason):
    expected = f"invalid value {value!r} for 'max_flops' in {SRC}: "
    with pytest.raises(BudgetError, match=re.escape(expected) + reason):
        parse_limits({"max_flops": value}, SRC)


def test_budget_error_is_a_value_error():
    assert issubclass(BudgetError, ValueError)


def test_two_unit_variants_of_one_quantity_are_an_error_naming_both():
    with pytest.raises(
        BudgetError,
        match=re.escape(
            f"budget keys 'max_flops' and 'max_gflops' in {SRC} both limit flops; "
            "use only one of them"
        ),
    ):
        parse_limits({"max_flops": 1, "max_gflops": 2}, SRC)


def test_an_unknown_key_suggests_the_nearest_and_lists_the_accepted_keys():
    accepted = ", ".join(EXPECTED_KEYS)
    with pytest.raises(
        BudgetError,
        match=re.escape(
            f"unknown budget key 'max_gflop' in {SRC} (did you mean 'max_gflops'?); "
            f"accepted keys: {accepted}"
        ),
    ):
        parse_limits({"max_gflop": 2}, SRC)


def test_an_unknown_key_far_from_any_gives_no_suggestion():
    with pytest.raises(BudgetError, match=r"unknown budget key 'speed' in [^(]*; accepted keys"):
        parse_limits({"speed": 2}, SRC)


# --- percentages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5%", 5 / 100),
        ("0%", 0.0),
        ("12.5%", 125 / 1000),
        (" 7 % ", 7 / 100),
        ("5", 5 / 100),  # a string without % is a number of percent too
        ("12.5", 125 / 1000),
        (5, 5 / 100),
        (0, 0.0),
        (2.5, 25 / 1000),
        (150, 3 / 2),
    ],
)
def test_percentages_are_fractions(value, expected):
    assert parse_percent(value, "tolerance", SRC) == pytest.approx(expected, rel=0, abs=1e-15)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("-5%", "must not be negative"),
        (-1, "must not be negative"),
        ("five%", 'must be a percentage such as 5, "5" or "5%"'),
        ("5%%", 'must be a percentage such as 5, "5" or "5%"'),
        (True, 'must be a percentage such as 5, "5" or "5%"'),
        (None, 'must be a percentage such as 5, "5" or "5%"'),
        (float("nan"), "must be a finite number"),
    ],
)
def test_malformed_percentages_are_errors(value, reason):
    expected = f"invalid value {value!r} for 'tolerance' in {SRC}: {reason}"
    with pytest.raises(BudgetError, match=re.escape(expected)):
        parse_percent(value, "tolerance", SRC)


HUNDREDS_OF_DIGITS = "1" + "0" * 300  # 10**300


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
        ("nan%", 'must be a percentage such as 5, "5" or "5%"'),
        ("inf%", 'must be a percentage such as 5, "5" or "5%"'),
        ("1e3%", 'must be a percentage such as 5, "5" or "5%"'),
        (float("inf"), "must be a finite number"),
        (np.float64("nan"), "must be a finite number"),
        (np.bool_(False), 'must be a percentage such as 5, "5" or "5%"'),
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


@pytest.mark.parametrize(("value", "expected"), [(2.5, 2_500_000), ("2.5", 2_500_000), (1, 10**6)])
def test_a_latency_limit_is_a_number_of_milliseconds_in_nanoseconds(value, expected):
    assert limit_of("max_latency_ms", value).value == expected


def test_a_latency_limit_takes_no_unit_suffix():
    with pytest.raises(BudgetError, match="not a number \\(it takes no unit suffix\\)"):
        parse_limits({"max_latency_ms": "2M"}, SRC)
