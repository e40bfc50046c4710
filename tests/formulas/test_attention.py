"""Attention: SDPA, transformer encoder layers and multi-head attention, on every path."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pytest_flopbudget import profile
from tests.formulas.helpers import attention_macs, attention_other_flops
from tests.models import (
    FunctionalAttention,
)


def encoder_layer_macs(seq: int, dim: int, ffn: int) -> int:
    projections = seq * dim * 3 * dim + seq * dim * dim
    return projections + attention_macs(1, 1, seq, seq, dim) + 2 * seq * dim * ffn


# ---- attention ----------------------------------------------------------------------------------


def test_sdpa_on_cpu_is_counted_exactly():
    b, h, s, d = 1, 8, 128, 32
    q, k, v = (torch.randn(b, h, s, d) for _ in range(3))
    result = profile(F.scaled_dot_product_attention, q, k, v)
    assert "aten._scaled_dot_product_flash_attention_for_cpu" in result.ops
    assert result.macs == attention_macs(b, h, s, s, d)
    assert result.flops == 2 * result.macs + attention_other_flops(b, h, s, s, d)


@pytest.mark.parametrize("masking", ["is_causal", "attn_mask"])
def test_masked_sdpa_counts_the_mask_add(masking):
    b, h, s, d = 2, 4, 64, 16
    q = torch.randn(b, h, s, d)
    kwargs = {"is_causal": True} if masking == "is_causal" else {"attn_mask": torch.zeros(s, s)}
    result = profile(lambda t: F.scaled_dot_product_attention(t, t, t, **kwargs), q)
    assert result.macs == attention_macs(b, h, s, s, d)
    assert result.flops == 2 * result.macs + attention_other_flops(b, h, s, s, d, masked=True)


def test_transformer_encoder_layer_in_train_mode_is_exact():
    layer = nn.TransformerEncoderLayer(256, 8, batch_first=True)
    result = profile(layer, torch.randn(1, 128, 256))
    assert result.macs == encoder_layer_macs(128, 256, 2048)
    assert result.uncounted == {}


def test_transformer_encoder_layer_fast_path_is_exact():
    layer = nn.TransformerEncoderLayer(256, 8, batch_first=True).eval()
    result = profile(layer, torch.randn(1, 128, 256))
    assert list(result.ops) == ["aten._transformer_encoder_layer_fwd"]  # the fused path ran
    assert result.macs == encoder_layer_macs(128, 256, 2048)


def test_fast_path_and_decomposed_path_agree_on_every_number():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(64, 4, dim_feedforward=96, batch_first=True).eval()
    x = torch.randn(2, 10, 64)
    fused = profile(layer, x)
    with torch.device("meta"):
        meta_layer = nn.TransformerEncoderLayer(64, 4, dim_feedforward=96, batch_first=True).eval()
    decomposed = profile(meta_layer, x.to("meta"))
    assert "aten._transformer_encoder_layer_fwd" not in decomposed.ops
    assert (fused.macs, fused.flops) == (decomposed.macs, decomposed.flops)


@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention_fast_path_matches_its_decomposed_path(need_weights):
    dim, heads, seq = 32, 4, 12
    x = torch.randn(2, seq, dim)
    mha = nn.MultiheadAttention(dim, heads, batch_first=True).eval()
    fused = profile(mha, x, x, x, need_weights=need_weights)
    assert list(fused.ops) == ["aten._native_multi_head_attention"]
    with torch.device("meta"):
        meta_mha = nn.MultiheadAttention(dim, heads, batch_first=True).eval()
    xm = x.to("meta")
    decomposed = profile(meta_mha, xm, xm, xm, need_weights=need_weights)
    projections = 2 * seq * dim * 3 * dim + 2 * seq * dim * dim
    assert fused.macs == projections + attention_macs(2, heads, seq, seq, dim // heads)
    assert (fused.macs, fused.flops) == (decomposed.macs, decomposed.flops)


def test_functional_attention_without_nn_linear_is_exact():
    dim, heads, seq, batch = 64, 4, 16, 2
    model = FunctionalAttention(dim, heads)
    result = profile(model, torch.randn(batch, seq, dim), count="matmul")
    qkv = batch * seq * dim * 3 * dim
    out = batch * seq * dim * dim
    expected = qkv + attention_macs(batch, heads, seq, seq, dim // heads) + out
    assert result.macs == expected
    assert result.flops == 2 * expected
    assert result.params == 3 * dim * dim + dim * dim


def test_a_fused_attentions_sparse_count_sees_every_pruned_projection():
    """nn.MultiheadAttention's fast path (one fused op): zeros in the output projection are
    skipped as on the decomposed path, not only the first projection's."""
    batch, length, dim = 2, 5, 16
    attention = nn.MultiheadAttention(dim, 2, batch_first=True).eval()
    with torch.no_grad():
        attention.out_proj.weight[: dim // 2] = 0
    x = torch.randn(batch, length, dim)
    fused = profile(lambda: attention(x, x, x, need_weights=False))
    assert "aten._native_multi_head_attention" in fused.ops
    zeros = (dim // 2) * dim
    assert fused.sparse_macs == fused.macs - zeros * batch * length
