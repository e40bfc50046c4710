"""docs/examples/profile_each_early_exit.py prints what python-api.md says, and the closed form."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "profile_each_early_exit.py"

DIM, CLASSES = 64, 10
# One stage on a (1, 64) input: Linear(64, 64) (2 per MAC + 1 per output for the bias), ReLU (1
# per element), the exit head Linear(64, 10).
STAGE = 2 * DIM * DIM + DIM
STAGE_FLOPS = STAGE + DIM + 2 * DIM * CLASSES + CLASSES
# The stops, sorted: six 1s, three 2s, one 3.
STOPS = [1] * 6 + [2] * 3 + [3]


def test_the_early_exit_example_prints_the_closed_form():
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, check=True
    )
    lines = done.stdout.splitlines()
    low, p50, mean, p95, high = (float(word) for word in lines[0].split())
    assert STAGE_FLOPS == 9610
    assert low == 1 * STAGE_FLOPS
    assert p50 == 1 * STAGE_FLOPS  # position 9 * 0.50 = 4.5: between STOPS[4] = 1 and STOPS[5] = 1
    assert mean == sum(STOPS) / 10 * STAGE_FLOPS  # 1.5 stages
    assert p95 == (2 + 0.55 * (3 - 2)) * STAGE_FLOPS  # 8.55: STOPS[8] = 2, STOPS[9] = 3
    assert high == 3 * STAGE_FLOPS
    assert float(lines[1]) == STAGE / 10  # the third stage's Linear, in one sample of ten
    assert lines[2] == "EarlyExit over 10 inputs:"
    # the comment under the print in the example (and the page that includes it) says the same
    assert f"# {lines[0]}" in EXAMPLE.read_text()
