"""Why it grew: module deltas against the baseline or the last run, and what changed besides
the model."""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest
import torch  # noqa: F401  (imported once: pytester's in-process runs drop what they import)

from pytest_flopbudget import cli
from pytest_flopbudget.reporting.deltas import (
    ModuleChanges,
    WhyItChanged,
    change_lines,
    explanation,
    heading,
    module_changes,
    phase_changes,
)
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
        f"FLOPs grew {pct(after, before)} over the baseline: {human(before, 'FLOPs')} → "
        f"{human(after, 'FLOPs')} (allowed +5.0%)"
    )
    assert lines[1].startswith(f"params grew {pct(net_params(4), net_params(3))}")
    expected = module_lines(3, 4, "the baseline")
    start = lines.index(expected[0])
    assert lines[start : start + 2] == expected


def test_budget_failure_lists_module_changes_against_the_last_run(pytester):
    write_growing_tests(pytester, 3)
    pytester.runpytest().assert_outcomes(passed=5)  # the last run, in the cache
    write_growing_tests(pytester, 5)
    result = pytester.runpytest()
    result.assert_outcomes(passed=4, failed=1)
    lines = failure_of_test(result, "test_over")
    assert lines[0].startswith(f"FLOP budget exceeded: {human(net_flops(5), 'FLOPs')} > ")
    expected = module_lines(3, 5, "the last run")
    start = lines.index(expected[0])
    assert lines[start : start + 3] == expected


# --- the modules that explain a change ------------------------------------------------------------

WIDENING_CNN = """
import pytest
import torch
from torch import nn


class Stage(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class CNN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.stem = Stage(3, c)
        self.block1 = Stage(c, c)
        self.block2 = Stage(c, c)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, 10)

    def forward(self, x):
        x = self.block2(self.block1(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


@pytest.mark.flop_budget(max_gflops=1)
def test_cnn():
    CNN({c}).eval()(torch.randn(1, 3, 16, 16))
"""

HW = 16 * 16  # output positions of every 3×3 convolution (padding 1)


def stage_flops(cin: int, cout: int) -> int:
    """conv: 2 FLOPs per MAC (9·cin per output) + 1 per output for the bias; batch norm on
    running statistics: 4 per element; ReLU: 1 per element."""
    return 2 * HW * cout * cin * 9 + HW * cout + 4 * HW * cout + HW * cout


def cnn_flops(c: int) -> dict[str, int]:
    """Per module; the average pool: k + 1 per output (k = 16·16), the head Linear(c, 10)."""
    modules = {"stem": stage_flops(3, c), "block1": stage_flops(c, c)}
    modules |= {"block2": stage_flops(c, c), "pool": (HW + 1) * c, "fc": 2 * c * 10 + 10}
    return {"CNN": sum(modules.values()), **{f"CNN.{name}": f for name, f in modules.items()}}


