"""Why it grew (issue 12, items 1-3): module deltas in failures and the Markdown report, the
notes on what changed besides the model (torch, formulas, op sets), the verdict-first Markdown,
the output caps, and `flopbudget diff`.

Closed forms: nn.Linear(i, o) on a (b, i) input is b·i·o MACs and, under "all", 2 FLOPs per MAC
plus 1 per output element for the bias add; ReLU 1 per element. A Block is Linear(10, 10) then
ReLU on a (4, 10) input; Net is a stem Linear(10, 10) then `n` Blocks in a Sequential.
"""

from __future__ import annotations

import json
import re
import textwrap
from importlib.metadata import version
from pathlib import Path

import pytest
import torch  # noqa: F401  (imported once: pytester's in-process runs drop what they import)

import pytest_flopbudget.engine.counter  # noqa: F401
from pytest_flopbudget import cli
from pytest_flopbudget.budgets.verdict import TestRow
from pytest_flopbudget.engine.registry import Registry, _builtin_entries, fingerprint
from pytest_flopbudget.reporting.markdown import MARKDOWN_ROWS, markdown_report
from pytest_flopbudget.text import human

from .pytester_support import isolate_inner_runs, linear_flops, linear_params, pct, row_of

B, D = 4, 10
STEM = linear_flops(B, D, D)
BLOCK = linear_flops(B, D, D) + B * D  # the Linear, then ReLU: 1 per element
BLOCK_PARAMS = linear_params(D, D)
assert (STEM, BLOCK) == (840, 880)


def net_flops(n: int) -> int:
    return STEM + n * BLOCK


def net_params(n: int) -> int:
    return linear_params(D, D) + n * BLOCK_PARAMS


TESTS = """
import pytest
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 10)

    def forward(self, x):
        return torch.relu(self.fc(x))


class Net(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.stem = nn.Linear(10, 10)
        self.blocks = nn.Sequential(*[Block() for _ in range(n)])

    def forward(self, x):
        return self.blocks(self.stem(x))


class Odd(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 10)

    def forward(self, x):
        return torch.logcumsumexp(self.fc(x), -1)  # no cost formula: uncounted


def x():
    return torch.randn(4, 10)


@pytest.mark.flop_budget(max_gflops=1)
def test_grows():
    Net({n})(x())


@pytest.mark.flop_budget(max_flops={limit})
def test_over():
    Net({n})(x())


@pytest.mark.flop_budget(max_gflops=1)
def test_same():
    nn.Linear(10, 10)(x())


@pytest.mark.flop_budget(max_gflops=1)
def test_uncounted():
    Odd()(x())


@pytest.mark.flop_budget(max_gflops=1)
def test_ops():
    {ops_model}(x())
"""
LIMIT = (net_flops(3) + net_flops(4)) // 2  # the 3-block Net is within, the 4-block one over


@pytest.fixture(autouse=True)
def _inner_run_environment(pytester, monkeypatch):
    isolate_inner_runs(monkeypatch)
    monkeypatch.delenv("GITHUB_SHA", raising=False)


def write_tests(pytester: pytest.Pytester, n: int, relu: bool = False) -> None:
    ops_model = "nn.Sequential(nn.Linear(10, 10), nn.ReLU())" if relu else "nn.Linear(10, 10)"
    text = TESTS.format(n=n, limit=LIMIT, ops_model=ops_model)
    pytester.makepyfile(test_x=textwrap.dedent(text))


def failure_of(result: pytest.RunResult, name: str) -> list[str]:
    reports = result.reprec.getreports("pytest_runtest_logreport")
    (report,) = [r for r in reports if r.failed and r.nodeid.endswith(f"::{name}")]
    return str(report.longrepr).splitlines()


def module_lines(n_before: int, n_after: int) -> list[str]:
    """What a growth from `n_before` to `n_after` blocks lists: the Sequential's change (the
    root holds all the work on both sides: left out), then the new blocks (their Linear inside
    them is covered by the block's line)."""
    before, after = n_before * BLOCK, n_after * BLOCK
    lines = [f"Net.blocks (Sequential) {human(before)} → {human(after)} ({pct(after, before)})"]
    lines += [f"new: Net.blocks.{i} (Block) {human(BLOCK)}" for i in range(n_before, n_after)]
    return lines


