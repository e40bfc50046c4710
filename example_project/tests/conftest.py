"""Shared fixtures, and what the counter is taught for this project.

Every model is built (and seeded) in set-up, so a test's call phase, the part the plugin counts,
runs only the work the test itself does.

`pytest_flopbudget_formulas` prices the project's custom op, `example::fused_swiglu`
(models/fused.py): without it the op would be listed as uncounted (and fail `strict`).
"""

from __future__ import annotations

import pytest
import torch

from pytest_flopbudget import Cost


def fused_swiglu_cost(args, kwargs, out) -> Cost:
    """silu(x @ gate.T) * (x @ up.T): two (rows × dim) · (dim × hidden) products, then silu
    and the product, 1 FLOP per output element each. It reads shapes only, so it prices the op
    on real, meta and fake tensors alike."""
    x, gate, up = args
    rows, dim = x.shape
    hidden = gate.shape[0]
    return Cost(
        macs=2 * rows * dim * hidden,
        other_flops=2 * rows * hidden,
        separate_weight_uses=((gate, rows), (up, rows)),  # pruned weights lower sparse counts
    )


def pytest_flopbudget_formulas():
    return {"example::fused_swiglu": fused_swiglu_cost}


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
