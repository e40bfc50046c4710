"""--flop-budget-update: new entries, stale values, the rewrite rule."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from tests.support import (
    FLOPS,
    PARAMS,
    linear_flops,
    linear_params,
    summary,
)

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib
from pytest_flopbudget.budgets.config import load_config
from pytest_flopbudget.budgets.update import update_pyproject
from pytest_flopbudget.budgets.verdict import TestRow
from tests.projects import definition_line, pyproject_text
from tests.support import NET_MODELS, TREE_MODELS, write_pyproject, write_tests

# Net: backbone = Linear(10, 20), ReLU, Linear(20, 10); head = Linear(10, 2); on a (4, 10) input.
BACKBONE_0_FLOPS = linear_flops(4, 10, 20)


BACKBONE_FLOPS = BACKBONE_0_FLOPS + 4 * 20 + linear_flops(4, 20, 10)


BACKBONE_LIMIT = BACKBONE_FLOPS - 100  # a limit that a failure line writes in KFLOPs


# --- 5. --flop-budget-update leaves module budgets alone --------------------------------------


def test_budget_update_leaves_module_budgets_alone_and_says_so(pytester):
    module_table = f"""
        [tool.flopbudget.tests."test_x.py::test_a".modules."backbone"]
        max_flops = {BACKBONE_LIMIT}  # keep
        """
    write_pyproject(
        pytester,
        f"""
        [tool.flopbudget.tests."test_x.py::test_a"]
        max_flops = 1
        {module_table}""",
    )
    write_tests(pytester, NET_MODELS, "def test_a():\n    Net()(x())\n")
    result = pytester.runpytest("--flop-budget-update")
    result.assert_outcomes(passed=1)  # an overrun does not fail while updating
    text = (pytester.path / "pyproject.toml").read_text()
    assert textwrap.dedent(module_table).strip() in text
    assert "max_flops = 1\n" not in text  # the test's own limit was rewritten
    assert "  module budgets of 1 test(s) left as they are (edit by hand)" in result.outlines


def budget_value(measured: int, headroom_percent: int = 0) -> int:
    """What --flop-budget-update writes: measured + headroom, rounded UP to 3 significant
    figures (integer arithmetic)."""
    raised = -(-measured * (100 + headroom_percent) // 100)
    step = 10 ** max(len(str(raised)) - 3, 0)
    return -(-raised // step) * step


# --- 7. --flop-budget-update ---------------------------------------------------------------------


def test_budget_update_writes_new_entries_rounded_up_with_the_headroom(pytester):
    write_pyproject(
        pytester,
        """
        [tool.flopbudget]
        update_headroom = "10%"
        """,
    )
    write_tests(
        pytester,
        TREE_MODELS,
        """
        @pytest.mark.flop_budget
        def test_small():
            nn.Linear(10, 10)(x())

        @pytest.mark.flop_budget
        def test_big():
            nn.Linear(100, 30)(torch.randn(4, 100))
        """,
    )
    result = pytester.runpytest("--flop-budget-update", "--flop-report=json:r.json")
    result.assert_outcomes(passed=2)
    path = pytester.path / "pyproject.toml"
    result.stdout.fnmatch_lines(
        [
            f"flop budget update ({path}): 0 updated, 2 new, 0 unchanged, 0 pinned",
            "  new     test_x.py::test_big",
            "  new     test_x.py::test_small",
        ]
    )
    # the status says what the update did (issue 17, 18), in the summary and the report
    given_entries = {"test_x.py::test_big": "updated:new", "test_x.py::test_small": "updated:new"}
    assert {row["test"]: row["status"] for row in summary(result)} == given_entries
    report = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    assert {t["nodeid"]: t["status"] for t in report["tests"]} == given_entries
    big_flops, big_params = linear_flops(4, 100, 30), linear_params(100, 30)
    assert budget_value(big_flops, 10) == 26_600  # 24 120 · 1.1 = 26 532, rounded up
    assert budget_value(big_params, 10) == 3_340  # 3 030 · 1.1 = 3 333, rounded up
    assert (budget_value(FLOPS, 10), budget_value(PARAMS, 10)) == (924, 121)
    tests = tomllib.loads(pyproject_text(pytester))["tool"]["flopbudget"]["tests"]
    assert tests == {
        "test_x.py::test_small": {"max_flops": 924, "max_params": 121},
        # a base-unit key over 999 is written as an SI string: exact at three figures
        "test_x.py::test_big": {"max_kflops": 26.6, "max_params": "3.34K"},
    }

    written = pyproject_text(pytester)
    again = pytester.runpytest("--flop-budget-update")
    again.stdout.fnmatch_lines(
        [f"flop budget update ({path}): 0 updated, 0 new, 2 unchanged, 0 pinned"]
    )
    assert pyproject_text(pytester) == written


# --- issue 17, 8: a test that failed for its own reason is written only when asked ------------

FAILING_AND_PASSING = """
@pytest.mark.flop_budget
def test_fails():
    nn.Linear(10, 10)(x())
    assert False, "its own reason"

