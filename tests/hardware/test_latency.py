"""The latency estimate: each op at its roofline, one after another, computed by hand on a
user-defined device; and its budget, `max_latency_ms` with a device."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pytest_flopbudget as fb
from pytest_flopbudget.engine.hardware import Hardware
from tests.projects import load_json
from tests.support import summary, usage_error, write_pyproject, write_tests

# a slow board, so the numbers are easy: 1000 FLOP/s in float32, 1000 bytes/s, 1 ms per op
BOARD = Hardware(peak_tflops={"float32": 1e-9}, bandwidth_gbps=1e-6, launch_us=1000, name="board")
PEAK, BANDWIDTH, LAUNCH = 1e3, 1e3, 1e-3


def roofline(flops: int, nbytes: int) -> float:
    return max(flops / PEAK, nbytes / BANDWIDTH) + LAUNCH


def test_a_linear_is_one_addmm_at_its_roofline():
    result = fb.profile(nn.Linear(5, 3), torch.randn(4, 5))
    flops = 2 * 4 * 5 * 3 + 4 * 3  # "all": 2 per MAC and the bias add
    nbytes = 4 * (3 + 20 + 15 + 12)  # bias, input, weight.t() (a view: no op of its own), output
    assert result.latency(BOARD) == pytest.approx(roofline(flops, nbytes))  # memory-bound: 0.2 s
    assert result.module_latency(BOARD) == {"": pytest.approx(roofline(flops, nbytes))}


def test_a_pointwise_chain_pays_each_ops_bytes_and_launch():
    model = nn.Sequential(nn.ReLU(), nn.Sigmoid())
    result = fb.profile(model, torch.randn(10, 10))
    relu = roofline(100, 2 * 100 * 4)  # 1 FLOP per element; reads and writes 100 floats
    sigmoid = roofline(4 * 100, 2 * 100 * 4)  # sigmoid: 4 FLOPs per element
    assert result.latency(BOARD) == pytest.approx(relu + sigmoid)
    assert result.module_latency(BOARD) == {
        "": pytest.approx(relu + sigmoid),
        "0": pytest.approx(relu),
        "1": pytest.approx(sigmoid),
    }


def test_an_ops_dtype_picks_its_peak():
    board = Hardware(peak_tflops={"float32": 1e-9, "bfloat16": 4e-9}, bandwidth_gbps=1e-3)
    x = torch.randn(64, 64, dtype=torch.bfloat16)
    result = fb.profile(lambda: x @ x)
    flops, nbytes = 2 * 64**3, 3 * 64 * 64 * 2
    assert result.latency(board) == pytest.approx(max(flops / 4e3, nbytes / 1e6))


def test_a_built_in_device_by_name_and_the_table_column():
    result = fb.profile(nn.Linear(5, 3), torch.randn(4, 5))
    assert result.latency("h100") == result.latency("H100") > 0
    text = result.table(hardware=BOARD)
    assert "est. latency on board 201 ms" in text.splitlines()[0]
    header = next(line for line in text.splitlines() if line.startswith("module"))
    assert header.split()[-1] == "est."


def test_an_unknown_device_says_which_there_are():
    result = fb.profile(nn.Linear(5, 3), torch.randn(4, 5))
    with pytest.raises(ValueError, match=r"unknown device 'h1000'.*did you mean 'h100'"):
        result.latency("h1000")


# --- the budget -------------------------------------------------------------------------------

MODEL = """
import pytest
import torch
from torch import nn


@pytest.mark.flop_budget(max_latency_ms={limit}{hardware})
def test_linear():
    nn.Linear(5, 3)(torch.randn(4, 5))
