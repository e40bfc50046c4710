"""Inner projects several suites write and read back: a Linear project with a pyproject.toml
(warnings, baselines, the cache), a Net of n blocks that grows between runs (deltas, Markdown,
diff), and readers of what a run writes (JSON report, JUnit XML, pyproject.toml)."""

from __future__ import annotations

import json
import re
import textwrap
import xml.etree.ElementTree as ET

import pytest

from pytest_flopbudget.text import human
from tests.support import (
    linear_flops,
    linear_params,
)


def budget_warnings(result: pytest.RunResult) -> list[str]:
    """The FlopBudgetWarning lines of the warnings summary."""
    return [
        line.split(": ", 1)[1]
        for line in result.outlines
        if re.match(r"\s*\S+: FlopBudgetWarning: ", line)
    ]


def pyproject_text(pytester: pytest.Pytester) -> str:
    return (pytester.path / "pyproject.toml").read_text(encoding="utf-8")


def definition_line(source: str, name: str) -> int:
    """The 1-based line where test `name` is defined: its first decorator, as pytest's
    item.location (and so every location the plugin writes) gives it."""
    lines = source.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(f"def {name}("))
    while lines[index - 1].startswith("@"):
        index -= 1
    return index + 1


def load_json(pytester: pytest.Pytester, name: str) -> dict:
    return json.loads((pytester.path / name).read_text(encoding="utf-8"))


# --- 4. junit XML properties ----------------------------------------------------------------------


def junit_properties(path) -> dict[str, dict[str, str]]:
    """{test name: {property: value}} of every test case."""
    root = ET.parse(path).getroot()
    return {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in root.iter("testcase")
    }


LINEAR_TESTS = """
import pytest
import torch
from torch import nn


@pytest.mark.flop_budget(max_gflops=1)
def test_linear():
    nn.Linear(10, 10)(torch.randn(4, 10))


@pytest.mark.slow
def test_configured():
    nn.Linear(10, 10)(torch.randn(4, 10))
"""


LINEAR_PYPROJECT = """
[tool.flopbudget]
max_gflops = 1

[tool.flopbudget.tests."test_x.py::test_configured"]
[tool.flopbudget.tests."test_x.py::test_renamed"]
[tool.flopbudget.tests."test_x.py::test_conf*"]
[tool.flopbudget.tests."test_gone_*.py::*"]

[tool.pytest.ini_options]
markers = ["slow"]
"""


UNMATCHED = ('"test_x.py::test_renamed"', '"test_gone_*.py::*"')


def make_project(pytester: pytest.Pytester, pyproject: str = LINEAR_PYPROJECT) -> None:
    pytester.makepyfile(test_x=LINEAR_TESTS)
    (pytester.path / "pyproject.toml").write_text(textwrap.dedent(pyproject), encoding="utf-8")


def warning_messages(result: pytest.RunResult) -> list[str]:
    """The FlopBudgetWarning messages of the warnings summary."""
    return [
        line.split(": FlopBudgetWarning: ", 1)[1]
        for line in result.outlines
        if re.match(r"\s*\S+: FlopBudgetWarning: ", line)
    ]


def no_traceback(result: pytest.RunResult) -> None:
    output = str(result.stdout) + str(result.stderr)
    assert "Traceback" not in output and "INTERNALERROR" not in output


B, D = 4, 10


STEM = linear_flops(B, D, D)


BLOCK = linear_flops(B, D, D) + B * D  # the Linear, then ReLU: 1 per element


BLOCK_PARAMS = linear_params(D, D)


assert (STEM, BLOCK) == (840, 880)


def net_flops(n: int) -> int:
    return STEM + n * BLOCK


def net_params(n: int) -> int:
    return linear_params(D, D) + n * BLOCK_PARAMS


GROWING_TESTS = """
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


def write_growing_tests(pytester: pytest.Pytester, n: int, relu: bool = False) -> None:
    ops_model = "nn.Sequential(nn.Linear(10, 10), nn.ReLU())" if relu else "nn.Linear(10, 10)"
    text = GROWING_TESTS.format(n=n, limit=LIMIT, ops_model=ops_model)
    pytester.makepyfile(test_x=textwrap.dedent(text))


def module_lines(n_before: int, n_after: int, against: str = "") -> list[str]:
    """What a growth from `n_before` to `n_after` blocks shows: the new blocks explain all of
    it (the root holds all the work on both sides and the Sequential only partly moved, so its
    changed children stand for it; a new block stands for its Linear), under a heading."""
    added = n_after - n_before
    modules = "1 module explains" if added == 1 else f"{added} modules explain"
    heading = "FLOPs by module" + (f" against {against}" if against else "")
    lines = [f"{heading}: {modules} 100% of +{human(added * BLOCK, 'FLOPs')}"]
    lines += [f"  new: Net.blocks.{i} (Block) {human(BLOCK)}" for i in range(n_before, n_after)]
    return lines


def make_baseline(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
    write_growing_tests(pytester, 3)
    pytester.runpytest("--flop-report=json:base.json").assert_outcomes(passed=5)
    monkeypatch.delenv("GITHUB_SHA")
    return json.loads((pytester.path / "base.json").read_text(encoding="utf-8"))


# A test over its FLOP limit, one within it (a Two of TREE_MODELS) and one unbudgeted.
OVER_AND_TWO = """
@pytest.mark.flop_budget(max_flops=500)
def test_over():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_gflops=1)
def test_two():
    Two()(x())

def test_unbudgeted():
    nn.Linear(10, 10)(x())
"""
