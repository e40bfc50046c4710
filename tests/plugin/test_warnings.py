"""Warnings: unmatched pyproject entries, misspelt tables, warnings made errors."""

from __future__ import annotations

import pytest

from pytest_flopbudget.budgets.config import Config, TestEntry, near_flopbudget, unmatched_entries
from tests.projects import UNMATCHED, make_project, no_traceback, warning_messages
from tests.support import (
    linear_flops,
    linear_params,
    usage_error,
)

FLOPS = linear_flops(4, 10, 10)  # 840


PARAMS = linear_params(10, 10)  # 110


# --- unmatched tests entries ---------------------------------------------------------------------


def test_unmatched_entries_detection_is_exact_or_glob():
    def entry(pattern):
        return TestEntry(pattern=pattern, limits={}, is_glob="*" in pattern or "?" in pattern)

    entries = tuple(entry(p) for p in ("a.py::t1", "a.py::t9", "a.py::t?", "b.py::*", "a.py::*"))
    config = Config(tests=entries)
    assert [e.pattern for e in unmatched_entries(config, ["a.py::t1"])] == ["a.py::t9", "b.py::*"]
    assert unmatched_entries(config, ["a.py::t1", "a.py::t9", "b.py::x"]) == []
    assert [e.pattern for e in unmatched_entries(config, [])] == [e.pattern for e in entries]


def test_a_full_run_warns_about_each_entry_that_matched_no_collected_test(pytester):
    make_project(pytester)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    pyproject = pytester.path / "pyproject.toml"
    warned = warning_messages(result)
    assert len(warned) == 2
    for message, pattern in zip(warned, UNMATCHED, strict=True):
        assert message.startswith(f"[tool.flopbudget.tests.{pattern}] matched no collected test")
    assert "warnings summary" in str(result.stdout)
    # the location is the line of pyproject.toml that holds the entry, not the plugin's source
    lines = pyproject.read_text(encoding="utf-8").splitlines()
    for pattern in UNMATCHED:
        number = next(i for i, line in enumerate(lines, 1) if pattern in line)
        result.stdout.fnmatch_lines([f"  {pyproject}:{number}: FlopBudgetWarning: *{pattern}*"])
    assert "plugin" not in "".join(line for line in result.outlines if "FlopBudgetWarning" in line)


def test_an_unmatched_node_id_suggests_the_nearest_collected_test(pytester):
    make_project(pytester)
    renamed, glob = warning_messages(pytester.runpytest())
    near = "(did you mean 'test_x.py::test_linear'?)"
    assert f"matched no collected test {near} (a node id" in renamed
    assert "did you mean" not in glob  # no collected id is near "test_gone_*.py::*"


@pytest.mark.parametrize(
    "narrowing",
    [
        ["-k", "linear"],
        ["-m", "slow"],
        ["--deselect", "test_x.py::test_linear"],
        ["test_x.py"],
        ["test_x.py::test_linear"],
    ],
    ids=["-k", "-m", "--deselect", "explicit-file", "explicit-node-id"],
)
def test_a_partial_run_warns_about_no_entry(pytester, narrowing):
    make_project(pytester)
    result = pytester.runpytest(*narrowing)
    assert result.ret == pytest.ExitCode.OK
    assert warning_messages(result) == []


def test_a_sharding_plugin_that_deselects_tests_silences_the_warning(pytester):
    make_project(pytester)
    pytester.makeconftest(
        """
        def pytest_collection_modifyitems(config, items):
            kept = [item for item in items if item.name == "test_linear"]
            config.hook.pytest_deselected(items=[i for i in items if i not in kept])
            items[:] = kept
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert warning_messages(result) == []


def test_a_collection_error_hides_tests_so_nothing_is_called_unmatched(pytester):
    make_project(pytester)
    pytester.makepyfile(test_broken="import no_such_module_anywhere\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert warning_messages(result) == []


def test_an_unmatched_entry_fails_nothing_even_when_all_entries_are_unmatched(pytester):
    make_project(pytester, '[tool.flopbudget.tests."test_x.py::test_nothing_like_it"]\n')
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    assert len(warning_messages(result)) == 1


def test_warnings_made_errors_by_a_filter_are_a_usage_error_not_an_internal_error(pytester):
    make_project(pytester)
    result = pytester.runpytest("-W", "error::pytest_flopbudget.plugin.FlopBudgetWarning")
    message = usage_error(result)
    no_traceback(result)
    pyproject = pytester.path / "pyproject.toml"
    assert f"{pyproject}:6: [tool.flopbudget.tests.{UNMATCHED[0]}] matched no collected test" in (
        message
    )


# --- misspelled [tool.flopbudget] tables ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "near"),
    [
        ("flopbudgets", True),
        ("flop_budget", True),
        ("flop-budget", True),
        ("flopbuget", True),
        ("FlopBudget", True),
        ("flop_budgets", True),
        ("flopbudget", False),
        ("flop", False),
        ("budget", False),
        ("pytest", False),
        ("ruff", False),
        ("fvcore", False),
    ],
)
def test_near_flopbudget_recognises_misspellings_only(name, near):
    assert near_flopbudget(name) is near


@pytest.mark.parametrize("table", ["flopbudgets", "flop_budget", "flop-budget", "flopbuget"])
def test_a_table_named_close_to_flopbudget_is_a_warning_naming_file_and_table(pytester, table):
    make_project(pytester, f"[tool.{table}]\nmax_gflops = 1\n")
    result = pytester.runpytest("-k", "linear")  # a config warning: partial runs too
    assert result.ret == pytest.ExitCode.OK
    assert warning_messages(result) == [
        f"{pytester.path / 'pyproject.toml'}: [tool.{table}] is not read by pytest-flopbudget; "
        "did you mean [tool.flopbudget]?"
    ]


def test_the_right_table_and_unrelated_tables_are_not_warned_about(pytester):
    make_project(pytester, "[tool.flopbudget]\nmax_gflops = 1\n\n[tool.ruff]\nline-length = 99\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.OK
    assert warning_messages(result) == []


# --- malformed baselines -------------------------------------------------------------------------

NODE = "test_x.py::test_linear"


def entry(**totals: object) -> dict:
    return {"nodeid": NODE, "totals": {"flops": FLOPS, "params": PARAMS, **totals}}