"""


PYPROJECT = """
[tool.flopbudget.hardware.board]
peak_tflops = {float32 = 1e-9}
bandwidth_gbps = 1e-6
launch_us = 1000
"""

LINEAR_MS = 1e3 * roofline(2 * 4 * 5 * 3 + 4 * 3, 4 * (3 + 20 + 15 + 12))


def test_a_latency_limit_on_a_pyproject_device_fails_with_the_estimate(pytester):
    write_pyproject(pytester, PYPROJECT)
    pytester.makepyfile(test_linear=MODEL.format(limit=150, hardware=', hardware="board"'))
    result = pytester.runpytest("-v")
    result.assert_outcomes(failed=1)
    over = (LINEAR_MS - 150) / 150
    result.stdout.fnmatch_lines(
        [f"*est. latency on board: {LINEAR_MS:.2f} ms > 150.00 ms (+{100 * over:.1f}%)*"]
    )
    (row,) = summary(result)
    assert row["est.ms"] == f"{LINEAR_MS:.2f}"


def test_a_latency_limit_passes_within_it_and_the_device_can_come_from_the_command_line(
    pytester,
):
    write_pyproject(pytester, PYPROJECT)
    pytester.makepyfile(test_linear=MODEL.format(limit=250, hardware=""))
    result = pytester.runpytest("--flop-hardware=board")
    result.assert_outcomes(passed=1)
    (row,) = summary(result)
    assert row["est.ms"] == f"{LINEAR_MS:.2f}"


def test_a_latency_limit_without_a_device_is_a_usage_error_naming_the_key(pytester):
    pytester.makepyfile(test_linear=MODEL.format(limit=250, hardware=""))
    message = usage_error(pytester.runpytest())
    assert "'max_latency_ms' in marker on test_linear.py::test_linear needs a device" in message
    assert "--flop-hardware=NAME" in message


def test_an_unknown_device_is_a_usage_error(pytester):
    pytester.makepyfile(test_linear=MODEL.format(limit=250, hardware=', hardware="h1000"'))
    message = usage_error(pytester.runpytest())
    assert "unknown device 'h1000' (did you mean 'h100'?)" in message
    assert "unknown device 'nope'" in usage_error(pytester.runpytest("--flop-hardware=nope"))


def test_without_a_device_there_is_no_estimate_column(pytester):
    write_tests(
        pytester,
        "",
        """
        @pytest.mark.flop_budget(max_gflops=1)
        def test_linear():
            nn.Linear(5, 3)(torch.randn(4, 5))
        """,
    )
    (row,) = summary(pytester.runpytest())
    assert "est.ms" not in row


TWO_STAGES = """
import pytest
import torch
from torch import nn


class TwoStages(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(5, 3)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.proj(x))


@pytest.mark.flop_budget(max_latency_ms=100, hardware="board")
def test_stages():
    TwoStages()(torch.randn(4, 5))
"""


def test_an_exceeded_latency_names_the_modules_that_cost_the_most_time_and_goes_to_json(
    pytester,
):
    write_pyproject(pytester, PYPROJECT)
    pytester.makepyfile(test_stages=TWO_STAGES)
    result = pytester.runpytest("--flop-report=json:r.json")
    result.assert_outcomes(failed=1)
    proj = roofline(2 * 4 * 5 * 3 + 4 * 3, 4 * (3 + 20 + 15 + 12))
    act = roofline(12, 2 * 12 * 4)  # ReLU on the (4, 3) output
    total = proj + act
    result.stdout.fnmatch_lines(
        [
            f"*est. latency on board: {1e3 * total:.2f} ms > 100.00 ms*",
            f"*est. time by module: TwoStages.proj {1e3 * proj:.2f} ms ({100 * proj / total:.0f}%),"
            f" TwoStages.act {1e3 * act:.2f} ms ({100 * act / total:.0f}%)*",
        ]
    )
    (entry,) = load_json(pytester, "r.json")["tests"]
    assert entry["hardware"] == "board"
    assert entry["totals"]["latency_ns"] == round(total * 1e9)
    assert entry["budget"]["latency_ns"] == 100 * 10**6
    modules = {m["name"]: m for m in entry["modules"]}
    assert modules["TwoStages.act"]["latency_ns"] == round(act * 1e9)


# --- the command line -------------------------------------------------------------------------


def small_linear() -> nn.Module:
    return nn.Linear(5, 3)


def test_the_command_adds_the_estimate_on_a_device_of_the_pyproject_here(
    capsys, tmp_path, monkeypatch
):
    import json

    from pytest_flopbudget import cli

    (tmp_path / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    spec = f"{__name__}:small_linear"
    assert cli.main([spec, "--input-shape", "4,5", "--hardware", "board", "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)["models"]
    assert entry["hardware"] == "board"
    assert entry["totals"]["latency_ns"] == round(LINEAR_MS * 1e6)
    assert entry["totals"]["bytes_moved"] == 4 * (3 + 20 + 15 + 12)
    assert cli.main([spec, "--input-shape", "4,5", "--hardware", "board"]) == 0
    text = capsys.readouterr().out
    assert f"est. latency on board {LINEAR_MS:.3g} ms" in text
    assert cli.main([spec, "--input-shape", "4,5", "--hardware", "boards"]) == 2
    assert "--hardware: unknown device 'boards' (did you mean 'board'?)" in capsys.readouterr().err
