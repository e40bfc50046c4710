"""What the plugin costs a test suite.

Run: python benchmarks/plugin_cost.py [--rounds N]
1. `pytest` on 200 small budgeted tests, against the same tests with the plugin disabled
   (`-p no:flopbudget`; the marker is then unknown, so that run passes -W ignore). Target <= 1.2x.
2. `pytest --collect-only` on a torch-free suite of 200 tests, with and without the plugin.
   Target <= 1.02x: pytest loads the plugin in every project where it is installed.
Each pytest run is a fresh process, timed whole; rounds are interleaved and medians reported.
Runs with bytecode caching on (PYTHONDONTWRITEBYTECODE unset), as an installed package runs:
with it off every process recompiles the plugin's modules, which measures the compiler.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.timing import interleaved_medians, machine, print_table

BUDGETED = """
import pytest
import torch
from torch import nn

MODEL = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10))

@pytest.mark.flop_budget(max_kflops=100, max_params="10K")
@pytest.mark.parametrize("batch", range({count}))
def test_small_model(batch):
    assert MODEL(torch.randn(1 + batch % 4, 32)).shape[1] == 10
"""

TORCH_FREE = """
import pytest

@pytest.mark.parametrize("n", range({count}))
def test_plain(n):
    assert n + 1 > n
"""


def suite(folder: Path, source: str, count: int) -> Path:
    folder.mkdir()
    (folder / "test_suite.py").write_text(source.format(count=count))
    (folder / "pytest.ini").write_text("[pytest]\n")
    return folder


def pytest_run(folder: Path, *args: str):
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, str(folder)]

    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def run() -> None:
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=environment)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tests", type=int, default=200)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        budgeted = suite(Path(scratch) / "budgeted", BUDGETED, options.tests)
        torch_free = suite(Path(scratch) / "torch_free", TORCH_FREE, options.tests)
        runs = interleaved_medians(
            {
                "budgeted, plugin": pytest_run(budgeted),
                "budgeted, -p no:flopbudget": pytest_run(
                    budgeted, "-p", "no:flopbudget", "-W", "ignore::pytest.PytestUnknownMarkWarning"
                ),
                "collect-only, plugin": pytest_run(torch_free, "--collect-only"),
                "collect-only, -p no:flopbudget": pytest_run(
                    torch_free, "--collect-only", "-p", "no:flopbudget"
                ),
            },
            options.rounds,
            warmup=1,
        )
    suite_ratio = runs["budgeted, plugin"] / runs["budgeted, -p no:flopbudget"]
    collect_ratio = runs["collect-only, plugin"] / runs["collect-only, -p no:flopbudget"]
    print(f"{machine()}; {options.rounds} interleaved rounds, medians of whole pytest processes")
    print_table(
        "plugin cost",
        ("question", "with plugin", "without", "ratio", "target", "met"),
        [
            (
                f"{options.tests} budgeted tests",
                f"{runs['budgeted, plugin']:.2f} s",
                f"{runs['budgeted, -p no:flopbudget']:.2f} s",
                f"{suite_ratio:.3f}x",
                "<= 1.2x",
                "yes" if suite_ratio <= 1.2 else "NO",
            ),
            (
                "--collect-only, torch-free suite",
                f"{runs['collect-only, plugin']:.3f} s",
                f"{runs['collect-only, -p no:flopbudget']:.3f} s",
                f"{collect_ratio:.3f}x",
                "<= 1.02x",
                "yes" if collect_ratio <= 1.02 else "NO",
            ),
        ],
    )


if __name__ == "__main__":
    main()
