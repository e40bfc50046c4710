"""Budget keys, units, resolution order and checking (pytest_flopbudget.budgets)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_flopbudget.budgets.check import Budget, Violation, check
from pytest_flopbudget.budgets.config import Config, TestEntry, budgeted_by_config
from pytest_flopbudget.budgets.quantities import LIMIT_KEYS
from pytest_flopbudget.budgets.resolve import resolve
from pytest_flopbudget.budgets.values import BudgetError, Limit, parse_limits, parse_percent
from pytest_flopbudget.text import format_delta, human

SRC = "marker on tests/t.py::test_a"
NODE = "tests/test_vit.py::test_tiny"


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
        ("5", 'must be a percentage such as "5%"'),
        ("five%", 'must be a percentage such as "5%"'),
        ("5%%", 'must be a percentage such as "5%"'),
        (True, 'must be a percentage such as "5%"'),
        (None, 'must be a percentage such as "5%"'),
        (float("nan"), "must be a finite number"),
    ],
)
def test_malformed_percentages_are_errors(value, reason):
    expected = f"invalid value {value!r} for 'tolerance' in {SRC}: {reason}"
    with pytest.raises(BudgetError, match=re.escape(expected)):
        parse_percent(value, "tolerance", SRC)


# --- resolution --------------------------------------------------------------------------------


def entry(pattern: str, tolerance: float | None = None, **values: object) -> TestEntry:
    limits = parse_limits(values, f"entry {pattern}")
    is_glob = "*" in pattern or "?" in pattern
    return TestEntry(pattern=pattern, limits=limits, is_glob=is_glob, tolerance=tolerance)


# Each layer sets one quantity fewer than the layer below it, so each quantity is decided by a
# different layer: flops by the marker, macs by the exact entry, params by the longer glob,
# nonzero params by the shorter glob, sparse FLOPs by the defaults.
DEFAULTS = parse_limits(
    {
        "max_flops": 5,
        "max_macs": 5,
        "max_params": 5,
        "max_nonzero_params": 5,
        "max_sparse_flops": 5,
    },
    "defaults",
)
SHORT_GLOB = entry("tests/*", max_flops=4, max_macs=4, max_params=4, max_nonzero_params=4)
LONG_GLOB = entry("tests/test_vit.py::*", max_flops=3, max_macs=3, max_params=3)
EXACT = entry(NODE, max_flops=2, max_macs=2)
OTHER = entry("tests/test_resnet.py::*", max_flops=99, max_macs=99, max_params=99)


@pytest.mark.parametrize(
    "order",
    [(SHORT_GLOB, LONG_GLOB, EXACT, OTHER), (EXACT, OTHER, LONG_GLOB, SHORT_GLOB)],
    ids=["short-glob-first-in-file", "exact-first-in-file"],
)
def test_resolution_is_marker_then_exact_then_longest_glob_then_defaults(order):
    config = Config(defaults=DEFAULTS, tests=order)
    budget = resolve({"max_flops": 1}, NODE, config)
    assert {q: limit.value for q, limit in budget.limits.items()} == {
        "flops": 1,
        "macs": 2,
        "params": 3,
        "nonzero_params": 4,
        "sparse_flops": 5,
    }
    assert budget.limits["flops"].source == f"marker on {NODE}"
    assert budget.limits["macs"].source == f"entry {NODE}"
    assert budget.limits["params"].source == "entry tests/test_vit.py::*"
    assert budget.limits["nonzero_params"].source == "entry tests/*"
    assert budget.limits["sparse_flops"].source == "defaults"


def test_a_marker_in_another_unit_overrides_the_config_for_that_quantity():
    config = Config(tests=(entry(NODE, max_flops=7 * 10**9),))
    budget = resolve({"max_gflops": 2}, NODE, config)
    assert budget.limits["flops"] == Limit("flops", 2 * 10**9, "max_gflops", f"marker on {NODE}")


def test_equally_long_globs_apply_in_file_order():
    first, second = entry("tests/test_vit*", max_flops=1), entry("tests/test_v?t*", max_flops=2)
    assert len(first.pattern) == len(second.pattern)
    assert resolve(None, NODE, Config(tests=(first, second))).limits["flops"].value == 1
    assert resolve(None, NODE, Config(tests=(second, first))).limits["flops"].value == 2


def test_a_parametrized_node_id_matches_its_exact_entry_and_a_bracket_glob():
    node = "tests/t.py::test_a[cpu-2]"
    exact = entry(node, max_flops=1)
    glob = entry("tests/t.py::test_a[*]", max_flops=2, max_params=2)
    budget = resolve(None, node, Config(tests=(glob, exact)))
    assert (budget.limits["flops"].value, budget.limits["params"].value) == (1, 2)
    assert not budgeted_by_config("tests/t.py::test_ab", Config(tests=(glob,)))


def test_defaults_alone_budget_nothing_but_an_entry_does():
    config = Config(defaults=DEFAULTS, tests=(OTHER,))
    assert not budgeted_by_config(NODE, config)
    assert budgeted_by_config(NODE, Config(tests=(LONG_GLOB,)))
    assert budgeted_by_config(NODE, Config(tests=(EXACT,)))
    assert budgeted_by_config("tests/test_resnet.py::test_big", config)


def test_a_test_without_marker_or_config_has_no_limits():
    assert resolve(None, NODE, Config()) == Budget(limits={}, tolerance=0.0)


def test_tolerance_follows_the_same_precedence():
    config = Config(
        tolerance=0.01,
        tests=(entry("tests/*", tolerance=0.02), entry(NODE, tolerance=0.03)),
    )
    assert resolve({"tolerance": "4%"}, NODE, config).tolerance == pytest.approx(0.04)
    assert resolve(None, NODE, config).tolerance == 0.03
    assert resolve(None, "tests/test_x.py::test_y", config).tolerance == 0.02
    assert resolve(None, "other/test_x.py::test_y", config).tolerance == 0.01


def test_an_invalid_marker_raises_budget_error_naming_the_node():
    with pytest.raises(BudgetError, match=re.escape(f"in marker on {NODE} (did you mean")):
        resolve({"max_gflop": 1}, NODE, Config())


# --- checking ----------------------------------------------------------------------------------


def budget_of(tolerance: float = 0.0, **values: object) -> Budget:
    return Budget(limits=parse_limits(values, SRC), tolerance=tolerance)


def test_a_value_at_the_limit_passes_and_one_above_fails():
    budget = budget_of(max_flops=100)
    assert check({"flops": 100}, budget) == []
    assert check({"flops": 101}, budget) == [Violation("flops", 101, budget.limits["flops"])]


def test_tolerance_allows_that_fraction_above_the_limit():
    budget = budget_of(tolerance=0.05, max_flops=100)
    assert check({"flops": 105}, budget) == []
    assert [v.measured for v in check({"flops": 106}, budget)] == [106]


def test_unknown_measurements_never_violate():
    budget = budget_of(max_nonzero_params=1, max_flops=1)
    assert check({"nonzero_params": None, "flops": None}, budget) == []
    assert check({}, budget) == []


def test_every_exceeded_limit_is_reported():
    budget = budget_of(max_flops=10, max_params=10, max_macs=10)
    violations = check({"flops": 11, "params": 12, "macs": 10}, budget)
    assert [(v.quantity, v.measured) for v in violations] == [("flops", 11), ("params", 12)]


def test_overshoot_is_the_fraction_above_the_limit():
    violation = Violation("params", 25_557_032, limit_of("max_params", "5M"))
    assert violation.overshoot == pytest.approx(25_557_032 / 5_000_000 - 1)


@pytest.mark.parametrize(
    ("key", "limit", "measured", "message"),
    [
        # 8.27 / 2 = 4.135 -> +313.5%
        (
            "max_gflops",
            2,
            8_270_000_000,
            "FLOP budget exceeded: 8.27 GFLOPs > 2.00 GFLOPs (+313.5%)",
        ),
        # 1.2 / 1 -> +20%
        ("max_gmacs", 1, 1_200_000_000, "MAC budget exceeded: 1.20 GMACs > 1.00 GMACs (+20.0%)"),
        # 25_557_032 / 5_000_000 = 5.1114... -> +411.1%
        ("max_params", "5M", 25_557_032, "params 25.6M > 5.0M (+411.1%)"),
        ("max_nonzero_params", 10**6, 1_200_000, "nonzero params 1.2M > 1.0M (+20.0%)"),
        (
            "max_sparse_flops",
            "2G",
            8_270_000_000,
            "sparse FLOP budget exceeded: 8.27 GFLOPs > 2.00 GFLOPs (+313.5%)",
        ),
        ("max_param_bytes", "25MB", 30 * 10**6, "param bytes 30.0 MB > 25.0 MB (+20.0%)"),
        # the unit comes from the limit, so both sides share it
        (
            "max_gflops",
            2,
            1_500 * 10**9,
            "FLOP budget exceeded: 1500.00 GFLOPs > 2.00 GFLOPs (+74900.0%)",
        ),
        ("max_kflops", 1.5, 3_000, "FLOP budget exceeded: 3.00 KFLOPs > 1.50 KFLOPs (+100.0%)"),
        ("max_tflops", 1, 2 * 10**12, "FLOP budget exceeded: 2.00 TFLOPs > 1.00 TFLOPs (+100.0%)"),
        ("max_flops", 512, 1_024, "FLOP budget exceeded: 1024 FLOPs > 512 FLOPs (+100.0%)"),
        ("max_params", 400, 500, "params 500 > 400 (+25.0%)"),
        ("max_params", "2K", 2_500, "params 2.5K > 2.0K (+25.0%)"),
        ("max_param_bytes", 800, 1_000, "param bytes 1000 B > 800 B (+25.0%)"),
    ],
)
def test_violation_messages(key, limit, measured, message):
    budget = budget_of(**{key: limit})
    (violation,) = check({LIMIT_KEYS[key][0]: measured}, budget)
    assert violation.message() == message


# --- formatting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "unit", "text"),
    [
        (8_270_000_000, "", "8.27G"),
        (25_557_032, "", "25.6M"),
        (512, "", "512"),
        (0, "", "0"),
        (None, "", "-"),
        (None, "FLOPs", "-"),
        (1_500, "", "1.50K"),
        (123_456, "", "123K"),
        (999_999, "", "1.00M"),  # rounds up into the next prefix, not "1000K"
        (-2_500_000, "", "-2.50M"),
        (3 * 10**12, "", "3.00T"),
        (8_270_000_000, "FLOPs", "8.27 GFLOPs"),
        (512, "FLOPs", "512 FLOPs"),
        (12.345, "", "12.3"),
        (999.7, "", "1.00K"),
    ],
)
def test_human(n, unit, text):
    assert human(n, unit) == text


@pytest.mark.parametrize(
    ("fraction", "text"),
    [
        (8.27 / 2 - 1, "+313.5%"),
        (-0.02, "-2.0%"),
        (0.0, "+0.0%"),
        (-0.0001, "+0.0%"),
        (0.2, "+20.0%"),
    ],
)
def test_format_delta(fraction, text):
    assert format_delta(fraction) == text


# --- import hygiene ----------------------------------------------------------------------------


def test_budget_and_config_do_not_import_torch():
    root = Path(__file__).resolve().parents[1]
    if not (root / "pytest_flopbudget" / "__init__.py").exists():
        pytest.skip("pytest_flopbudget/__init__.py does not exist yet")
    code = (
        "import sys, pytest_flopbudget.budgets.values, pytest_flopbudget.budgets.config, "
        "pytest_flopbudget.budgets.resolve, pytest_flopbudget.budgets.verdict; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