@pytest.mark.flop_budget
def test_passes():
    nn.Linear(10, 10)(x())
"""


def test_update_writes_a_failed_test_only_with_update_failed(pytester):
    write_tests(pytester, TREE_MODELS, FAILING_AND_PASSING)
    path = pytester.path / "pyproject.toml"
    result = pytester.runpytest("--flop-budget-update")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            f"flop budget update ({path}): 0 updated, 1 new, 0 unchanged, 0 pinned",
            "  new     test_x.py::test_passes",
            "  1 test(s) that failed for their own reason not written "
            "(--flop-budget-update-failed writes them too)",
        ]
    )
    assert (budget_value(FLOPS), budget_value(PARAMS)) == (840, 110)  # three figures already
    tests = tomllib.loads(pyproject_text(pytester))["tool"]["flopbudget"]["tests"]
    assert tests == {"test_x.py::test_passes": {"max_flops": 840, "max_params": 110}}

    result = pytester.runpytest("--flop-budget-update-failed")  # an update, failed tests too
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [f"flop budget update ({path}): 0 updated, 1 new, 1 unchanged, 0 pinned"]
    )
    assert "not written" not in result.stdout.str()
    tests = tomllib.loads(pyproject_text(pytester))["tool"]["flopbudget"]["tests"]
    assert tests["test_x.py::test_fails"] == {"max_flops": 840, "max_params": 110}


UPDATE_TESTS = """
@pytest.mark.flop_budget(max_flops=100)
def test_pinned():
    nn.Linear(10, 10)(x())

def test_over():
    nn.Linear(10, 10)(x())

def test_under():
    nn.Linear(10, 10)(x())

def test_fine():
    nn.Linear(10, 10)(x())

def test_glob_a():
    nn.Linear(10, 10)(x())
"""


COMMENTED_PYPROJECT = f"""
# Compute budgets; CI runs --flop-budget-update on main.
[project]
name = "demo"  # not a package

[tool.flopbudget]
count = "all"    # the default
tolerance = "0%"

# over budget: the model grew
[tool.flopbudget.tests."test_x.py::test_over"]
max_kflops = 0.5  # tight
max_params = {PARAMS}

[tool.flopbudget.tests."test_x.py::test_under"]
max_flops = "10K"   # generous
max_params = 1000

[tool.flopbudget.tests."test_x.py::test_fine"]
max_flops = {FLOPS}
max_params = {PARAMS}  # exactly

[tool.flopbudget.tests."test_x.py::test_glob_*"]
max_gflops = 1

[tool.flopbudget.tests."test_x.py::test_removed"]
max_gflops = 1  # this test was deleted

