"""Checking measured totals against a budget: limits, tolerance, violation messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_flopbudget.budgets.check import Budget, Violation, check
from pytest_flopbudget.budgets.quantities import LIMIT_KEYS
from pytest_flopbudget.budgets.values import Limit, parse_limits

SRC = "marker on tests/t.py::test_a"


def limit_of(key: str, value: object, source: str = SRC) -> Limit:
    (limit,) = parse_limits({key: value}, source).values()
    return limit


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


# --- import hygiene ----------------------------------------------------------------------------


def test_budget_and_config_do_not_import_torch():
    root = Path(__file__).resolve().parents[2]
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
