"""What the pytester suites share: the closed forms of their nn.Linear models, the inner-run
environment, the writers of an inner project (its test module and its pyproject.toml) with the
model classes those modules use, and a parser for the `flop budget` summary."""

from __future__ import annotations

import re
import textwrap

import pytest


def linear_macs(batch: int, fan_in: int, fan_out: int) -> int:
    return batch * fan_in * fan_out


def linear_flops(batch: int, fan_in: int, fan_out: int, bias: bool = True) -> int:
    """FLOPs ("all"): 2 per MAC, plus 1 per output element for the bias add."""
    return 2 * linear_macs(batch, fan_in, fan_out) + (batch * fan_out if bias else 0)


def linear_params(fan_in: int, fan_out: int, bias: bool = True) -> int:
    return fan_in * fan_out + (fan_out if bias else 0)


def linear_bytes(batch: int, fan_in: int, fan_out: int, bias: bool = True) -> int:
    """Bytes moved in float32 ("unfused"): addmm reads the bias, the input and the transposed
    weight (a view, no bytes of its own) and writes the output (mm without a bias)."""
    read = (fan_out if bias else 0) + batch * fan_in + fan_in * fan_out
    return 4 * (read + batch * fan_out)


# The inner projects' nn.Linear(10, 10) on a (4, 10) input: 400 MACs, 840 FLOPs, 110 params,
# 760 bytes moved.
MACS = linear_macs(4, 10, 10)
FLOPS = linear_flops(4, 10, 10)
PARAMS = linear_params(10, 10)
BYTES_MOVED = linear_bytes(4, 10, 10)
assert (MACS, FLOPS, PARAMS, BYTES_MOVED) == (400, 840, 110, 760)


def pct(now: int, reference: int) -> str:
    """A change (against a limit or an earlier run) as the plugin writes it: a signed
    percentage with one decimal."""
    return f"{(now / reference - 1) * 100:+.1f}%"


def isolate_inner_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner runs skip hypothesis's pytest plugin (it imports hypothesis at every session's end,
    and pytester drops the modules an in-process run imported), and do not see the GitHub
    Actions variables of a CI run of this suite. Call it after `pytester` is set up, which
    clears PYTEST_ADDOPTS."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("GITHUB_SHA", raising=False)


# --- inner projects ------------------------------------------------------------------------------

# Prepended to every generated test module: the imports, and the (4, 10) input `x()`. The
# model classes a suite's modules use follow it (the *_MODELS strings below).
INNER_HEADER = """
import pytest
import torch
from torch import nn


def x():
    return torch.randn(4, 10)
"""


# Two Linear(10, 10) applied one after the other; a Linear with an uncounted op after it.
LINEAR_MODELS = """

class Two(nn.Module):
    '''Two Linear(10, 10) children, applied one after the other.'''

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(10, 10)
        self.b = nn.Linear(10, 10)

    def forward(self, x):
        return self.b(self.a(x))


class WithUncounted(nn.Module):
    '''A Linear(10, 10), then an op without a cost formula (aten.logcumsumexp).'''

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(10, 10)

    def forward(self, x):
        return torch.logcumsumexp(self.lin(x), -1)

"""

# A Two that ends in an uncounted op, a Tree of containers, a Fan of ten children.
TREE_MODELS = """

class Two(nn.Module):
    '''Two Linear(10, 10) children, one after the other, then aten.logcumsumexp (no formula).'''

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(10, 10)
        self.b = nn.Linear(10, 10)

    def forward(self, x):
        return torch.logcumsumexp(self.b(self.a(x)), -1)


class Tree(nn.Module):
    '''enc (a Two without the logcumsumexp: grandchildren a and b), then head = Linear(10, 30).'''

    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential()
        self.enc.add_module("a", nn.Linear(10, 10))
        self.enc.add_module("b", nn.Linear(10, 10))
        self.head = nn.Linear(10, 30)

    def forward(self, x):
        return torch.logcumsumexp(self.head(self.enc(x)), -1)


class Fan(nn.Module):
    '''Ten children l1..l10 = Linear(10, k), each applied to the input.'''

    def __init__(self):
        super().__init__()
        for k in range(1, 11):
            self.add_module(f"l{k}", nn.Linear(10, k))

    def forward(self, x):
        return [getattr(self, f"l{k}")(x) for k in range(1, 11)]

"""

# A Net (backbone and head), for module budgets; a Linear WithSpare, an uncalled Linear.
NET_MODELS = """

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 10))
        self.head = nn.Linear(10, 2)

    def forward(self, x):
        return self.head(self.backbone(x))


class WithSpare(nn.Module):
    '''A Linear(10, 10) and, with `spare`, a Linear(10, 10) that forward never calls.'''

    def __init__(self, spare):
        super().__init__()
        self.lin = nn.Linear(10, 10)
        self.spare = nn.Linear(10, 10) if spare else None

    def forward(self, x):
        return self.lin(x)

"""

# A Linear, then fbtest.nocost twice (the custom op of tests/custom_ops.py).
UNCOUNTED_MODELS = """

class Uncounted(nn.Module):
    '''A Linear(10, 10), then fbtest.nocost twice (a custom op with no cost formula).'''

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(10, 10)

    def forward(self, x):
        return torch.ops.fbtest.nocost(torch.ops.fbtest.nocost(self.lin(x)))

"""


def write_tests(pytester: pytest.Pytester, models: str, body: str, name: str = "test_x") -> str:
    """Write the test module `name`: INNER_HEADER, the `models` classes, then `body`; return its
    text as written."""
    text = INNER_HEADER + textwrap.dedent(models) + textwrap.dedent(body)
    path = pytester.makepyfile(**{name: text})
    return path.read_text(encoding="utf-8")


def write_pyproject(pytester: pytest.Pytester, text: str) -> str:
    """Write pyproject.toml (dedented); return its text as written."""
    text = textwrap.dedent(text).lstrip("\n")
    (pytester.path / "pyproject.toml").write_text(text, encoding="utf-8")
    return text


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def plain(line: str) -> str:
    """`line` without terminal colour codes (``--color=yes``)."""
    return ANSI_ESCAPE.sub("", line)


def summary(result: pytest.RunResult) -> list[dict[str, str]]:
    """The rows of the `flop budget` section, in order: {column: cell, ..., "test": node id}.

    One line per test, the node id last; a line ``node ids below are in tests/models/`` above
    the table gives what the shown ids start with (put back here). Notes above the table
    (``flop budget: …``) and colour codes are skipped. An id elided in the middle (``…``) stays
    as shown.
    """
    lines = [plain(line) for line in result.outlines]
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"=+ flop budget =+", line))
    body = []
    for line in lines[start + 1 :]:
        if line.startswith(("=", "-")) and not set(line) <= {"-"}:
            break
        body.append(line)
    shared = ""
    while not body[0].startswith("status "):
        shared = body[0].removeprefix("node ids below are in ") if "below" in body[0] else shared
        body = body[1:]
    columns = body[0].split()[:-1]
    assert body[0].split()[-1] == "test"
    rows = []
    for line in body[2:]:
        values = line.split()
        if len(values) != len(columns) + 1 or line.startswith("flop budget"):
            break  # the lines under the table
        rows.append({**dict(zip(columns, values, strict=False)), "test": shared + values[-1]})
    return rows


def row_of(result: pytest.RunResult, nodeid: str) -> dict[str, str]:
    (row,) = [r for r in summary(result) if r["test"] == nodeid]
    return row


def usage_error(result: pytest.RunResult) -> str:
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    return str(result.stderr)
