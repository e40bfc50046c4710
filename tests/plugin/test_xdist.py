"""Runs under pytest-xdist."""

from __future__ import annotations

import json

import pytest

from tests.projects import (
    UNMATCHED,
    junit_properties,
    load_json,
    make_project,
    pyproject_text,
    warning_messages,
)
from tests.support import (
    FLOPS,
    PARAMS,
    TREE_MODELS,
    summary,
    write_pyproject,
    write_tests,
)

# --- 8. pytest-xdist ------------------------------------------------------------------------------

XDIST_TESTS = """
@pytest.mark.flop_budget(max_flops=100)
def test_pinned():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget
def test_new():
    nn.Linear(10, 20)(x())

@pytest.mark.flop_budget(max_gflops=1)
def test_two():
    Two()(x())

def test_over():
    nn.Linear(10, 10)(x())

def test_unbudgeted():
    pass
"""


XDIST_PYPROJECT = """
[tool.flopbudget.tests."test_x.py::test_over"]
max_kflops = 0.5  # tight

[tool.flopbudget.tests."test_x.py::test_removed"]
max_gflops = 1
"""


def test_xdist_run_matches_a_serial_run(pytester):
    pytest.importorskip("xdist")
    write_tests(pytester, TREE_MODELS, XDIST_TESTS)
    baseline = {
        "schema": "pytest-flopbudget/report",
        "schema_version": 1,
        "tests": [
            {"nodeid": "test_x.py::test_two", "totals": {"flops": FLOPS, "params": PARAMS}},
            {"nodeid": "test_x.py::test_gone", "totals": {"flops": FLOPS, "params": PARAMS}},
        ],
    }
    (pytester.path / "base.json").write_text(json.dumps(baseline), encoding="utf-8")
    args = [
        *("-p", "no:cacheprovider", "--flop-baseline=base.json", "--flop-budget-update"),
        *("--flop-report=json:{}.json", "--junitxml={}.xml"),
    ]
    runs = {}
    for name, extra in (("serial", []), ("xdist", ["-n", "2"])):
        write_pyproject(pytester, XDIST_PYPROJECT)
        result = pytester.runpytest(*extra, *(arg.format(name) for arg in args))
        result.assert_outcomes(passed=5)
        runs[name] = (result, pyproject_text(pytester))

    serial, xdist = runs["serial"][0], runs["xdist"][0]
    assert "2 workers [5 items]" in xdist.stdout.str()  # really distributed
    assert len(summary(serial)) == 4
    assert summary(xdist) == summary(serial)
    assert "gone since the baseline: test_x.py::test_gone" in xdist.outlines

    def update_lines(result):
        lines = result.outlines
        start = next(i for i, line in enumerate(lines) if line.startswith("flop budget update"))
        end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("  "))
        return lines[start:end]

    assert update_lines(xdist) == update_lines(serial)
    assert "  stale   test_x.py::test_removed (no test matched it)" in update_lines(xdist)
    assert runs["xdist"][1] == runs["serial"][1]
    assert "test_x.py::test_new" in runs["xdist"][1]

    reports = {name: load_json(pytester, f"{name}.json") for name in runs}
    for report in reports.values():
        del report["created"]
    assert reports["xdist"] == reports["serial"]
    assert reports["xdist"]["gone"] == ["test_x.py::test_gone"]
    assert junit_properties(pytester.path / "xdist.xml") == junit_properties(
        pytester.path / "serial.xml"
    )
    assert junit_properties(pytester.path / "xdist.xml")["test_two"]["flopbudget_flops"] == str(
        2 * FLOPS
    )


def test_under_xdist_the_controller_warns_once_and_the_workers_not_at_all(pytester):
    pytest.importorskip("xdist")
    make_project(pytester)
    result = pytester.runpytest("-n", "2")
    result.assert_outcomes(passed=2)
    warned = warning_messages(result)
    assert len(warned) == 2
    for message, pattern in zip(warned, UNMATCHED, strict=True):
        assert f"[tool.flopbudget.tests.{pattern}] matched no collected test" in message
    assert warning_messages(pytester.runpytest("-n", "2", "-k", "linear")) == []