def test_widening_a_cnn_names_the_two_blocks_that_explain_it_everywhere(pytester, capsys):
    """The issue's example: channels 32 → 36. Each block's convolution, batch norm and ReLU all
    widened, so the block stands for them; the two blocks are 97% of the change, so the stem,
    the pool and the head are a count. The failure, the Markdown and `flopbudget diff` agree."""
    before, after = cnn_flops(32), cnn_flops(36)
    delta = after["CNN"] - before["CNN"]
    explained = 2 * (after["CNN.block1"] - before["CNN.block1"])
    assert (delta, explained, 100 * explained // delta) == (2_581_588, 2_519_040, 97)
    heading = f"2 modules explain 97% of +{human(delta, 'FLOPs')}"
    blocks = [
        f"CNN.{name} (Stage) {human(before[f'CNN.{name}'])} → {human(after[f'CNN.{name}'])} "
        f"({pct(after[f'CNN.{name}'], before[f'CNN.{name}'])})"
        for name in ("block1", "block2")
    ]
    rest = "… and 3 more changed modules"
    assert heading == "2 modules explain 97% of +2.58 MFLOPs"

    pytester.makepyfile(test_x=WIDENING_CNN.format(c=32))
    pytester.runpytest("--flop-report=json:base.json").assert_outcomes(passed=1)
    pytester.makepyfile(test_x=WIDENING_CNN.format(c=36))
    result = pytester.runpytest(
        "--flop-baseline=base.json",
        "--flop-fail-on-increase=5%",
        "--flop-report=json:new.json",
        "--flop-report=markdown:pr.md",
    )
    result.assert_outcomes(failed=1)
    lines = failure_of_test(result, "test_cnn")
    start = lines.index(f"FLOPs by module against the baseline: {heading}")
    assert lines[start + 1 : start + 5] == [*(f"  {line}" for line in blocks), f"  {rest}", ""]
    top = lines[start + 5 :]
    assert top[0] == "top modules by FLOPs (all convention, besides those above):"
    assert not any(line.startswith(("  CNN.block1 ", "  CNN.block2 ")) for line in top)

    markdown = (pytester.path / "pr.md").read_text(encoding="utf-8")
    summary = f"<code>test_x.py::test_cnn</code>: FLOPs by module against the baseline: {heading}"
    block = markdown[markdown.index(summary) :]
    assert block[: block.index("</details>")].splitlines()[2:-1] == [
        f"- `{line}`" for line in [*blocks, rest]
    ]

    capsys.readouterr()
    assert cli.main(["diff", "base.json", "new.json"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:5] == [f"  FLOPs by module: {heading}", *(f"    {x}" for x in [*blocks, rest])]
    assert out[-1] == "1 test: 1 changed"


def entry(flops: dict[str, int], total: int | None = None) -> dict:
    """A JSON report's test entry holding a module tree (types are not compared)."""
    modules = [{"name": name, "type": "M", "flops": f} for name, f in flops.items()]
    return {
        "totals": {"flops": max(flops.values()) if total is None else total},
        "modules": modules,
    }


def test_a_parent_whose_children_did_not_all_change_gives_way_to_the_ones_that_did():
    """Net.a's children: x grew by 90, y stayed: Net.a.x is named, not Net.a. Net.b and its one
    child both grew: Net.b stands. Net.c's own work grew (its child did not): Net.c stands."""
    before = {"Net": 1000, "Net.a": 300, "Net.a.x": 100, "Net.a.y": 200}
    before |= {"Net.b": 100, "Net.b.z": 100, "Net.c": 600, "Net.c.w": 50}
    after = {"Net": 1000 + 90 + 5 + 5, "Net.a": 390, "Net.a.x": 190, "Net.a.y": 200}
    after |= {"Net.b": 105, "Net.b.z": 105, "Net.c": 605, "Net.c.w": 50}
    changes = module_changes(entry(before), entry(after))
    assert [c.name for c in changes.changes] == ["Net.a.x", "Net.b"]  # 95 of 100: past 90%
    assert (changes.delta, changes.explained, changes.rest) == (100, 95, 1)
    assert explanation(changes) == "2 modules explain 95% of +100 FLOPs"
    assert change_lines(changes)[-1] == "… and 1 more changed module"


def test_changes_that_pull_both_ways_are_added_up_with_their_signs():
    """+10 in all: +50 in one module, -30, -6 and -4 in others; all four are needed to get
    within 10% of +10, and they explain exactly 100% of it."""
    before = {"Net": 1000, "Net.a": 100, "Net.b": 100, "Net.c": 100, "Net.d": 100}
    after = {"Net": 1010, "Net.a": 150, "Net.b": 70, "Net.c": 94, "Net.d": 96}
    changes = module_changes(entry(before), entry(after))
    assert [c.name for c in changes.changes] == ["Net.a", "Net.b", "Net.c", "Net.d"]
    assert explanation(changes) == "4 modules explain 100% of +10 FLOPs"
    shrunk = module_changes(entry(after), entry(before))
    assert explanation(shrunk) == "4 modules explain 100% of -10 FLOPs"


def test_an_unchanged_total_has_no_share_to_explain():
    before = {"Net": 1000, "Net.a": 600, "Net.b": 400}
    after = {"Net": 1000, "Net.a": 500, "Net.b": 500}
    changes = module_changes(entry(before), entry(after))
    assert [c.name for c in changes.changes] == ["Net.a", "Net.b"]
    assert explanation(changes) == ""
    assert heading(changes, "the baseline") == "FLOPs by module against the baseline"


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


def _phased(**phases: tuple[int, int]) -> dict:
    """A report entry with phases {name: (entries, FLOPs)}."""
    return {
        "phases": {
            name: {"entries": entries, "total": {"flops": flops}}
            for name, (entries, flops) in phases.items()
        }
    }


def test_phase_changes_list_grown_new_and_gone_phases_the_largest_first():
    before = _phased(prefill=(1, 1000), decode=(3, 300), draft=(2, 50))
    after = _phased(prefill=(1, 1000), decode=(4, 500), verify=(1, 80))
    changes = phase_changes(before, after)
    assert [c.text() for c in changes] == [
        "phase decode: 300 → 500 FLOPs (+66.7%), 3 → 4 entries",  # +200
        "new phase verify: 80 FLOPs over 1 entry",  # +80
        "gone phase draft: 50 FLOPs over 2 entries",  # -50
    ]
    why = WhyItChanged("the baseline", ModuleChanges(), changes)  # no module changed
    assert why.lines() == [
        "FLOPs by phase against the baseline:",
        *(f"  {c.text()}" for c in changes),
    ]


def test_no_phase_changes_against_a_report_without_phases():
    assert phase_changes({}, _phased(decode=(1, 10))) == []
    assert phase_changes(_phased(decode=(1, 10)), _phased(decode=(1, 10))) == []
