"""flopbudget calibrate: each measurement, and the printed table read back by tomllib,
parse_hardware and load_config (tiny sizes: the numbers only need to be positive)."""

from __future__ import annotations

import sys

import pytest
import torch

from pytest_flopbudget import cli
from pytest_flopbudget.budgets.config import load_config
from pytest_flopbudget.cli.calibrate import (
    copy_bytes_per_second,
    matmul_flops_per_second,
    op_overhead_seconds,
)
from pytest_flopbudget.engine.hardware import Hardware, parse_hardware

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TINY = ["--matmul-size", "16", "--copy-mib", "1", "--repeats", "2"]


def test_each_measurement_is_positive():
    assert matmul_flops_per_second(8, repeats=1) > 0
    assert matmul_flops_per_second(8, repeats=1, dtype="float64") > 0
    assert copy_bytes_per_second(4096, repeats=1) > 0
    assert 0 < op_overhead_seconds(calls=10, repeats=1) < 1


def test_the_matmul_counts_2_n_cubed_flops(monkeypatch):
    """With every timed run taking 0.5 s, an n x n matmul measures 2 n^3 / 0.5 FLOP/s."""
    from pytest_flopbudget.cli import calibrate

    monkeypatch.setattr(calibrate, "_seconds", lambda run, device: 0.5)
    assert matmul_flops_per_second(10, repeats=1) == 2 * 10**3 / 0.5
    # a copy of 4096 bytes reads 4096 and writes 4096
    assert copy_bytes_per_second(4096, repeats=1) == 2 * 4096 / 0.5
    assert op_overhead_seconds(calls=100, repeats=3) == 0.5 / 100


def test_calibrate_prints_a_table_that_loads(capsys, tmp_path):
    assert cli.main(["calibrate", "--name", "ci-box", *TINY]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("# flopbudget calibrate, ")
    assert f"torch {torch.__version__}" in lines[0]
    assert lines[1] == "[tool.flopbudget.hardware.ci-box]"
    table = tomllib.loads(out)["tool"]["flopbudget"]["hardware"]["ci-box"]
    assert set(table) == {"peak_tflops", "bandwidth_gbps", "launch_us"}
    hardware = parse_hardware("ci-box", table, "[tool.flopbudget.hardware.ci-box]")
    assert list(hardware.peak_tflops) == ["float32"]
    assert hardware.peak_tflops["float32"] > 0
    assert hardware.bandwidth_gbps > 0
    assert hardware.launch_us > 0
    for number in (hardware.peak_tflops["float32"], hardware.bandwidth_gbps, hardware.launch_us):
        assert float(f"{number:.3g}") == number  # three significant figures
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(out, encoding="utf-8")
    assert load_config(pyproject).hardware == {"ci-box": hardware}


def test_several_dtypes_and_a_quoted_name(capsys):
    args = ["calibrate", "--name", "my box", "--dtype", "float64", "--dtype", "float32", *TINY]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    table = tomllib.loads(out)["tool"]["flopbudget"]["hardware"]["my box"]
    hardware = parse_hardware("my box", table, "test")
    assert isinstance(hardware, Hardware)
    assert list(hardware.peak_tflops) == ["float64", "float32"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "h100"], "--name: 'h100' is a built-in device profile"),
        (["--name", ""], "--name: a device profile needs a name"),
        (["--repeats", "0"], "argument --repeats: '0' is not a positive whole number"),
        (["--dtype", "int8"], "argument --dtype: invalid choice: 'int8'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, args, message):
    assert cli.main(["calibrate", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("flopbudget calibrate: error: ")
    assert message in err
    assert len(err.splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_exits_2(capsys):
    assert cli.main(["calibrate", "--device", "cuda", *TINY]) == 2
    assert "--device cuda: CUDA is not available" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_calibrate_on_cuda(capsys):
    args = ["calibrate", "--device", "cuda", "--dtype", "float32", "--dtype", "float16", *TINY]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    table = tomllib.loads(out)["tool"]["flopbudget"]["hardware"]["local"]
    hardware = parse_hardware("local", table, "test")
    assert list(hardware.peak_tflops) == ["float32", "float16"]
    assert "cuda (" in out.splitlines()[0]
