"""Attention: the fused scaled dot-product attention kernels and their backward,
nn.MultiheadAttention's fused path and nn.TransformerEncoderLayer's.

Counted as PyTorch's reference (math) or decomposed path runs them: the products (Q·Kᵀ, A·V, the
projections) in MACs, FLOPs ``2 * macs`` under both conventions; under "all" also the
`other_flops`: scaling, masks, softmax (3n − 1 per row of n), dropout, bias adds, residuals and
norms, elementwise 1 per element except tanh (5) and sigmoid (4).
"""

from __future__ import annotations

from typing import Any

from pytest_flopbudget.engine.cost import Cost
from pytest_flopbudget.engine.formulas._table import _shape, arg, formula
from pytest_flopbudget.engine.formulas.normalization import (
    norm_flops,
    softmax_backward_flops,
    softmax_flops,
)


def attention_cost(
    batch: int,
    heads: int,
    q_len: int,
    kv_len: int,
    qk_dim: int,
    v_dim: int,
    masked: bool = False,
    dropout: bool = False,
) -> Cost:
    """Scaled dot-product attention, counted as PyTorch's reference (math) implementation runs it.

    MACs: Q·Kᵀ and A·V. Other work: Q and K each scaled by √scale (1 per element), the mask added
    to the scores (1 per score, also for is_causal), softmax per row, and dropout (2 per score).
    Grouped-query attention counts K and V at the query's head count, as the math path expands them.
    """
    scores = batch * heads * q_len * kv_len
    macs = scores * qk_dim + scores * v_dim
    other = batch * heads * (q_len + kv_len) * qk_dim
    other += softmax_flops(batch * heads * q_len, kv_len)
    if masked:
        other += scores
    if dropout:
        other += 2 * scores
    return Cost(macs, other)


def attention_backward_cost(
    batch: int, heads: int, q_len: int, kv_len: int, qk_dim: int, v_dim: int
) -> Cost:
    """Backward of fused attention: the scores and softmax are recomputed, then dP = dO·Vᵀ,
    dV = Pᵀ·dO, dQ = dS·K and dK = dSᵀ·Q; the softmax backward and the √scale of dQ and dK."""
    scores = batch * heads * q_len * kv_len
    macs = scores * (3 * qk_dim + 2 * v_dim)
    rows = batch * heads * q_len
    other = softmax_flops(rows, kv_len) + softmax_backward_flops(rows, kv_len)
    other += batch * heads * (q_len + kv_len) * qk_dim
    return Cost(macs, other)


def _attention_from(q, k, v, masked: bool, dropout_p: float) -> Cost:
    batch, heads, q_len, qk_dim = _shape(q)
    kv_len, v_dim = _shape(k)[2], _shape(v)[3]
    return attention_cost(batch, heads, q_len, kv_len, qk_dim, v_dim, masked, dropout_p > 0)


@formula("_scaled_dot_product_flash_attention_for_cpu")
def _flash_attention_for_cpu(args, kwargs, out) -> Cost:
    """(query, key, value, dropout_p=0., is_causal=False, *, attn_mask=None, scale=None)."""
    dropout_p = arg(args, kwargs, 3, "dropout_p", 0.0)
    is_causal = arg(args, kwargs, 4, "is_causal", False)
    masked = bool(is_causal) or kwargs.get("attn_mask") is not None
    return _attention_from(args[0], args[1], args[2], masked, dropout_p)


@formula("_scaled_dot_product_flash_attention")
def _flash_attention(args, kwargs, out) -> Cost:
    """_scaled_dot_product_flash_attention(query, key, value, dropout_p, is_causal, ...)."""
    dropout_p = arg(args, kwargs, 3, "dropout_p", 0.0)
    is_causal = arg(args, kwargs, 4, "is_causal", False)
    return _attention_from(args[0], args[1], args[2], bool(is_causal), dropout_p)


@formula("_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention")
def _biased_attention(args, kwargs, out) -> Cost:
    """_scaled_dot_product_{efficient,cudnn}_attention(query, key, value, attn_bias,
    compute_log_sumexp, dropout_p, is_causal, ...)."""
    bias = arg(args, kwargs, 3, "attn_bias")
    dropout_p = arg(args, kwargs, 5, "dropout_p", 0.0)
    is_causal = arg(args, kwargs, 6, "is_causal", False)
    masked = bias is not None or bool(is_causal)
    return _attention_from(args[0], args[1], args[2], masked, dropout_p)


