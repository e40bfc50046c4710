"""Resolution of a test's limits: marker, exact entry, longest glob, defaults."""

from __future__ import annotations

import re

import pytest

from pytest_flopbudget.budgets.check import Budget
from pytest_flopbudget.budgets.config import Config, TestEntry, budgeted_by_config
from pytest_flopbudget.budgets.resolve import resolve
from pytest_flopbudget.budgets.values import BudgetError, Limit, parse_limits

NODE = "tests/test_vit.py::test_tiny"


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
    for written in (4, "4", 4.0, "4.0%"):  # the marker takes every spelling pyproject takes
        assert resolve({"tolerance": written}, NODE, config).tolerance == pytest.approx(0.04)
    assert resolve(None, NODE, config).tolerance == 0.03
    assert resolve(None, "tests/test_x.py::test_y", config).tolerance == 0.02
    assert resolve(None, "other/test_x.py::test_y", config).tolerance == 0.01


def test_an_invalid_marker_raises_budget_error_naming_the_node():
    with pytest.raises(BudgetError, match=re.escape(f"in marker on {NODE} (did you mean")):
        resolve({"max_gflop": 1}, NODE, Config())
