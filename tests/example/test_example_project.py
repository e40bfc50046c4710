"""example_project/ is what a user copies: its suite must pass under the plugin, as documented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_example_project_passes_and_prints_the_summary():
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "example_project", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},  # room for the whole node ids
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "flop budget" in run.stdout
    # marker-only, fixture and pyproject-only budgets are all in the summary
    for nodeid in (
        "tests/test_lenet.py::test_forward_one_image",
        "tests/test_resnet.py::test_compute_profile",
        "tests/test_transformer.py::test_batch_of_two_sequences",
        "tests/test_pruned.py::test_pruned_inference",
        "tests/test_custom_op.py::test_forward",  # priced by the formula in its conftest.py
        "tests/test_early_exit.py::test_cost_across_the_dataset",  # profile_each over 20 inputs
        "tests/test_early_exit.py::test_mean_cost",  # statistic="mean"
        "tests/test_early_exit.py::test_p95_cost",  # statistic="p95"
    ):
        assert nodeid in run.stdout
    assert "over" not in run.stdout.split("flop budget", 1)[1]