[tool.ruff]
line-length = 100  # wide
"""


def test_budget_update_rewrites_only_the_stale_values_and_keeps_the_file_otherwise(pytester):
    source = write_tests(pytester, TREE_MODELS, UPDATE_TESTS)
    before = write_pyproject(pytester, COMMENTED_PYPROJECT)
    result = pytester.runpytest("--flop-budget-update")
    result.assert_outcomes(passed=5)  # over budget, pinned over budget too: nothing fails
    path = pytester.path / "pyproject.toml"
    pinned_at = f"test_x.py:{definition_line(source, 'test_pinned')}"
    result.stdout.fnmatch_lines(
        [
            f"flop budget update ({path}): 2 updated, 0 new, 2 unchanged, 1 pinned",
            "  updated test_x.py::test_over",
            "  updated test_x.py::test_under",
            f"  pinned  test_x.py::test_pinned (set in code at {pinned_at})",
            "  stale   test_x.py::test_removed (no test matched it)",
        ]
    )
    # the status says what the update did (issue 17, 18): no "over" row but the pinned one
    assert {row["test"]: row["status"] for row in summary(result)} == {
        "test_x.py::test_pinned": "over:flops",  # its limit is in code: the update left it
        "test_x.py::test_over": "updated",
        "test_x.py::test_under": "updated",
        "test_x.py::test_fine": "new",  # a first run: not in the last run; its entry unchanged
        "test_x.py::test_glob_a": "new",
    }

    after = pyproject_text(pytester)
    old, new = before.splitlines(), after.splitlines()
    assert len(new) == len(old) and after.endswith("\n")
    changed = {i: (old[i], new[i]) for i in range(len(old)) if old[i] != new[i]}
    assert f"{FLOPS / 1000:g}" == "0.84"
    assert sorted(changed.values()) == sorted(
        [
            ("max_kflops = 0.5  # tight", "max_kflops = 0.84  # tight"),  # the key kept
            ('max_flops = "10K"   # generous', f"max_flops = {FLOPS}   # generous"),
            ("max_params = 1000", f"max_params = {PARAMS}"),
        ]
    )
    assert "test_x.py::test_pinned" not in after

    # right after: nothing to do, and the file is left as it is
    again = pytester.runpytest("--flop-budget-update")
    again.assert_outcomes(passed=5)
    again.stdout.fnmatch_lines(
        [f"flop budget update ({path}): 0 updated, 0 new, 4 unchanged, 1 pinned"]
    )
    assert pyproject_text(pytester) == after

    # a narrowed run cannot call an entry stale
    narrowed = pytester.runpytest("--flop-budget-update", "test_x.py::test_over")
    narrowed.stdout.fnmatch_lines(
        [f"flop budget update ({path}): 0 updated, 0 new, 1 unchanged, 0 pinned"]
    )
    assert not any(line.startswith("  stale") for line in narrowed.outlines)


def test_budget_update_gives_an_over_budget_glob_covered_test_its_own_entry(pytester):
    write_pyproject(
        pytester,
        """
        [tool.flopbudget.tests."test_x.py::*"]
        max_flops = 500  # too tight for test_a
        """,
    )
    write_tests(pytester, TREE_MODELS, "def test_a():\n    nn.Linear(10, 10)(x())\n")
    result = pytester.runpytest("--flop-budget-update")
    result.assert_outcomes(passed=1)
    tests = tomllib.loads(pyproject_text(pytester))["tool"]["flopbudget"]["tests"]
    assert tests == {
        "test_x.py::*": {"max_flops": 500},
        "test_x.py::test_a": {"max_flops": FLOPS, "max_params": PARAMS},
    }
    pytester.runpytest().assert_outcomes(passed=1)  # the new entry wins over the glob


NODE = "tests/test_x.py::test_a"


def row(flops: int) -> TestRow:
    return TestRow(
        nodeid=NODE,
        location="tests/test_x.py:1",
        count="all",
        ran_torch_work=True,
        totals={
            "flops": flops,
            "macs": flops // 2,
            "params": 100,
            "nonzero_params": 100,
            "sparse_flops": flops,
            "param_bytes": 0,
        },
    )


@pytest.mark.parametrize(
    ("limit", "rewritten"),
    [(1200, False), (1201, True), (1000, False), (999, True)],  # 1000 measured: +20% is the edge
)
def test_a_limit_is_tightened_only_past_twenty_percent_of_slack(tmp_path, limit, rewritten):
    path = tmp_path / "pyproject.toml"
    path.write_text(f'[tool.flopbudget.tests."{NODE}"]\nmax_flops = {limit}  # kept\n')
    before = path.read_text()
    result = update_pyproject(path, load_config(path), [row(1000)], {}, None)
    assert (result.updated == [NODE]) is rewritten
    expected = before.replace(f"= {limit}", "= 1000") if rewritten else before
    assert path.read_text() == expected


def test_update_help_states_the_headroom_default(pytester):
    """Issue 17, 18: the headroom an update adds unless told otherwise is said where the option
    is described."""
    help_text = " ".join(pytester.runpytest("--help").stdout.str().split())
    assert "--flop-budget-update write the measured values, plus update_headroom (default 0%)" in (
        help_text
    )
    assert load_config(None).update_headroom == 0
