"""Why it grew: module deltas against the baseline or the last run, and what changed besides
the model."""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest
import torch  # noqa: F401  (imported once: pytester's in-process runs drop what they import)

from pytest_flopbudget.text import human
from tests.projects import make_baseline, module_lines, net_flops, net_params, write_growing_tests
from tests.support import linear_flops, pct, row_of

B, D = 4, 10


STEM = linear_flops(B, D, D)


def failure_of_test(result: pytest.RunResult, name: str) -> list[str]:
    reports = result.reprec.getreports("pytest_runtest_logreport")
    (report,) = [r for r in reports if r.failed and r.nodeid.endswith(f"::{name}")]
    return str(report.longrepr).splitlines()


def test_growth_failure_lists_the_modules_that_grew_against_the_baseline(pytester, monkeypatch):
    make_baseline(pytester, monkeypatch)
    write_growing_tests(pytester, 4)
    result = pytester.runpytest("--flop-baseline=base.json", "--flop-fail-on-increase=5%")
    result.assert_outcomes(passed=3, failed=2)
    lines = failure_of_test(result, "test_grows")
    before, after = net_flops(3), net_flops(4)
    assert lines[0] == (
        f"FLOPs grew {pct(after, before)} over the baseline: {human(before, 'FLOPs')} -> "
        f"{human(after, 'FLOPs')} (allowed +5.0%)"
    )
    assert lines[1].startswith(f"params grew {pct(net_params(4), net_params(3))}")
    start = lines.index("FLOPs by module against the baseline:")
    assert lines[start + 1 : start + 3] == [f"  {line}" for line in module_lines(3, 4)]


def test_budget_failure_lists_module_changes_against_the_last_run(pytester):
    write_growing_tests(pytester, 3)
    pytester.runpytest().assert_outcomes(passed=5)  # the last run, in the cache
    write_growing_tests(pytester, 5)
    result = pytester.runpytest()
    result.assert_outcomes(passed=4, failed=1)
    lines = failure_of_test(result, "test_over")
    assert lines[0].startswith(f"FLOP budget exceeded: {human(net_flops(5), 'FLOPs')} > ")
    start = lines.index("FLOPs by module against the last run:")
    assert lines[start + 1 : start + 4] == [f"  {line}" for line in module_lines(3, 5)]


# --- 2. what changed besides the model ------------------------------------------------------------


def test_a_baseline_from_another_torch_is_noted_in_the_summary_and_markdown(pytester, monkeypatch):
    report = make_baseline(pytester, monkeypatch)
    report["torch_version"] = "2.0.0"
    (pytester.path / "base.json").write_text(json.dumps(report), encoding="utf-8")
    result = pytester.runpytest("--flop-baseline=base.json", "--flop-report=markdown:pr.md")
    result.assert_outcomes(passed=5)
    note = (
        f"baseline made with torch 2.0.0, now {version('torch')}: some deltas may come from the "
        "counter"
    )
    assert f"flop budget: {note}" in result.outlines
    text = (pytester.path / "pr.md").read_text(encoding="utf-8")
    assert f"⚠️ B{note[1:]}." in text.splitlines()


def test_same_counter_gives_no_note(pytester, monkeypatch):
    make_baseline(pytester, monkeypatch)
    result = pytester.runpytest("--flop-baseline=base.json", "--flop-report=markdown:pr.md")
    result.assert_outcomes(passed=5)
    assert not any("some deltas may come from the counter" in line for line in result.outlines)
    assert "⚠️" not in (pytester.path / "pr.md").read_text(encoding="utf-8")


def test_tests_whose_set_of_ops_changed_are_marked(pytester, monkeypatch):
    make_baseline(pytester, monkeypatch)
    write_growing_tests(pytester, 3, relu=True)
    result = pytester.runpytest("--flop-baseline=base.json", "--flop-report=markdown:pr.md")
    result.assert_outcomes(passed=5)
    start = result.outlines.index("ops changed since the baseline (a delta may come from them):")
    assert result.outlines[start + 1] == "  test_x.py::test_ops: new aten.relu"
    assert row_of(result, "test_x.py::test_ops")["Δbaseline"] == pct(STEM + B * D, STEM)
    lines = (pytester.path / "pr.md").read_text(encoding="utf-8").splitlines()
    (row,) = [line for line in lines if "`test_x.py::test_ops`" in line and line.startswith("|")]
    assert row.startswith("| ✅ ok † |")
    assert "- `test_x.py::test_ops`: new aten.relu" in lines


# --- output bounds --------------------------------------------------------------------------------


def test_many_gone_tests_give_a_capped_line_and_a_markdown_under_one_mib(pytester, monkeypatch):
    report = make_baseline(pytester, monkeypatch)
    gone = [f"test_old.py::test_{i:05d}_{'x' * 300}" for i in range(5000)]
    entry = {"totals": {"flops": 1, "params": 1}, "modules": [], "ops": {}}
    report["tests"] += [{"nodeid": nodeid, **entry} for nodeid in gone]
    (pytester.path / "base.json").write_text(json.dumps(report), encoding="utf-8")
    result = pytester.runpytest(
        "--flop-baseline=base.json", "--flop-report=markdown:pr.md", "--flop-report=json:now.json"
    )
    result.assert_outcomes(passed=5)
    (line,) = [line for line in result.outlines if line.startswith("gone since the baseline")]
    assert line.startswith("gone since the baseline (5000): test_old.py::test_00000_")
    assert line.endswith(f"test_old.py::test_00019_{'x' * 300} … and 4980 more")
    markdown = (pytester.path / "pr.md").read_bytes()
    assert len(markdown) < 2**20
    assert markdown.decode().rstrip().endswith("… and 4980 more")
    now = json.loads((pytester.path / "now.json").read_text(encoding="utf-8"))
    assert len(now["gone"]) == 5000  # the JSON report keeps them all