def make_baseline(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
    write_tests(pytester, 3)
    pytester.runpytest("--flop-report=json:base.json").assert_outcomes(passed=5)
    monkeypatch.delenv("GITHUB_SHA")
    return json.loads((pytester.path / "base.json").read_text(encoding="utf-8"))


# --- 1. why it grew -------------------------------------------------------------------------------


def test_json_report_v2_keeps_each_tests_module_tree_and_op_totals(pytester, monkeypatch):
    report = make_baseline(pytester, monkeypatch)
    assert report["schema_version"] == 2
    assert report["commit"] == "0123456789abcdef0123456789abcdef01234567"
    grows = next(t for t in report["tests"] if t["nodeid"] == "test_x.py::test_grows")
    modules = {m["name"]: m for m in grows["modules"]}
    assert modules["Net"]["flops"] == net_flops(3) and modules["Net"]["params"] == net_params(3)
    assert modules["Net.blocks"] == {
        "name": "Net.blocks",
        "type": "Sequential",
        "calls": 1,
        "macs": 3 * B * D * D,
        "flops": 3 * BLOCK,
        "params": 3 * BLOCK_PARAMS,
    }
    assert modules["Net.blocks.2.fc"]["flops"] == linear_flops(B, D, D)
    assert len(grows["modules"]) == 1 + 1 + 1 + 3 * 2 and grows["modules_left_out"] == 0
    flops = [m["flops"] for m in grows["modules"]]
    assert flops == sorted(flops, reverse=True)  # the costliest first
    assert grows["ops"] == {
        "aten.addmm": {"calls": 4, "macs": 4 * B * D * D, "flops": 4 * linear_flops(B, D, D)},
        "aten.relu": {"calls": 3, "macs": 0, "flops": 3 * B * D},
    }


def test_growth_failure_lists_the_modules_that_grew_against_the_baseline(pytester, monkeypatch):
    make_baseline(pytester, monkeypatch)
    write_tests(pytester, 4)
    result = pytester.runpytest("--flop-baseline=base.json", "--flop-fail-on-increase=5%")
    result.assert_outcomes(passed=3, failed=2)
    lines = failure_of(result, "test_grows")
    before, after = net_flops(3), net_flops(4)
    assert lines[0] == (
        f"FLOPs grew {pct(after, before)} over the baseline: {human(before, 'FLOPs')} -> "
        f"{human(after, 'FLOPs')} (allowed +5.0%)"
    )
    assert lines[1].startswith(f"params grew {pct(net_params(4), net_params(3))}")
    start = lines.index("FLOPs by module against the baseline:")
    assert lines[start + 1 : start + 3] == [f"  {line}" for line in module_lines(3, 4)]


def test_budget_failure_lists_module_changes_against_the_last_run(pytester):
    write_tests(pytester, 3)
    pytester.runpytest().assert_outcomes(passed=5)  # the last run, in the cache
    write_tests(pytester, 5)
    result = pytester.runpytest()
    result.assert_outcomes(passed=4, failed=1)
    lines = failure_of(result, "test_over")
    assert lines[0].startswith(f"FLOP budget exceeded: {human(net_flops(5), 'FLOPs')} > ")
    start = lines.index("FLOPs by module against the last run:")
    assert lines[start + 1 : start + 4] == [f"  {line}" for line in module_lines(3, 5)]


def test_markdown_shows_module_deltas_in_a_details_block_per_grown_test(pytester, monkeypatch):
    make_baseline(pytester, monkeypatch)
    write_tests(pytester, 4)
    result = pytester.runpytest(
        "--flop-baseline=base.json", "--flop-fail-on-increase=5%", "--flop-report=markdown:pr.md"
    )
    result.assert_outcomes(passed=3, failed=2)
    text = (pytester.path / "pr.md").read_text(encoding="utf-8")
    for name in ("test_grows", "test_over"):
        summary = (
            f"<details><summary><code>test_x.py::{name}</code>: FLOPs by module against the "
            "baseline</summary>"
        )
        assert summary in text
        block = text[text.index(summary) :]
        block = block[: block.index("</details>")]
        assert block.splitlines()[2:4] == [f"- `{line}`" for line in module_lines(3, 4)]
    assert "<code>test_x.py::test_same</code>" not in text  # unchanged: no block


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


def test_a_conftest_formula_added_since_the_baseline_changes_the_fingerprint(pytester, monkeypatch):
    report = make_baseline(pytester, monkeypatch)
    (old,) = {t["fingerprint"] for t in report["tests"]}
    pytester.makeconftest(
        """
        from pytest_flopbudget import Cost

        def pytest_flopbudget_formulas():
            return {"aten::logcumsumexp": lambda args, kwargs, out: Cost(other_flops=out.numel())}
        """
    )
    result = pytester.runpytest("--flop-baseline=base.json", "--flop-report=json:now.json")
    result.assert_outcomes(passed=5)
    now = json.loads((pytester.path / "now.json").read_text(encoding="utf-8"))
    (new,) = {t["fingerprint"] for t in now["tests"]}
    assert new != old
    assert (
        f"flop budget: baseline made with cost formulas {old}, now cost formulas {new}: some "
        "deltas may come from the counter"
    ) in result.outlines
    # the priced op was run before too (then uncounted): its test's op set did not change
    assert not any(line.startswith("ops changed since") for line in result.outlines)


def test_tests_whose_set_of_ops_changed_are_marked(pytester, monkeypatch):
    make_baseline(pytester, monkeypatch)
    write_tests(pytester, 3, relu=True)
    result = pytester.runpytest("--flop-baseline=base.json", "--flop-report=markdown:pr.md")
    result.assert_outcomes(passed=5)
    start = result.outlines.index("ops changed since the baseline (a delta may come from them):")
    assert result.outlines[start + 1] == "  test_x.py::test_ops: new aten.relu"
    assert row_of(result, "test_x.py::test_ops")["Δbaseline"] == pct(STEM + B * D, STEM)
    lines = (pytester.path / "pr.md").read_text(encoding="utf-8").splitlines()
    (row,) = [line for line in lines if "`test_x.py::test_ops`" in line and line.startswith("|")]
    assert row.startswith("| ✅ ok † |")
    assert "- `test_x.py::test_ops`: new aten.relu" in lines


# --- 3. a Markdown report a reviewer trusts -------------------------------------------------------


def test_markdown_starts_with_the_verdict_and_names_baseline_and_threshold(pytester, monkeypatch):
    report = make_baseline(pytester, monkeypatch)
    write_tests(pytester, 4)
    result = pytester.runpytest(
        "--flop-baseline=base.json", "--flop-fail-on-increase=5%", "--flop-report=markdown:pr.md"
    )
    result.assert_outcomes(passed=3, failed=2)
    lines = (pytester.path / "pr.md").read_text(encoding="utf-8").splitlines()
    # test_over is over its budget (and grew); test_grows only grew
    assert (
        lines[0] == "### ❌ FLOP budget: 2 budgeted tests failed: 1 over budget, 1 grew past +5.0%"
    )
    assert lines[2] == (
        f"Compared with the baseline `base.json` (made {report['created']}, commit "
        "`0123456789ab`); growth allowed: +5.0%."
    )
    statuses = [line.split("|")[1].strip() for line in lines if line.startswith("| ")][1:]
    # the three unchanged tests are counted, not shown; a status names what failed
    assert statuses == ["🔴 over:flops", "🟠 grew:flops+params"]
    assert "3 unchanged tests not shown." in lines
    assert "- `test_x.py::test_uncounted`: `aten.logcumsumexp` ×1" in lines


def test_markdown_verdict_when_everything_is_within_budget(pytester):
    write_tests(pytester, 3)
    pytester.runpytest("--flop-report=markdown:pr.md").assert_outcomes(passed=5)
    lines = (pytester.path / "pr.md").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "### ✅ FLOP budget: 5 budgeted tests within budget"
    assert (
        lines[2] == "Compared with the last run; growth not checked (no --flop-fail-on-increase)."
    )


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


def test_markdown_caps_its_rows_and_counts_the_rest():
    def row(i: int, flops: int) -> TestRow:
        return TestRow(
            f"test_{i:04d}_{'y' * 2000}",
            "t.py:1",
            "all",
            True,
            {"flops": flops, "macs": 0, "params": 1, "nonzero_params": 1, "sparse_flops": flops},
        )

    rows = [row(i, 2) for i in range(600)] + [row(600 + i, 1) for i in range(10)]
    previous = {r.nodeid: {"flops": 1, "params": 1} for r in rows}
    text = markdown_report(rows, previous, "last")
    assert len(text.encode()) < 2**20
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + MARKDOWN_ROWS  # the header, then the rows
    assert f"{600 - MARKDOWN_ROWS} more changed tests and 10 unchanged tests not shown." in text


# --- the registry's fingerprint -------------------------------------------------------------------


def test_fingerprint_follows_the_formulas_not_the_registry_object():
    from pytest_flopbudget.engine.cost import Cost

    builtin = Registry(_builtin_entries())
    assert fingerprint(builtin) == fingerprint(Registry(_builtin_entries()))
    assert re.fullmatch("[0-9a-f]{12}", fingerprint(builtin))

    def factory(k: int):
        return lambda args, kwargs, out: Cost(other_flops=k)

    two = builtin.stacked({"mylib::op": factory(2)}, "conftest a/conftest.py")
    three = builtin.stacked({"mylib::op": factory(3)}, "conftest a/conftest.py")
    elsewhere = builtin.stacked({"mylib::op": factory(2)}, "conftest b/conftest.py")
    assert len({fingerprint(builtin), fingerprint(two), fingerprint(three)}) == 3
    assert fingerprint(two) == fingerprint(elsewhere)  # a checkout's path is not the formula


# --- flopbudget diff ------------------------------------------------------------------------------


@pytest.fixture
def two_reports(pytester, monkeypatch) -> tuple[str, str]:
    make_baseline(pytester, monkeypatch)
    write_tests(pytester, 4)
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
