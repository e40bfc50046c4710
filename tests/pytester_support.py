"""What the pytester suites (test_plugin, test_ci_gating) share: the closed forms of their
nn.Linear models, the inner-run environment, and a parser for the `flop budget` summary."""

from __future__ import annotations

import re

import pytest


def linear_macs(batch: int, fan_in: int, fan_out: int) -> int:
    return batch * fan_in * fan_out


def linear_flops(batch: int, fan_in: int, fan_out: int, bias: bool = True) -> int:
    """FLOPs ("all"): 2 per MAC, plus 1 per output element for the bias add."""
    return 2 * linear_macs(batch, fan_in, fan_out) + (batch * fan_out if bias else 0)


def linear_params(fan_in: int, fan_out: int, bias: bool = True) -> int:
    return fan_in * fan_out + (fan_out if bias else 0)


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


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def plain(line: str) -> str:
    """`line` without terminal colour codes (``--color=yes``)."""
    return ANSI_ESCAPE.sub("", line)


def summary(result: pytest.RunResult) -> list[dict[str, str]]:
    """The rows of the `flop budget` section, in order: {column: cell, ..., "test": node id}.

    Handles both layouts: node id at the end of each row, or on its own line above the row,
    and coloured output (the colour codes are dropped).
    """
    lines = [plain(line) for line in result.outlines]
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"=+ flop budget =+", line))
    body = []
    for line in lines[start + 1 :]:
        if line.startswith(("=", "-")) and not set(line) <= {"-"}:
            break
        body.append(line)
    rows = []
    if body[0] == "test":  # node ids on their own lines
        columns = body[1].split()
        rest = body[3:]
        for nodeid, cells in zip(rest[::2], rest[1::2], strict=False):
            values = cells.split()
            if len(values) != len(columns) or nodeid.split()[0] != nodeid:
                break
            rows.append({**dict(zip(columns, values, strict=True)), "test": nodeid})
    else:
        columns = body[0].split()
        assert columns[-1] == "test"
        for line in body[2:]:
            values = line.split()
            if len(values) != len(columns):
                break
            rows.append(dict(zip(columns, values, strict=True)))
    return rows


def row_of(result: pytest.RunResult, nodeid: str) -> dict[str, str]:
    (row,) = [r for r in summary(result) if r["test"] == nodeid]
    return row


def usage_error(result: pytest.RunResult) -> str:
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    return str(result.stderr)