@formula(
    "_scaled_dot_product_flash_attention_for_cpu_backward",
    "_scaled_dot_product_flash_attention_backward",
    "_scaled_dot_product_efficient_attention_backward",
    "_scaled_dot_product_cudnn_attention_backward",
)
def _attention_backward(args, kwargs, out) -> Cost:
    """(grad_out, query, key, value, ...) for every fused attention backward."""
    q, k, v = args[1], args[2], args[3]
    batch, heads, q_len, qk_dim = _shape(q)
    return attention_backward_cost(batch, heads, q_len, _shape(k)[2], qk_dim, _shape(v)[3])


def _linear_cost(rows: int, in_features: int, out_features: int, weight: Any, bias: bool) -> Cost:
    """One projection of a fused block; its weight skips its own zeros, so a sum of several
    (attention's Q, K, V and output projections) keeps each weight's sparse count."""
    return Cost(
        rows * in_features * out_features,
        rows * out_features if bias else 0,
        separate_weight_uses=((weight, rows),),
    )


def _multi_head_attention_cost(
    query,
    key,
    embed_dim: int,
    heads: int,
    qkv_weight,
    proj_weight,
    masked: bool,
    need_weights: bool,
    average_weights: bool,
) -> Cost:
    """nn.MultiheadAttention's fused path, counted as its decomposed path runs: the Q, K, V and
    output projections with their biases, then attention (explicit softmax with need_weights,
    scaled dot-product attention without), and the mean of the weights over heads."""
    batch, q_len = _shape(query)[0], _shape(query)[1]
    kv_len = _shape(key)[1]
    head_dim = embed_dim // heads
    q_rows, kv_rows = batch * q_len, batch * kv_len
    if q_rows == kv_rows:
        cost = _linear_cost(q_rows, embed_dim, 3 * embed_dim, qkv_weight, True)
    else:
        cost = _linear_cost(q_rows, embed_dim, embed_dim, qkv_weight[:embed_dim], True)
        cost += _linear_cost(kv_rows, embed_dim, 2 * embed_dim, qkv_weight[embed_dim:], True)
    if need_weights:
        scores = batch * heads * q_len * kv_len
        cost += Cost(scores * head_dim * 2, q_rows * embed_dim)  # Q·Kᵀ, A·V; Q scaled once
        cost += Cost(other_flops=softmax_flops(batch * heads * q_len, kv_len))
        cost += Cost(other_flops=scores if masked else 0)
        if average_weights:
            cost += Cost(other_flops=scores + batch * q_len * kv_len)
    else:
        cost += attention_cost(batch, heads, q_len, kv_len, head_dim, head_dim, masked)
    return cost + _linear_cost(q_rows, embed_dim, embed_dim, proj_weight, True)


@formula("_native_multi_head_attention")
def _native_multi_head_attention(args, kwargs, out) -> Cost:
    """(query, key, value, embed_dim, num_head, qkv_weight, qkv_bias, proj_weight, proj_bias,
    mask=None, need_weights=True, average_attn_weights=True, mask_type=None)."""
    return _multi_head_attention_cost(
        args[0],
        args[1],
        args[3],
        args[4],
        args[5],
        args[7],
        masked=arg(args, kwargs, 9, "mask") is not None,
        need_weights=bool(arg(args, kwargs, 10, "need_weights", True)),
        average_weights=bool(arg(args, kwargs, 11, "average_attn_weights", True)),
    )


@formula("_transformer_encoder_layer_fwd")
def _transformer_encoder_layer(args, kwargs, out) -> Cost:
    """_transformer_encoder_layer_fwd(src, embed_dim, num_heads, qkv_weight, qkv_bias,
    proj_weight, proj_bias, use_gelu, norm_first, eps, norm_weight_1, norm_bias_1, norm_weight_2,
    norm_bias_2, ffn_weight_1, ffn_bias_1, ffn_weight_2, ffn_bias_2, mask=None, mask_type=None):
    nn.TransformerEncoderLayer's fused path, counted op for op as its decomposed path runs."""
    src, embed_dim, heads = args[0], args[1], args[2]
    mask = arg(args, kwargs, 18, "mask")
    rows = _shape(src)[0] * _shape(src)[1]
    ffn_weight_1, ffn_weight_2 = args[14], args[16]
    hidden = _shape(ffn_weight_1)[0]
    cost = _multi_head_attention_cost(
        src, src, embed_dim, heads, args[3], args[5], mask is not None, False, False
    )
    cost += Cost(other_flops=2 * rows * embed_dim)  # two residual additions
    cost += Cost(other_flops=2 * norm_flops(rows * embed_dim, 2, True))  # two LayerNorms
    cost += _linear_cost(rows, embed_dim, hidden, ffn_weight_1, True)
    cost += Cost(other_flops=rows * hidden)  # relu or gelu, 1 per element
    return cost + _linear_cost(rows, hidden, embed_dim, ffn_weight_2, True)
