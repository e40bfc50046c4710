"""flopbudget diff of two JSON reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch  # noqa: F401  (imported once: pytester's in-process runs drop what they import)

from pytest_flopbudget import cli
from pytest_flopbudget.text import human
from tests.projects import make_baseline, module_lines, net_flops, net_params, write_growing_tests
from tests.support import pct

# --- flopbudget diff ------------------------------------------------------------------------------


@pytest.fixture
def two_reports(pytester, monkeypatch) -> tuple[str, str]:
    make_baseline(pytester, monkeypatch)
    write_growing_tests(pytester, 4)
    pytester.runpytest("--flop-report=json:new.json").assert_outcomes(passed=4, failed=1)
    return str(pytester.path / "base.json"), str(pytester.path / "new.json")


def test_diff_lists_changed_tests_and_modules_and_exits_0_without_a_threshold(two_reports, capsys):
    base, new = two_reports
    assert cli.main(["diff", base, new]) == 0
    out = capsys.readouterr().out.splitlines()
    before, after = net_flops(3), net_flops(4)
    flops = f"FLOPs {human(before)} → {human(after)} ({pct(after, before)})"
    params = f"params {human(net_params(3))} → {human(net_params(4))}"
    params += f" ({pct(net_params(4), net_params(3))})"
    for name in ("test_grows", "test_over"):
        start = out.index(f"changed  test_x.py::{name}: {flops}, {params}")
        assert out[start + 1 : start + 3] == [f"  {line}" for line in module_lines(3, 4)]
    assert out[-1] == "5 tests: 2 changed, 3 unchanged (not shown)"


def test_diff_exits_1_when_a_test_grew_past_the_threshold(two_reports, capsys):
    base, new = two_reports
    grown = net_flops(4) / net_flops(3) - 1
    assert round(grown * 100, 1) == 25.3
    assert cli.main(["diff", base, new, "--fail-on-increase", "5%"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("grew     test_x.py::test_grows: FLOPs ")
    assert out[-1] == "5 tests: 2 grew past +5.0%, 3 unchanged (not shown)"
    assert pct(net_params(4), net_params(3)) == "+25.0%"  # params grew less than FLOPs
    assert cli.main(["diff", base, new, "--fail-on-increase=25.2%"]) == 1
    assert cli.main(["diff", base, new, "--fail-on-increase=25.4%"]) == 0
    assert cli.main(["diff", base, base, "--fail-on-increase=0%"]) == 0


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        ("missing", "no such file"),
        ("not-json", "not JSON"),
        ("wrong-schema", "not a pytest-flopbudget report"),
        ("bad-totals", 'totals "flops" must be a non-negative integer, got "abc"'),
        ("bad-pct", "--fail-on-increase"),
        ("one-file", "the following arguments are required"),
        ("empty-base", "BASE.json is empty: an environment variable in it is probably unset"),
        ("empty-new", "NEW.json is empty: an environment variable in it is probably unset"),
    ],
)
def test_diff_exits_2_on_bad_input_with_one_line_on_stderr(two_reports, capsys, case, problem):
    base, new = two_reports
    broken = base + ".broken"
    args = ["diff", base, broken]
    if case == "not-json":
        Path(broken).write_text("{nope")
    elif case == "wrong-schema":
        Path(broken).write_text('{"tests": []}')
    elif case == "bad-totals":
        report = json.loads(Path(new).read_text())
        report["tests"][0]["totals"]["flops"] = "abc"
        Path(broken).write_text(json.dumps(report))
    elif case == "bad-pct":
        args = ["diff", base, new, "--fail-on-increase", "lots"]
    elif case == "one-file":
        args = ["diff", base]
    elif case == "empty-base":  # flopbudget diff "$BASE" new.json, BASE unset
        args = ["diff", "", new]
    elif case == "empty-new":
        args = ["diff", base, " "]
    assert cli.main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("flopbudget diff: error: ") and problem in line


def test_a_model_named_diff_is_still_counted_as_a_model(tmp_path, monkeypatch, capsys):
    # `flopbudget ./diff` is the MODEL file named diff, not the subcommand
    monkeypatch.chdir(tmp_path)
    assert cli.main(["./diff", "--input-shape", "1,1"]) == 2
    assert "flopbudget diff:" not in capsys.readouterr().err
