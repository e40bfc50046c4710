"""A model with a custom op (`example::fused_swiglu`), priced by the formula in conftest.py.

The marker counts it like any aten op, `strict=True` proves nothing went uncounted, and the
meta-device run (no compute) gives the same numbers as the CPU run.
"""

from __future__ import annotations

import pytest
import torch
from models import SwiGLUFeedForward, build_feed_forward

import pytest_flopbudget

DIM, HIDDEN, TOKENS = 64, 256, 32


@pytest.fixture
def model() -> SwiGLUFeedForward:
    return build_feed_forward(DIM, HIDDEN).eval()


# 2·(2·32·64·256) for the fused SwiGLU + 2·32·64·256 for down, + 2·32·256 elementwise: 3.16 MFLOPs
@pytest.mark.flop_budget(max_mflops=3.5, max_params="50K", strict=True)
def test_forward(model: SwiGLUFeedForward) -> None:
    with torch.no_grad():
        out = model(torch.randn(1, TOKENS, DIM))
    assert out.shape == (1, TOKENS, DIM)


def test_meta_counts_what_the_cpu_counts(model: SwiGLUFeedForward, flop_budget) -> None:
    cpu = flop_budget.profile(model, torch.randn(1, TOKENS, DIM))
    with torch.device("meta"):
        meta_model = build_feed_forward(DIM, HIDDEN)
    meta = pytest_flopbudget.profile(meta_model, torch.randn(1, TOKENS, DIM, device="meta"))
    assert cpu.uncounted == meta.uncounted == {}
    assert (cpu.macs, cpu.flops, cpu.params) == (meta.macs, meta.flops, meta.params)
    assert cpu.macs == 3 * TOKENS * DIM * HIDDEN
