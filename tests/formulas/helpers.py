"""What the formula suites share: an op's FLOPs in a count, a training step, the check of
MACs and bias adds, and torch's own FlopCounterMode as a reference."""

from __future__ import annotations

import torch
from hypothesis import settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from pytest_flopbudget import counting, profile


def op_flops(result, name: str) -> int:
    return result.ops[name].flops


def training_step(fn, *inputs):
    """Count fn(*inputs) and a backward through it; the leaf inputs require grad."""
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    with counting() as c:
        out = fn(*leaves)
        out = out[0] if isinstance(out, tuple) else out
        out.backward(torch.randn_like(out))
    return c.profile


SETTINGS = settings(max_examples=25, deadline=None)


SEEDS = st.integers(min_value=0, max_value=2**16)


# --- helpers -----------------------------------------------------------------------------------


def assert_counts(model, inputs, macs: int, bias_adds: int):
    """profile() under both conventions gives exactly these MACs and FLOPs, and counts every op."""
    everything = profile(model, *inputs, count="all")
    matmul_only = profile(model, *inputs, count="matmul")
    assert everything.uncounted == {}
    assert matmul_only.uncounted == {}
    assert everything.macs == macs
    assert matmul_only.macs == macs
    assert everything.flops == 2 * macs + bias_adds
    assert matmul_only.flops == 2 * macs
    return everything


def torch_reference_flops(model, inputs) -> int:
    with FlopCounterMode(display=False) as mode, torch.no_grad():
        model(*inputs)
    return mode.get_total_flops()


def attention_macs(batch: int, heads: int, q_len: int, kv_len: int, head_dim: int) -> int:
    return 2 * batch * heads * q_len * kv_len * head_dim  # Q·Kᵀ and A·V


def attention_other_flops(batch, heads, q_len, kv_len, head_dim, masked=False) -> int:
    """√scale on Q and on K, the mask add per score, softmax 3n−1 per row (docs/conventions.md)."""
    scale = batch * heads * (q_len + kv_len) * head_dim
    softmax = batch * heads * q_len * (3 * kv_len - 1)
    mask = batch * heads * q_len * kv_len if masked else 0
    return scale + softmax + mask
