"""What each aten op costs: one table from op names to small pure functions of shapes.

This module imports no torch. An op's cost is a `Cost`: its multiply-accumulates (`macs`), the
other floating-point work it does (`other_flops`), and which operands are used as weights and how
often each of their elements is used (`weight_uses`, for sparse counting). The conventions are the
README's table; every number here follows it:

- FLOPs under the "all" convention are ``2 * macs + other_flops``; under "matmul", ``2 * macs``.
- Elementwise ops cost 1 per output element, except tanh (5) and sigmoid (4).
- Ops in `ZERO_COST` move, copy, select or create data and cost 0 by decision.

Adapters in `FORMULAS` receive the op's actual ``(args, kwargs, out)``; they read only shapes and
flags, so they work the same on real, meta and fake tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from math import ceil, floor, log2, prod
from typing import Any

from pytest_flopbudget.engine.cost import Cost

__all__ = [
    "ELEMENTWISE_COST",
    "FORMULAS",
    "INTEGER_MATMULS",
    "ZERO_COST",
    "Cost",
    "attention_backward_cost",
    "attention_cost",
    "conv_macs",
    "normalized_op_name",
    "per_output",
    "recurrent_stack_cost",
    "rnn_cell_flops",
    "rnn_layer_flops",
    "rnn_macs",
    "softmax_flops",
]

Shape = tuple[int, ...]


# ----------------------------------------------------------------------------------------------
# Pure formulas (integers in, integers out)
# ----------------------------------------------------------------------------------------------


def conv_macs(batch: int, spatial: Shape, weight: Shape) -> int:
    """MACs of a convolution: every weight element meets every (batch, spatial) position once.

    `spatial` is the output's spatial shape for a convolution and the input's for a transposed
    one; `weight` already holds the per-group channel count, so groups need no extra factor.
    """
    return batch * prod(spatial) * prod(weight)


def softmax_flops(rows: int, n: int) -> int:
    """Softmax over rows of n: n exponentials, n-1 additions, n divisions."""
    return rows * (3 * n - 1)


def softmax_backward_flops(rows: int, n: int) -> int:
    """grad_in = y * (g - sum(g * y)): n products, n-1 additions, n subtractions, n products."""
    return rows * (4 * n - 1)


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


def norm_flops(elements: int, affine_terms: int, computes_statistics: bool) -> int:
    """A normalization: subtract the mean and multiply by 1/std (2 per element), plus one per
    element for each affine term present (weight, bias), plus 3 per element when the statistics
    are computed on the fly (the sum for the mean, the square and the sum for the variance)."""
    per_element = 2 + affine_terms + (3 if computes_statistics else 0)
    return elements * per_element


def adaptive_pool_window_total(in_sizes: Shape, out_sizes: Shape) -> int:
    """Sum over all output positions of the window size of an adaptive pool (one batch-channel)."""
    total = 1
    for size_in, size_out in zip(in_sizes, out_sizes, strict=True):
        total *= sum(
            ceil((i + 1) * size_in / size_out) - floor(i * size_in / size_out)
            for i in range(size_out)
        )
    return total


# ----------------------------------------------------------------------------------------------
# Adapters: aten op arguments -> Cost
# ----------------------------------------------------------------------------------------------


def _shape(t: Any) -> Shape:
    return tuple(t.shape)


def _first(out: Any) -> Any:
    return out[0] if isinstance(out, (tuple, list)) else out


def _mm(args, kwargs, out) -> Cost:
    a, b = args[0], args[1]
    m, k = _shape(a)
    n = _shape(b)[1]
    return Cost(m * k * n, 0, ((a, n), (b, m)))


def _addmm(args, kwargs, out) -> Cost:
    return _mm(args[1:], kwargs, out) + Cost(other_flops=out.numel())


def _bmm(args, kwargs, out) -> Cost:
    a, b = args[0], args[1]
    batch, m, k = _shape(a)
    n = _shape(b)[2]
    return Cost(batch * m * k * n, 0, ((a, n), (b, m)))


def _baddbmm(args, kwargs, out) -> Cost:
    return _bmm(args[1:], kwargs, out) + Cost(other_flops=out.numel())


def _mv(args, kwargs, out) -> Cost:
    matrix, vector = args[0], args[1]
    m, n = _shape(matrix)
    return Cost(m * n, 0, ((matrix, 1), (vector, m)))


def _addmv(args, kwargs, out) -> Cost:
    return _mv(args[1:], kwargs, out) + Cost(other_flops=out.numel())


def _dot(args, kwargs, out) -> Cost:
    return Cost(args[0].numel())


def _convolution(args, kwargs, out) -> Cost:
    """convolution / _convolution(input, weight, bias, stride, padding, dilation, transposed,
    output_padding, groups)."""
    x, weight, bias, transposed = args[0], args[1], args[2], args[6]
    spatial = _shape(x)[2:] if transposed else _shape(out)[2:]
    uses = _shape(x)[0] * prod(spatial)
    macs = conv_macs(_shape(x)[0], spatial, _shape(weight))
    return Cost(macs, out.numel() if bias is not None else 0, ((weight, uses),))


def _convolution_backward(args, kwargs, out) -> Cost:
    """convolution_backward(grad_out, input, weight, bias_sizes, stride, padding, dilation,
    transposed, output_padding, groups, output_mask): grad_input and grad_weight each repeat the
    forward's MACs; grad_bias sums grad_out."""
    grad_out, x, weight = args[0], args[1], args[2]
    transposed, output_mask = args[7], args[10]
    spatial = _shape(x)[2:] if transposed else _shape(grad_out)[2:]
    uses = _shape(x)[0] * prod(spatial)
    forward_macs = conv_macs(_shape(x)[0], spatial, _shape(weight))
    cost = Cost()
    if output_mask[0]:
        cost += Cost(forward_macs, 0, ((weight, uses),))
    if output_mask[1]:
        cost += Cost(forward_macs)
    if output_mask[2]:
        cost += Cost(other_flops=grad_out.numel())
    return cost


def _attention_from(q, k, v, masked: bool, dropout_p: float) -> Cost:
    batch, heads, q_len, qk_dim = _shape(q)
    kv_len, v_dim = _shape(k)[2], _shape(v)[3]
    return attention_cost(batch, heads, q_len, kv_len, qk_dim, v_dim, masked, dropout_p > 0)


def _flash_attention_for_cpu(args, kwargs, out) -> Cost:
    """(query, key, value, dropout_p=0., is_causal=False, *, attn_mask=None, scale=None)."""
    dropout_p = args[3] if len(args) > 3 else kwargs.get("dropout_p", 0.0)
    is_causal = args[4] if len(args) > 4 else kwargs.get("is_causal", False)
    masked = bool(is_causal) or kwargs.get("attn_mask") is not None
    return _attention_from(args[0], args[1], args[2], masked, dropout_p)


def _flash_attention(args, kwargs, out) -> Cost:
    """_scaled_dot_product_flash_attention(query, key, value, dropout_p, is_causal, ...)."""
    dropout_p = args[3] if len(args) > 3 else kwargs.get("dropout_p", 0.0)
    is_causal = args[4] if len(args) > 4 else kwargs.get("is_causal", False)
    return _attention_from(args[0], args[1], args[2], bool(is_causal), dropout_p)


def _biased_attention(args, kwargs, out) -> Cost:
    """_scaled_dot_product_{efficient,cudnn}_attention(query, key, value, attn_bias,
    compute_log_sumexp, dropout_p, is_causal, ...)."""
    bias = args[3] if len(args) > 3 else kwargs.get("attn_bias")
    dropout_p = args[5] if len(args) > 5 else kwargs.get("dropout_p", 0.0)
    is_causal = args[6] if len(args) > 6 else kwargs.get("is_causal", False)
    masked = bias is not None or bool(is_causal)
    return _attention_from(args[0], args[1], args[2], masked, dropout_p)


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


def _native_multi_head_attention(args, kwargs, out) -> Cost:
    """(query, key, value, embed_dim, num_head, qkv_weight, qkv_bias, proj_weight, proj_bias,
    mask=None, need_weights=True, average_attn_weights=True, mask_type=None)."""

    def arg(i, name, default):
        return args[i] if len(args) > i else kwargs.get(name, default)

    return _multi_head_attention_cost(
        args[0],
        args[1],
        args[3],
        args[4],
        args[5],
        args[7],
        masked=arg(9, "mask", None) is not None,
        need_weights=bool(arg(10, "need_weights", True)),
        average_weights=bool(arg(11, "average_attn_weights", True)),
    )


def _transformer_encoder_layer(args, kwargs, out) -> Cost:
    """_transformer_encoder_layer_fwd(src, embed_dim, num_heads, qkv_weight, qkv_bias,
    proj_weight, proj_bias, use_gelu, norm_first, eps, norm_weight_1, norm_bias_1, norm_weight_2,
    norm_bias_2, ffn_weight_1, ffn_bias_1, ffn_weight_2, ffn_bias_2, mask=None, mask_type=None):
    nn.TransformerEncoderLayer's fused path, counted op for op as its decomposed path runs."""
    src, embed_dim, heads = args[0], args[1], args[2]
    mask = args[18] if len(args) > 18 else kwargs.get("mask")
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


def _present(x: Any) -> int:
    return 0 if x is None else 1


def _layer_norm(args, kwargs, out) -> Cost:
    """native_layer_norm(input, normalized_shape, weight, bias, eps)."""
    affine = _present(args[2]) + _present(args[3])
    return Cost(other_flops=norm_flops(args[0].numel(), affine, True))


def _group_norm(args, kwargs, out) -> Cost:
    """native_group_norm(input, weight, bias, N, C, HxW, group, eps)."""
    affine = _present(args[1]) + _present(args[2])
    return Cost(other_flops=norm_flops(args[0].numel(), affine, True))


def _batch_norm_with_training_at(index: int | None) -> Callable[..., Cost]:
    """native_batch_norm and _native_batch_norm_legit*(input, weight, bias, running_mean,
    running_var, [training], ...): statistics are computed only in training."""

    def cost(args, kwargs, out) -> Cost:
        training = bool(args[index]) if index is not None else False
        affine = 2 * _present(args[1])
        return Cost(other_flops=norm_flops(args[0].numel(), affine, training))

    return cost


def _layer_norm_backward(args, kwargs, out) -> Cost:
    """native_layer_norm_backward(grad_out, input, normalized_shape, mean, rstd, weight, bias,
    output_mask)."""
    affine = _present(args[5]) + _present(args[6])
    return Cost(other_flops=2 * norm_flops(args[1].numel(), affine, True))


def _batch_norm_backward(args, kwargs, out) -> Cost:
    """native_batch_norm_backward(grad_out, input, weight, running_mean, running_var, save_mean,
    save_invstd, train, eps, output_mask)."""
    affine = 2 * _present(args[2])
    return Cost(other_flops=2 * norm_flops(args[1].numel(), affine, bool(args[7])))


def _group_norm_backward(args, kwargs, out) -> Cost:
    """native_group_norm_backward(grad_out, input, mean, rstd, weight, N, C, HxW, group, mask)."""
    affine = 2 * _present(args[4])
    return Cost(other_flops=2 * norm_flops(args[1].numel(), affine, True))


def _rows_and_n(x: Any, dim: int) -> tuple[int, int]:
    shape = _shape(x)
    if not shape:
        return 1, 1
    n = shape[dim]
    return (x.numel() // n if n else 0), n


def _softmax(args, kwargs, out) -> Cost:
    """_softmax / _safe_softmax / _log_softmax(input, dim, ...)."""
    rows, n = _rows_and_n(args[0], args[1])
    return Cost(other_flops=softmax_flops(rows, n))


def _softmax_backward(args, kwargs, out) -> Cost:
    """_softmax_backward_data / _log_softmax_backward_data(grad_output, output, dim, dtype)."""
    rows, n = _rows_and_n(args[0], args[2])
    return Cost(other_flops=softmax_backward_flops(rows, n))


def per_output(flops_per_element: int) -> Callable[..., Cost]:
    """A cost of `flops_per_element` per element of the op's (first) output."""

    def cost(args, kwargs, out) -> Cost:
        return Cost(other_flops=flops_per_element * _first(out).numel())

    return cost


def _per_input(flops_per_element: int, flops_per_output: int = 0) -> Callable[..., Cost]:
    def cost(args, kwargs, out) -> Cost:
        return Cost(
            other_flops=flops_per_element * args[0].numel() + flops_per_output * _first(out).numel()
        )

    return cost


def _kernel_elements(kernel_size: Any, spatial_dims: int) -> int:
    sizes = [kernel_size] if isinstance(kernel_size, int) else list(kernel_size)
    if len(sizes) == 1:
        sizes = sizes * spatial_dims
    return prod(sizes)


def _avg_pool(args, kwargs, out) -> Cost:
    """avg_pool{2,3}d(input, kernel_size, ...): k additions and one division per output element."""
    k = _kernel_elements(args[1], len(_shape(out)) - 2)
    return Cost(other_flops=(k + 1) * out.numel())


def _avg_pool_backward(args, kwargs, out) -> Cost:
    """avg_pool{2,3}d_backward(grad_output, input, kernel_size, ...): as the forward."""
    k = _kernel_elements(args[2], len(_shape(args[0])) - 2)
    return Cost(other_flops=(k + 1) * args[0].numel())


def _adaptive_avg_pool(args, kwargs, out) -> Cost:
    """_adaptive_avg_pool{2,3}d(input, output_size): window size + 1 per output element."""
    x = args[0]
    spatial = len(_shape(out)) - 2 if len(_shape(out)) > 2 else len(_shape(out)) - 1
    in_sizes, out_sizes = _shape(x)[-spatial:], _shape(out)[-spatial:]
    planes = out.numel() // prod(out_sizes)
    return Cost(other_flops=planes * adaptive_pool_window_total(in_sizes, out_sizes) + out.numel())


def _upsample_linear(dims: int) -> Callable[..., Cost]:
    """Linear interpolation: 3 per output element per interpolated dimension."""
    return per_output(3 * dims)


def _foreach(args, kwargs, out) -> Cost:
    """_foreach_* ops: 1 per element of every tensor in the first list."""
    return Cost(other_flops=sum(t.numel() for t in args[0]))


def _nll_loss(args, kwargs, out) -> Cost:
    """nll_loss_forward / nll_loss2d_forward(input, target, ...): one addition per target."""
    return Cost(other_flops=args[1].numel())


# ---- recurrent layers and cells (LSTM, GRU, RNN) ----------------------------------------------
# Counted as PyTorch's decomposed (native) path runs them, op for op: per time step and batch row,
# the gate products (MACs), the bias adds of the two projections, then the cell's elementwise ops.

RNN_GATES: dict[str, int] = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}

# mkldnn_rnn_layer's `mode` (ideep::rnn_kind)
MKLDNN_RNN_MODES: dict[int, str] = {0: "rnn_relu", 1: "rnn_tanh", 2: "lstm", 3: "gru"}


def rnn_macs(kind: str, rows: int, input_size: int, hidden: int, proj: int = 0) -> int:
    """One layer in one direction over `rows` (time steps × batch rows; the sum of batch_sizes for
    a PackedSequence): gates·h·(in + r) per row, r the recurrent width (proj or hidden), plus
    the projection's p·h."""
    recurrent = proj or hidden
    return rows * (RNN_GATES[kind] * hidden * (input_size + recurrent) + proj * hidden)


def rnn_cell_flops(kind: str, hidden: int) -> int:
    """A cell's elementwise work per row once both gate projections are done (their bias adds
    excluded), as the decomposed cells run it (tanh 5, sigmoid 4, anything else 1 per element):

    - lstm: gates = ih + hh (4h); i, f, o sigmoid (3·4h); g tanh (5h); c = f·c + i·g (3h);
      tanh(c) (5h); h = o·tanh(c) (h): 30h
    - gru: r, z = sigmoid(ih + hh) (2·(h + 4h)); n = tanh(ih_n + r·hh_n) (2h + 5h);
      h = (h - n)·z + n (3h): 20h
    - rnn_tanh: tanh(ih + hh) (h + 5h): 6h; rnn_relu: relu(ih + hh) (h + h): 2h
    """
    per_hidden = {"lstm": 30, "gru": 20, "rnn_tanh": 6, "rnn_relu": 2}[kind]
    return per_hidden * hidden


def rnn_layer_flops(kind: str, rows: int, hidden: int, biases: bool) -> int:
    """Elementwise work of one layer and direction: the cell's, plus the bias adds of both
    projections (gates·h each) when the layer has biases."""
    bias_adds = 2 * RNN_GATES[kind] * hidden if biases else 0
    return rows * (rnn_cell_flops(kind, hidden) + bias_adds)


def rnn_cell_backward_flops(kind: str, hidden: int) -> int:
    """A cell's elementwise backward per row, as autograd runs the decomposed cell's:

    - lstm: through h = o·tanh(c) (2 products, tanh') and c = f·c + i·g (4 products), then the
      gates' sigmoid' (3) and tanh' (1): 11h
    - gru: 4 products, 2 sums, a negation, sigmoid' (2) and tanh' (1): 10h
    - rnn_tanh, rnn_relu: tanh' or relu': h
    """
    per_hidden = {"lstm": 11, "gru": 10, "rnn_tanh": 1, "rnn_relu": 1}[kind]
    return per_hidden * hidden


def rnn_layer_backward_flops(kind: str, rows: int, hidden: int, biases: bool) -> int:
    """Elementwise work of a fused layer backward (mkldnn_rnn_layer_backward) per layer and
    direction: per row, the cell's backward, the sum of the output's and the next step's
    gradient of each state (h; and c for an LSTM), and both bias gradients (gates·h each). The
    weight gradients are gemms over all rows: their accumulation is in the MACs."""
    states = 2 if kind == "lstm" else 1
    bias_sums = 2 * RNN_GATES[kind] * hidden if biases else 0
    return rows * (rnn_cell_backward_flops(kind, hidden) + states * hidden + bias_sums)


def _rows(x: Any) -> int:
    """Time steps × batch rows of an RNN input: every dimension but the feature one (a packed
    input is (sum of batch_sizes, features))."""
    return prod(_shape(x)[:-1])


def _mkldnn_rnn_layer(args, kwargs, out) -> Cost:
    """mkldnn_rnn_layer(input, w_ih, w_hh, b_ih, b_hh, hx, cx, reverse, batch_sizes, mode,
    hidden_size, num_layers, has_biases, bidirectional, batch_first, train): one layer in one
    direction, as the decomposed path counts it."""
    x, w_ih, w_hh = args[0], args[1], args[2]
    kind, hidden, biases = MKLDNN_RNN_MODES[args[9]], args[10], bool(args[12])
    rows = _rows(x)
    return Cost(
        rnn_macs(kind, rows, _shape(x)[-1], hidden),
        rnn_layer_flops(kind, rows, hidden, biases),
        separate_weight_uses=((w_ih, rows), (w_hh, rows)),
    )


def _mkldnn_rnn_layer_backward(args, kwargs, out) -> Cost:
    """mkldnn_rnn_layer_backward(input, w_ih, w_hh, b_ih, b_hh, hx, cx, output, hy, cy,
    grad_output, grad_hy, grad_cy, reverse, mode, hidden_size, num_layers, has_biases, train,
    bidirectional, batch_sizes, batch_first, workspace): the kernel computes every gradient, so
    its MACs are twice the forward's (the gradients of the input and hidden state, then of the
    weights)."""
    x, w_ih, w_hh = args[0], args[1], args[2]
    kind, hidden, biases = MKLDNN_RNN_MODES[args[14]], args[15], bool(args[17])
    rows = _rows(x)
    return Cost(
        2 * rnn_macs(kind, rows, _shape(x)[-1], hidden),
        rnn_layer_backward_flops(kind, rows, hidden, biases),
        separate_weight_uses=((w_ih, rows), (w_hh, rows)),
    )


def _fused_cell(kind: str) -> Callable[..., Cost]:
    """_thnn_fused_{lstm,gru}_cell(input_gates, hidden_gates, state, input_bias=None,
    hidden_bias=None): the cell after its two bias-free gate products, the bias adds inside."""

    def cost(args, kwargs, out) -> Cost:
        state = args[2]
        biased = (args[3] if len(args) > 3 else kwargs.get("input_bias")) is not None
        rows, hidden = _rows(state), _shape(state)[-1]
        return Cost(other_flops=rnn_layer_flops(kind, rows, hidden, biased))

    return cost


def _fused_lstm_cell_backward(args, kwargs, out) -> Cost:
    """_thnn_fused_lstm_cell_backward_impl(grad_hy, grad_cy, cx, cy, workspace, has_bias): the
    cell's backward, grad_cy added to the cell state's gradient, one bias gradient (4h)."""
    grad_cy, cx, has_bias = args[1], args[2], bool(args[5])
    rows, hidden = _rows(cx), _shape(cx)[-1]
    per_row = rnn_cell_backward_flops("lstm", hidden)
    per_row += hidden if grad_cy is not None else 0
    per_row += 4 * hidden if has_bias else 0
    return Cost(other_flops=rows * per_row)


def _fused_gru_cell_backward(args, kwargs, out) -> Cost:
    """_thnn_fused_gru_cell_backward(grad_hy, workspace, has_bias): the cell's backward and both
    bias gradients (3h each)."""
    grad_hy, has_bias = args[0], bool(args[2])
    rows, hidden = _rows(grad_hy), _shape(grad_hy)[-1]
    per_row = rnn_cell_backward_flops("gru", hidden) + (6 * hidden if has_bias else 0)
    return Cost(other_flops=rows * per_row)


# ---- quantized ops: a quantized op costs its float twin's work ----------------------------------
# A MAC is a MAC whatever its dtype. Rescaling inside a quantized kernel (the int32 accumulator to
# the output's scale, a weight's per-channel scales) is not counted, as the float twin does none;
# an explicit quantize or dequantize op costs 1 per element. Conv and linear weights arrive packed
# (a torch.ScriptObject); their shapes are read from its `unpack()`.


def recurrent_stack_cost(
    kind: str,
    positions: int,
    input_size: int,
    hidden: int,
    layers: int,
    directions: int,
    biases: bool,
) -> Cost:
    """A stacked RNN over `positions` rows (time steps × batch rows), counted as its float
    layers are: `rnn_macs` and `rnn_layer_flops` for every layer and direction (the input width
    is input_size in the first layer, directions·hidden after)."""
    cost = Cost()
    for layer in range(layers):
        width = input_size if layer == 0 else directions * hidden
        macs = rnn_macs(kind, positions, width, hidden)
        cost += Cost(
            directions * macs, directions * rnn_layer_flops(kind, positions, hidden, biases)
        )
    return cost


def _quantized_conv(transposed: bool, fused: int = 0, packed_at: int = 1) -> Callable[..., Cost]:
    """quantized::conv{1,2,3}d[_relu](qx, packed_weight, output_scale, output_zero_point), the
    transposed and dynamic forms, conv2d_add[_relu](qx, qaccum, packed_weight, ...): the float
    twin's MACs and bias add (1 per output element), plus `fused` per output element (relu, add).
    A packed weight is no parameter, so sparse MACs count it dense (as any op without one)."""

    def cost(args, kwargs, out) -> Cost:
        x, packed = args[0], args[packed_at]
        weight, bias = packed.unpack()
        spatial = _shape(x)[2:] if transposed else _shape(out)[2:]
        macs = conv_macs(_shape(x)[0], spatial, _shape(weight))
        return Cost(macs, (_present(bias) + fused) * out.numel())

    return cost


def _quantized_linear(fused: int = 0) -> Callable[..., Cost]:
    """quantized::linear[_relu](x, packed_weight, ...), the dynamic (int8 and float16) forms: rows ·
    in · out MACs, 1 per output element for the bias, `fused` per output element for a fused
    activation. Sparse MACs count it dense, as for convolutions."""

    def cost(args, kwargs, out) -> Cost:
        x, packed = args[0], args[1]
        weight, bias = packed.unpack()
        out_features, in_features = _shape(weight)
        rows = x.numel() // in_features
        macs = rows * in_features * out_features
        return Cost(macs, (_present(bias) + fused) * out.numel())

    return cost


def _quantized_lstm(args, kwargs, out) -> Cost:
    """quantized_lstm.input(input, hx, params, has_biases, num_layers, dropout, train,
    bidirectional, batch_first) and .data(data, batch_sizes, hx, params, has_biases, num_layers,
    dropout, train, bidirectional): a dynamic quantized LSTM counts as its float twin."""
    packed_sequence = not isinstance(args[1], (list, tuple))
    if packed_sequence:
        data, hx, rest = args[0], args[2], args[4:]
    else:
        data, hx, rest = args[0], args[1], args[3:]
    has_biases, layers, bidirectional = rest[0], rest[1], rest[4]
    input_size, hidden = _shape(data)[-1], _shape(hx[1])[-1]
    if _shape(hx[0])[-1] != hidden:
        raise ValueError("an LSTM with projections: no formula")
    directions = 2 if bidirectional else 1
    positions = data.numel() // input_size
    return recurrent_stack_cost(
        "lstm", positions, input_size, hidden, layers, directions, bool(has_biases)
    )


def _quantized_gru(args, kwargs, out) -> Cost:
    """quantized_gru.input(input, hx, params, has_biases, num_layers, dropout, train,
    bidirectional, batch_first) and .data(data, batch_sizes, hx, params, has_biases, ...): a
    dynamic quantized GRU counts as its float twin."""
    packed_sequence = not isinstance(args[2], (list, tuple))
    data = args[0]
    hx, rest = (args[2], args[4:]) if packed_sequence else (args[1], args[3:])
    has_biases, layers, bidirectional = rest[0], rest[1], rest[4]
    input_size = _shape(data)[-1]
    directions = 2 if bidirectional else 1
    positions, hidden = data.numel() // input_size, _shape(hx)[-1]
    return recurrent_stack_cost(
        "gru", positions, input_size, hidden, layers, directions, bool(has_biases)
    )


def _quantized_norm(
    weight_at: int, bias_at: int, computes_statistics: bool, fused: int = 0
) -> Callable[..., Cost]:
    """quantized::layer_norm / group_norm / instance_norm / batch_norm* and aten's
    quantized_batch_norm: the float twin's normalization cost, `fused` per element for a relu."""

    def cost(args, kwargs, out) -> Cost:
        affine = _present(args[weight_at]) + _present(args[bias_at])
        elements = args[0].numel()
        flops = norm_flops(elements, affine, computes_statistics) + fused * elements
        return Cost(other_flops=flops)

    return cost


def _quantized_matmul(args, kwargs, out) -> Cost:
    """quantized::matmul(qa, qb, scale, zero_point): every output element is a dot product of
    length k (qa's last dimension)."""
    return Cost(out.numel() * _shape(args[0])[-1])


def _per_element_of_outputs(args, kwargs, out) -> Cost:
    """1 per element of every output (quantize_per_tensor.tensors returns a list)."""
    outputs = out if isinstance(out, (tuple, list)) else (out,)
    return Cost(other_flops=sum(t.numel() for t in outputs))


def _int_mm(args, kwargs, out) -> Cost:
    """_int_mm(a, b): int8 × int8 → int32, an mm whatever its dtype."""
    return _mm(args, kwargs, out)


# Handlers whose work counts although their output is an integer tensor (not bookkeeping).
INTEGER_MATMULS: frozenset[Callable[..., Cost]] = frozenset({_int_mm})


def _weight_only_mm(args, kwargs, out) -> Cost:
    """_weight_int8pack_mm(x, w, scales), _weight_int4pack_mm[_for_cpu](x, w_packed, group,
    scales_and_zeros), _dyn_quant_matmul_4bit(x, packed, block, in, out): m·k·n MACs, read from x
    (m·k) and the output (m·n), since a packed int4 weight's shape is not (n, k). Rescaling by the
    weight's scales is not counted; a bias packed into _dyn_quant_matmul_4bit's weight cannot be
    seen, so its add is not counted either."""
    return Cost(args[0].numel() * _shape(out)[-1])


# ----------------------------------------------------------------------------------------------
# Grouped matmuls (mixture of experts), selection and other op families
# ----------------------------------------------------------------------------------------------


def _values_known(t: Any) -> bool:
    """Whether a tensor's values can be read: not a meta tensor, not a fake one."""
    return not t.is_meta and not hasattr(t, "fake_mode")


def _last_offset(offs: Any, full: int) -> int:
    """Rows (or columns) a grouped matmul covers: the last offset on real tensors; on meta and
    fake tensors, where the offsets are unknown, the whole dimension."""
    if offs is None or not _values_known(offs) or offs.numel() == 0:
        return full
    return min(int(offs[-1]), full)


def _grouped_mm(args, kwargs, out) -> Cost:
    """_grouped_mm(self, mat2, offs=None, bias=None, out_dtype=None): Σ over groups of
    rows·k·n. 2d×3d (tokens × experts' weights): the rows up to offs[-1]; 3d×3d: every batch;
    2d×2d (offs on k, the weight gradient): k up to offs[-1]; 3d×2d: n up to offs[-1]."""
    a, b = args[0], args[1]
    offs = args[2] if len(args) > 2 else kwargs.get("offs")
    bias = args[3] if len(args) > 3 else kwargs.get("bias")
    a_shape, b_shape = _shape(a), _shape(b)
    if len(a_shape) == 2 and len(b_shape) == 3:
        macs = _last_offset(offs, a_shape[0]) * a_shape[1] * b_shape[2]
    elif len(a_shape) == 3 and len(b_shape) == 3:
        macs = a_shape[0] * a_shape[1] * a_shape[2] * b_shape[2]
    elif len(a_shape) == 2 and len(b_shape) == 2:
        macs = a_shape[0] * _last_offset(offs, a_shape[1]) * b_shape[1]
    else:  # 3d × 2d
        macs = a_shape[1] * a_shape[2] * _last_offset(offs, b_shape[1])
    return Cost(macs, out.numel() if bias is not None else 0)


def _complex_macs(formula: Callable[..., Cost]) -> Callable[..., Cost]:
    """A matrix product of complex tensors: each complex multiply-accumulate is 4 real ones
    (BLAS's 8·m·k·n FLOPs for a complex GEMM)."""

    def cost(args, kwargs, out) -> Cost:
        real = formula(args, kwargs, out)
        if not _first(out).is_complex():
            return real
        uses = tuple((operand, 4 * n) for operand, n in real.weight_uses)
        return Cost(4 * real.macs, real.other_flops, uses)

    return cost


def _addbmm(args, kwargs, out) -> Cost:
    """addbmm(input, batch1, batch2, beta, alpha): Σ_b batch1[b] @ batch2[b], plus the input."""
    return _bmm(args[1:], kwargs, out) + Cost(other_flops=out.numel())


def fft_flops(elements: int, transform_size: int, real: bool) -> int:
    """An FFT: 5·N·log₂(M) real FLOPs for complex data (2.5·N·log₂(M) for a real input or
    output), N the signal's elements (all batches), M the product of the transformed lengths,
    rounded to the nearest integer (halves up). A multi-dimensional FFT is one FFT per
    dimension: Σ_d (N/n_d)·5·n_d·log₂(n_d) = 5·N·log₂(M)."""
    if transform_size <= 1:
        return 0
    factor = 2.5 if real else 5.0
    return floor(factor * elements * log2(transform_size) + 0.5)


def _fft(real_input: bool, real_output: bool) -> Callable[..., Cost]:
    """_fft_r2c(self, dim, normalization, onesided), _fft_c2r(self, dim, normalization,
    last_dim_size), _fft_c2c(self, dim, normalization, forward). A normalization (1/√n or 1/n)
    adds 1 per real output value: 2 per complex output element."""

    def cost(args, kwargs, out) -> Cost:
        signal = out if real_output else args[0]
        dims = [args[1]] if isinstance(args[1], int) else list(args[1])
        size = prod(_shape(signal)[d] for d in dims)
        flops = fft_flops(signal.numel(), size, real_input or real_output)
        if args[2]:
            flops += out.numel() * (1 if real_output else 2)
        return Cost(other_flops=flops)

    return cost


# Interpolation: (2t − 1) per output element per interpolated dimension, t = the taps of that
# dimension's filter (t multiplications, t − 1 additions): linear 2 taps, cubic 4.
LINEAR_TAPS, CUBIC_TAPS = 2, 4


def _interpolation(taps: int, dims: int, on_grad: bool = False) -> Callable[..., Cost]:
    """upsample_* / upsample_*_backward: (2·taps − 1)·dims per output (grad_output) element."""

    def cost(args, kwargs, out) -> Cost:
        elements = args[0].numel() if on_grad else _first(out).numel()
        return Cost(other_flops=(2 * taps - 1) * dims * elements)

    return cost


def _pixel_scale(in_size: int, out_size: int, align_corners: bool, scale: float | None) -> float:
    """PyTorch's area_pixel_compute_scale: input pixels per output pixel."""
    if align_corners:
        return (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    return 1.0 / scale if scale else in_size / out_size


def antialias_taps(in_size: int, out_size: int, scale: float, taps: int) -> list[int]:
    """The taps of an antialiased filter at each output position, as PyTorch computes them: the
    filter's support widens by the scale when downsampling and is clipped at the borders."""
    support = taps * 0.5 * scale if scale >= 1.0 else taps * 0.5
    result = []
    for i in range(out_size):
        center = scale * (i + 0.5)
        start = max(int(center - support + 0.5), 0)
        result.append(min(int(center + support + 0.5), in_size) - start)
    return result


def antialias_flops(in_sizes: Shape, out_sizes: Shape, scales: tuple, taps: int) -> int:
    """Σ over the output positions of one plane of Σ_d (2·t_d − 1), t_d the taps of dimension d
    at that position (the `_interpolation` rule with exact taps)."""
    total = 0
    for size_in, size_out, scale in zip(in_sizes, out_sizes, scales, strict=True):
        per_line = sum(2 * t - 1 for t in antialias_taps(size_in, size_out, scale, taps))
        total += per_line * prod(out_sizes) // size_out
    return total


def _antialiased(taps: int, on_grad: bool = False) -> Callable[..., Cost]:
    """_upsample_{bilinear,bicubic}2d_aa(input, output_size, align_corners, scales_h, scales_w)
    and their _backward(grad_output, output_size, input_size, align_corners, scales_h,
    scales_w)."""

    def cost(args, kwargs, out) -> Cost:
        if on_grad:
            grad, in_shape, rest = args[0], tuple(args[2]), args[3:]
            out_shape = _shape(grad)
        else:
            in_shape, out_shape, rest = _shape(args[0]), _shape(out), args[2:]
        align_corners = bool(rest[0]) if rest else False
        given = list(rest[1]) if len(rest) > 1 and isinstance(rest[1], (list, tuple)) else rest[1:]
        given = [*given, None, None][:2]
        in_sizes, out_sizes = in_shape[2:], out_shape[2:]
        scales = tuple(
            _pixel_scale(i, o, align_corners, s)
            for i, o, s in zip(in_sizes, out_sizes, given, strict=True)
        )
        planes = out_shape[0] * out_shape[1]
        return Cost(other_flops=planes * antialias_flops(in_sizes, out_sizes, scales, taps))

    return cost


GRID_SAMPLER_TAPS = {0: LINEAR_TAPS, 2: CUBIC_TAPS}  # interpolation_mode 1 (nearest) has none


def _grid_sampler(args, kwargs, out) -> Cost:
    """grid_sampler_{2,3}d(input, grid, interpolation_mode, padding_mode, align_corners): the
    interpolation rule per output element (nearest: 0) plus 2 per grid coordinate (its scale and
    shift to pixels)."""
    dims = len(_shape(out)) - 2
    taps = GRID_SAMPLER_TAPS.get(args[2])
    per_output = (2 * taps - 1) * dims if taps else 0
    return Cost(other_flops=per_output * out.numel() + 2 * args[1].numel())


def _grid_sampler_backward(args, kwargs, out) -> Cost:
    """grid_sampler_{2,3}d_backward(grad_output, input, grid, interpolation_mode, padding_mode,
    align_corners, output_mask): grad_input and grad_grid each repeat the forward's
    interpolation per grad_output element (nearest: grad_input adds 1 per element, grad_grid
    is zero); plus the grid's scale and shift."""
    grad, grid, mode = args[0], args[2], args[3]
    output_mask = args[6] if len(args) > 6 else (True, True)
    dims = len(_shape(grad)) - 2
    taps = GRID_SAMPLER_TAPS.get(mode)
    per_output = (2 * taps - 1) * dims if taps else 0
    flops = 2 * grid.numel()
    if output_mask[0]:
        flops += (per_output or 1) * grad.numel()
    if output_mask[1]:
        flops += per_output * grad.numel()
    return Cost(other_flops=flops)


EMBEDDING_BAG_SUM, EMBEDDING_BAG_MEAN, EMBEDDING_BAG_MAX = 0, 1, 2


def _embedding_bag(args, kwargs, out) -> Cost:
    """_embedding_bag(weight, indices, offsets, scale_grad_by_freq, mode, sparse,
    per_sample_weights, ...): 1 per looked-up element (sum: an addition; max: a comparison),
    +1 per looked-up element with per_sample_weights (the product), +1 per output element for
    mean (the division)."""
    weight, indices, mode = args[0], args[1], args[4] if len(args) > 4 else 0
    weights = args[6] if len(args) > 6 else kwargs.get("per_sample_weights")
    looked_up = indices.numel() * _shape(weight)[1]
    flops = looked_up * (2 if weights is not None else 1)
    if mode == EMBEDDING_BAG_MEAN:
        flops += _first(out).numel()
    return Cost(other_flops=flops)


def _embedding_bag_backward(mode_at: int, weights_at: int, freq_at: int) -> Callable[..., Cost]:
    """_embedding_bag_backward / _embedding_bag_dense_backward(grad, indices, ...): each
    looked-up element's gradient added into its row (1), divided by its bag's size for mean
    (+1), by its frequency with scale_grad_by_freq (+1), multiplied by its per-sample weight
    (+1); max: 1 per grad element (each goes to its maximum's row)."""

    def cost(args, kwargs, out) -> Cost:
        grad, indices, mode = args[0], args[1], args[mode_at]
        if mode == EMBEDDING_BAG_MAX:
            return Cost(other_flops=grad.numel())
        per_element = 1 + (mode == EMBEDDING_BAG_MEAN) + bool(args[freq_at])
        per_element += args[weights_at] is not None if len(args) > weights_at else 0
        return Cost(other_flops=per_element * indices.numel() * _shape(grad)[1])

    return cost


def _embedding_bag_weights_backward(args, kwargs, out) -> Cost:
    """_embedding_bag_per_sample_weights_backward(grad, weight, indices, ...): a product and a
    sum per looked-up element (each weight's gradient is a row's dot product with grad)."""
    return Cost(other_flops=2 * args[2].numel() * _shape(args[1])[1])


def _index_add(args, kwargs, out) -> Cost:
    """index_add(self, dim, index, source, alpha=1): 1 per source element, +1 with alpha ≠ 1."""
    alpha = args[4] if len(args) > 4 else kwargs.get("alpha", 1)
    return Cost(other_flops=args[3].numel() * (1 if alpha == 1 else 2))


def _scatter_add(args, kwargs, out) -> Cost:
    """scatter_add(self, dim, index, src): 1 per index element (only those of src are used)."""
    return Cost(other_flops=args[2].numel())


def _reduce_into(used_at: int) -> Callable[..., Cost]:
    """scatter_reduce(self, dim, index, src, reduce, include_self) and index_reduce(self, dim,
    index, source, reduce, include_self): 1 per index (scatter) or source (index) element for
    every reduction; "mean" adds 1 per output element (the division)."""

    def cost(args, kwargs, out) -> Cost:
        reduce = args[4] if len(args) > 4 else kwargs.get("reduce")
        flops = args[used_at].numel() + (out.numel() if reduce == "mean" else 0)
        return Cost(other_flops=flops)

    return cost


def _weight_norm(args, kwargs, out) -> Cost:
    """_weight_norm_interface(v, g, dim) -> (w, norms): each norm 2 per element of v (square,
    add) + 1 (the root); w = v·(g/norm): 1 per element + 1 per norm."""
    return Cost(other_flops=3 * args[0].numel() + 2 * out[1].numel())


def _weight_norm_backward(args, kwargs, out) -> Cost:
    """_weight_norm_interface_backward(grad_w, saved_v, saved_g, saved_norms, dim): twice the
    forward's cost, as the normalizations' backward."""
    return Cost(other_flops=2 * (3 * args[1].numel() + 2 * args[3].numel()))


def cdist_flops(pairs: int, coordinates: int) -> int:
    """Pairwise distances: 3 per (pair, coordinate) (difference, power, sum) + 1 per pair (the
    root), whatever p."""
    return 3 * pairs * coordinates + pairs


def _cdist_forward(args, kwargs, out) -> Cost:
    """_cdist_forward(x1, x2, p, compute_mode)."""
    return Cost(other_flops=cdist_flops(out.numel(), _shape(args[0])[-1]))


def _cdist_backward(args, kwargs, out) -> Cost:
    """_cdist_backward(grad, x1, x2, p, cdist): as the forward."""
    return Cost(other_flops=cdist_flops(args[0].numel(), _shape(args[1])[-1]))


def _euclidean_dist(args, kwargs, out) -> Cost:
    """_euclidean_dist(x1, x2), as it runs: squared norms (2 per element of x1 and x2), x1·(−2)
    (1 per element), one matmul over the M coordinates plus 2 columns holding the norms, then
    clamp and root (2 per output element)."""
    x1, x2 = args[0], args[1]
    macs = out.numel() * (_shape(x1)[-1] + 2)
    return Cost(macs, 3 * x1.numel() + 2 * x2.numel() + 2 * out.numel())


def _unfold_backward(args, kwargs, out) -> Cost:
    """unfold_backward(grad_in, input_sizes, dim, size, step): every window element is added
    into its place (the overlap-add of istft): 1 per grad element."""
    return Cost(other_flops=args[0].numel())


# torchvision ops: a bilinear sample is the interpolation rule with 2 taps in 2 dimensions.
BILINEAR_SAMPLE = (2 * LINEAR_TAPS - 1) * 2


def roi_align_samples(boxes: list[list[float]], scale: float, bins: Shape, clamp: bool) -> int:
    """Σ over the boxes of the adaptive sampling grid, ceil(box height / bins) ·
    ceil(box width / bins), as torchvision computes it (a legacy box is at least 1×1)."""
    total = 0
    for _, x1, y1, x2, y2 in boxes:
        height, width = (y2 - y1) * scale, (x2 - x1) * scale
        if clamp:
            height, width = max(height, 1.0), max(width, 1.0)
        total += max(ceil(height / bins[0]), 0) * max(ceil(width / bins[1]), 0)
    return total


def roi_align_cost(
    elements: int, rois: Any, scale: float, bins: Shape, sampling: int, clamp: bool
) -> Cost:
    """roi_align and ps_roi_align: per output element, each of its bin's samples is a bilinear
    sample and an addition, then 1 division. An adaptive grid (sampling_ratio ≤ 0) is read from
    the boxes on real tensors; on meta and fake tensors it is unknown: the op is then listed as
    uncounted, never guessed."""
    if sampling > 0:
        samples = elements * sampling * sampling
    elif _values_known(rois):
        per_box = elements // max(_shape(rois)[0], 1)
        samples = per_box * roi_align_samples(rois.tolist(), scale, bins, clamp)
    else:
        raise ValueError("an adaptive roi_align grid depends on the boxes' values")
    return Cost(other_flops=(BILINEAR_SAMPLE + 1) * samples + elements)


def _roi_align(args, kwargs, out) -> Cost:
    """torchvision::roi_align(input, rois, spatial_scale, pooled_height, pooled_width,
    sampling_ratio, aligned)."""
    rois, scale, bins, sampling, aligned = args[1], args[2], (args[3], args[4]), args[5], args[6]
    return roi_align_cost(out.numel(), rois, scale, bins, sampling, clamp=not aligned)


def _roi_align_backward(args, kwargs, out) -> Cost:
    """torchvision::_roi_align_backward(grad, rois, spatial_scale, pooled_height, pooled_width,
    batch_size, channels, height, width, sampling_ratio, aligned): as the forward, per grad
    element (each sample's gradient spread over its 4 neighbours)."""
    grad, rois, scale, bins = args[0], args[1], args[2], (args[3], args[4])
    return roi_align_cost(grad.numel(), rois, scale, bins, args[9], clamp=not args[10])


def _ps_roi_align(args, kwargs, out) -> Cost:
    """torchvision::ps_roi_align(input, rois, spatial_scale, pooled_height, pooled_width,
    sampling_ratio) -> (output, channel_mapping)."""
    rois, scale, bins, sampling = args[1], args[2], (args[3], args[4]), args[5]
    return roi_align_cost(_first(out).numel(), rois, scale, bins, sampling, clamp=False)


def _ps_roi_align_backward(args, kwargs, out) -> Cost:
    """torchvision::_ps_roi_align_backward(grad, rois, channel_mapping, spatial_scale,
    pooled_height, pooled_width, sampling_ratio, batch_size, channels, height, width)."""
    grad, rois, scale, bins, sampling = args[0], args[1], args[3], (args[4], args[5]), args[6]
    return roi_align_cost(grad.numel(), rois, scale, bins, sampling, clamp=False)


def deform_conv2d_cost(batch: int, out_spatial: int, weight: Shape, in_channels: int) -> Cost:
    """A deformable convolution: a convolution's MACs at the output positions, plus a bilinear
    sample of every input channel at every kernel tap of every output position."""
    samples = batch * out_spatial * in_channels * prod(weight[2:])
    return Cost(batch * out_spatial * prod(weight), BILINEAR_SAMPLE * samples)


def _deform_conv2d(args, kwargs, out) -> Cost:
    """torchvision::deform_conv2d(input, weight, offset, mask, bias, ..., use_mask): plus the
    mask's product per sample with use_mask, and the bias add (always done: torchvision passes
    zeros for no bias)."""
    x, weight, use_mask = args[0], args[1], bool(args[13])
    out_spatial = prod(_shape(out)[2:])
    cost = deform_conv2d_cost(_shape(x)[0], out_spatial, _shape(weight), _shape(x)[1])
    mask_products = cost.other_flops // BILINEAR_SAMPLE if use_mask else 0
    return Cost(cost.macs, cost.other_flops + mask_products + out.numel())


def _deform_conv2d_backward(args, kwargs, out) -> Cost:
    """torchvision::_deform_conv2d_backward(grad, input, weight, offset, mask, bias, ...):
    grad_input and grad_weight each repeat the forward's MACs; the sampling is done three times
    (grad_input, grad_offset and mask, the columns for grad_weight); grad_bias sums grad."""
    grad, x, weight = args[0], args[1], args[2]
    forward = deform_conv2d_cost(_shape(x)[0], prod(_shape(grad)[2:]), _shape(weight), _shape(x)[1])
    return Cost(2 * forward.macs, 3 * forward.other_flops + grad.numel())


# ---- losses: per element of the input (a mean's one division is not counted, as for mse_loss) --


def _loss(per_element: int, input_at: int = 0, weights_at: tuple[int, ...] = ()) -> Callable:
    """A loss (or its backward) of `per_element` FLOPs per element of the input at `input_at`,
    plus 1 per element for each optional weight tensor present at `weights_at`."""

    def cost(args, kwargs, out) -> Cost:
        weights = sum(_present(args[i]) for i in weights_at if i < len(args))
        return Cost(other_flops=(per_element + weights) * args[input_at].numel())

    return cost


FORMULAS: dict[str, Callable[..., Cost]] = {
    # matrix products (MACs)
    "mm": _complex_macs(_mm),
    "addmm": _complex_macs(_addmm),
    "bmm": _complex_macs(_bmm),
    "baddbmm": _complex_macs(_baddbmm),
    "mv": _complex_macs(_mv),
    "addmv": _complex_macs(_addmv),
    "dot": _complex_macs(_dot),
    "vdot": _complex_macs(_dot),
    # convolutions (MACs), any dimension, transposed, grouped, dilated
    "convolution": _convolution,
    "_convolution": _convolution,
    "convolution_backward": _convolution_backward,
    # attention (MACs)
    "_scaled_dot_product_flash_attention_for_cpu": _flash_attention_for_cpu,
    "_scaled_dot_product_flash_attention": _flash_attention,
    "_scaled_dot_product_efficient_attention": _biased_attention,
    "_scaled_dot_product_cudnn_attention": _biased_attention,
    "_scaled_dot_product_flash_attention_for_cpu_backward": _attention_backward,
    "_scaled_dot_product_flash_attention_backward": _attention_backward,
    "_scaled_dot_product_efficient_attention_backward": _attention_backward,
    "_scaled_dot_product_cudnn_attention_backward": _attention_backward,
    "_native_multi_head_attention": _native_multi_head_attention,
    "_transformer_encoder_layer_fwd": _transformer_encoder_layer,
    # normalizations
    "native_layer_norm": _layer_norm,
    "native_group_norm": _group_norm,
    "native_batch_norm": _batch_norm_with_training_at(5),
    "_native_batch_norm_legit": _batch_norm_with_training_at(5),
    "_native_batch_norm_legit_functional": _batch_norm_with_training_at(5),
    "_native_batch_norm_legit_no_training": _batch_norm_with_training_at(None),
    "native_layer_norm_backward": _layer_norm_backward,
    "native_batch_norm_backward": _batch_norm_backward,
    "native_group_norm_backward": _group_norm_backward,
    # softmax
    "_softmax": _softmax,
    "_safe_softmax": _softmax,
    "_log_softmax": _softmax,
    "_softmax_backward_data": _softmax_backward,
    "_log_softmax_backward_data": _softmax_backward,
    # pooling
    "max_pool2d_with_indices": per_output(1),
    "max_pool3d_with_indices": per_output(1),
    "max_pool2d": per_output(1),
    "adaptive_max_pool2d": per_output(1),
    "adaptive_max_pool3d": per_output(1),
    "max_pool2d_with_indices_backward": _per_input(1),
    "max_pool3d_with_indices_backward": _per_input(1),
    "avg_pool2d": _avg_pool,
    "avg_pool3d": _avg_pool,
    "avg_pool2d_backward": _avg_pool_backward,
    "avg_pool3d_backward": _avg_pool_backward,
    "_adaptive_avg_pool2d": _adaptive_avg_pool,
    "_adaptive_avg_pool3d": _adaptive_avg_pool,
    "upsample_linear1d": _upsample_linear(1),
    "upsample_bilinear2d": _upsample_linear(2),
    "upsample_trilinear3d": _upsample_linear(3),
    # reductions: 1 per input element, plus the per-output divisions / roots
    "sum": _per_input(1),
    "mean": _per_input(1, 1),
    "prod": _per_input(1),
    "amax": _per_input(1),
    "amin": _per_input(1),
    "max": _per_input(1),
    "min": _per_input(1),
    "cumsum": _per_input(1),
    "cumprod": _per_input(1),
    "var": _per_input(3, 1),
    "std": _per_input(3, 2),
    "var_mean": _per_input(3, 2),
    "std_mean": _per_input(3, 3),
    "linalg_vector_norm": _per_input(2, 1),
    "norm": _per_input(2, 1),
    "logsumexp": _per_input(4, 2),
    # losses and backward scatters
    "mse_loss": _per_input(3),
    # losses: forward (difference, |·|, comparison, branch, sum ...) and backward, per element
    "mse_loss_backward": _loss(2, input_at=1),
    "smooth_l1_loss": _loss(5),
    "smooth_l1_loss_backward": _loss(3, input_at=1),
    "huber_loss": _loss(5),
    "huber_loss_backward": _loss(3, input_at=1),
    "binary_cross_entropy": _loss(7, weights_at=(2,)),
    "binary_cross_entropy_backward": _loss(5, input_at=1, weights_at=(3,)),
    "binary_cross_entropy_with_logits": _loss(6, weights_at=(2, 3)),
    "soft_margin_loss": _loss(4),
    "soft_margin_loss_backward": _loss(4, input_at=1),
    "nll_loss_forward": _nll_loss,
    "nll_loss2d_forward": _nll_loss,
    "embedding_dense_backward": _per_input(1),
    # dropout: the mask multiply and the 1/(1-p) scale
    "native_dropout": _per_input(2),
    "native_dropout_backward": _per_input(2),
    # recurrent layers and cells (LSTM, GRU, RNN)
    # (lstm, gru, rnn_tanh, rnn_relu, their *_cell and _thnn_differentiable_* are
    # CompositeImplicitAutograd: they never reach a dispatch mode; what they run is counted)
    "mkldnn_rnn_layer": _mkldnn_rnn_layer,
    "mkldnn_rnn_layer_backward": _mkldnn_rnn_layer_backward,
    "_thnn_fused_lstm_cell": _fused_cell("lstm"),
    "_thnn_fused_gru_cell": _fused_cell("gru"),
    "_thnn_fused_lstm_cell_backward_impl": _fused_lstm_cell_backward,
    "_thnn_fused_gru_cell_backward": _fused_gru_cell_backward,
    # quantized ops
    "quantize_per_tensor": _per_element_of_outputs,
    "quantize_per_channel": _per_element_of_outputs,
    "quantize_per_tensor_dynamic": _per_element_of_outputs,
    "dequantize": _per_element_of_outputs,
    "quantized::conv1d": _quantized_conv(False),
    "quantized::conv2d": _quantized_conv(False),
    "quantized::conv3d": _quantized_conv(False),
    "quantized::conv1d_relu": _quantized_conv(False, fused=1),
    "quantized::conv2d_relu": _quantized_conv(False, fused=1),
    "quantized::conv3d_relu": _quantized_conv(False, fused=1),
    "quantized::conv2d_add": _quantized_conv(False, fused=1, packed_at=2),
    "quantized::conv2d_add_relu": _quantized_conv(False, fused=2, packed_at=2),
    "quantized::conv_transpose1d": _quantized_conv(True),
    "quantized::conv_transpose2d": _quantized_conv(True),
    "quantized::conv_transpose3d": _quantized_conv(True),
    "quantized::conv1d_dynamic": _quantized_conv(False),
    "quantized::conv2d_dynamic": _quantized_conv(False),
    "quantized::conv3d_dynamic": _quantized_conv(False),
    "quantized::conv_transpose1d_dynamic": _quantized_conv(True),
    "quantized::conv_transpose2d_dynamic": _quantized_conv(True),
    "quantized::conv_transpose3d_dynamic": _quantized_conv(True),
    "quantized::linear": _quantized_linear(),
    "quantized::linear_relu": _quantized_linear(fused=1),
    "quantized::linear_leaky_relu": _quantized_linear(fused=1),
    "quantized::linear_tanh": _quantized_linear(fused=5),  # tanh: 5
    "quantized::linear_dynamic": _quantized_linear(),
    "quantized::linear_relu_dynamic": _quantized_linear(fused=1),
    "quantized::linear_dynamic_fp16": _quantized_linear(),
    "quantized::linear_relu_dynamic_fp16": _quantized_linear(fused=1),
    "quantized::matmul": _quantized_matmul,
    "quantized_lstm": _quantized_lstm,
    "quantized_gru": _quantized_gru,
    "quantized::add": per_output(1),
    "quantized::add_out": per_output(1),
    "quantized::add_scalar": per_output(1),
    "quantized::add_scalar_out": per_output(1),
    "quantized::mul": per_output(1),
    "quantized::mul_out": per_output(1),
    "quantized::mul_scalar": per_output(1),
    "quantized::mul_scalar_out": per_output(1),
    "quantized::add_relu": per_output(2),
    "quantized::add_relu_out": per_output(2),
    "quantized::add_scalar_relu": per_output(2),
    "quantized::add_scalar_relu_out": per_output(2),
    "quantized::mul_relu": per_output(2),
    "quantized::mul_relu_out": per_output(2),
    "quantized::mul_scalar_relu": per_output(2),
    "quantized::mul_scalar_relu_out": per_output(2),
    "quantized::cat_relu": per_output(1),
    "quantized::cat_relu_out": per_output(1),
    "quantized::hardswish": per_output(1),
    "quantized::relu6": per_output(1),
    "quantized::leaky_relu": per_output(1),
    "quantized::elu": per_output(1),
    "quantized::celu": per_output(1),
    "quantized::threshold": per_output(1),
    "quantized::clamp": per_output(1),
    "quantized::prelu": per_output(1),
    "quantized::sigmoid": per_output(4),  # sigmoid: 4
    "quantized::softmax": _softmax,
    "quantized::max_pool1d": per_output(1),
    "quantized::max_pool2d": per_output(1),
    "quantized_max_pool1d": per_output(1),
    "quantized_max_pool2d": per_output(1),
    "quantized_max_pool3d": per_output(1),
    "quantized_batch_norm": _quantized_norm(1, 2, False),
    "quantized::batch_norm": _quantized_norm(1, 2, False),
    "quantized::batch_norm1d": _quantized_norm(1, 2, False),
    "quantized::batch_norm2d": _quantized_norm(1, 2, False),
    "quantized::batch_norm3d": _quantized_norm(1, 2, False),
    "quantized::batch_norm_relu": _quantized_norm(1, 2, False, fused=1),
    "quantized::batch_norm1d_relu": _quantized_norm(1, 2, False, fused=1),
    "quantized::batch_norm2d_relu": _quantized_norm(1, 2, False, fused=1),
    "quantized::batch_norm3d_relu": _quantized_norm(1, 2, False, fused=1),
    "quantized::layer_norm": _quantized_norm(2, 3, True),
    "quantized::group_norm": _quantized_norm(2, 3, True),
    "quantized::instance_norm": _quantized_norm(1, 2, True),
    "_int_mm": _int_mm,
    "_weight_int8pack_mm": _weight_only_mm,
    "_weight_int4pack_mm": _weight_only_mm,
    "_weight_int4pack_mm_for_cpu": _weight_only_mm,
    "_weight_int4pack_mm_with_scales_and_zeros": _weight_only_mm,
    "_dyn_quant_matmul_4bit": _weight_only_mm,
    # grouped matmuls (mixture of experts) and selection
    "_grouped_mm": _grouped_mm,
    # other op families
    "addbmm": _complex_macs(_addbmm),
    # elementwise ops torch does not tag pointwise, and elementwise backwards: 1 per element
    "hardswish": per_output(1),
    "log_sigmoid_forward": per_output(1),
    "rrelu_with_noise": per_output(1),
    "rrelu_with_noise_functional": per_output(1),
    "_prelu_kernel": per_output(1),
    "hardswish_backward": per_output(1),
    "hardsigmoid_backward": per_output(1),
    "hardtanh_backward": per_output(1),
    "leaky_relu_backward": per_output(1),
    "elu_backward": per_output(1),
    "softplus_backward": per_output(1),
    "mish_backward": per_output(1),
    "log_sigmoid_backward": per_output(1),
    "softshrink_backward": per_output(1),
    "hardshrink_backward": per_output(1),
    "rrelu_with_noise_backward": per_output(1),
    "_prelu_kernel_backward": per_output(2),  # grad_input and grad_weight: 1 product each
    "glu": per_output(5),  # a·sigmoid(b): sigmoid 4 + the product
    "glu_backward": per_output(3),  # sigmoid recomputed (4 per half) + 1 per grad_input element
    # embedding bags
    "_embedding_bag": _embedding_bag,
    "_embedding_bag_forward_only": _embedding_bag,
    "_embedding_bag_backward": _embedding_bag_backward(mode_at=8, weights_at=10, freq_at=7),
    "_embedding_bag_dense_backward": _embedding_bag_backward(mode_at=7, weights_at=8, freq_at=6),
    "_embedding_bag_per_sample_weights_backward": _embedding_bag_weights_backward,
    # interpolation: (2·taps − 1) per output element per interpolated dimension
    "upsample_bicubic2d": _interpolation(CUBIC_TAPS, 2),
    "upsample_bicubic2d_backward": _interpolation(CUBIC_TAPS, 2, on_grad=True),
    "upsample_linear1d_backward": _interpolation(LINEAR_TAPS, 1, on_grad=True),
    "upsample_bilinear2d_backward": _interpolation(LINEAR_TAPS, 2, on_grad=True),
    "upsample_trilinear3d_backward": _interpolation(LINEAR_TAPS, 3, on_grad=True),
    "_upsample_bilinear2d_aa": _antialiased(LINEAR_TAPS),
    "_upsample_bicubic2d_aa": _antialiased(CUBIC_TAPS),
    "_upsample_bilinear2d_aa_backward": _antialiased(LINEAR_TAPS, on_grad=True),
    "_upsample_bicubic2d_aa_backward": _antialiased(CUBIC_TAPS, on_grad=True),
    "upsample_nearest1d_backward": _per_input(1),  # each grad element added into its source
    "upsample_nearest2d_backward": _per_input(1),
    "upsample_nearest3d_backward": _per_input(1),
    "_upsample_nearest_exact1d_backward": _per_input(1),
    "_upsample_nearest_exact2d_backward": _per_input(1),
    "_upsample_nearest_exact3d_backward": _per_input(1),
    "grid_sampler_2d": _grid_sampler,
    "grid_sampler_3d": _grid_sampler,
    "grid_sampler_2d_backward": _grid_sampler_backward,
    "grid_sampler_3d_backward": _grid_sampler_backward,
    # FFT: 5·N·log₂(M) (complex), 2.5·N·log₂(M) (real input or output)
    "_fft_r2c": _fft(real_input=True, real_output=False),
    "_fft_c2r": _fft(real_input=False, real_output=True),
    "_fft_c2c": _fft(real_input=False, real_output=False),
    "unfold_backward": _unfold_backward,
    # accumulating scatters, histograms, distances, weight norm
    "index_add": _index_add,
    "scatter_add": _scatter_add,
    "scatter_reduce": _reduce_into(2),
    "index_reduce": _reduce_into(3),
    "histc": _per_input(1),
    "_weight_norm_interface": _weight_norm,
    "_weight_norm_interface_backward": _weight_norm_backward,
    "_cdist_forward": _cdist_forward,
    "_cdist_backward": _cdist_backward,
    "_euclidean_dist": _euclidean_dist,
    # torchvision's ops (keyed by their full name)
    "torchvision::roi_align": _roi_align,
    "torchvision::_roi_align_backward": _roi_align_backward,
    "torchvision::ps_roi_align": _ps_roi_align,
    "torchvision::_ps_roi_align_backward": _ps_roi_align_backward,
    "torchvision::roi_pool": per_output(1),  # as max pool: 1 per output element
    "torchvision::_roi_pool_backward": _per_input(1),
    "torchvision::ps_roi_pool": per_output(1),
    "torchvision::_ps_roi_pool_backward": _per_input(1),
    "torchvision::deform_conv2d": _deform_conv2d,
    "torchvision::_deform_conv2d_backward": _deform_conv2d_backward,
}

# Elementwise ops (torch's `pointwise` tag) cost 1 per output element unless listed here.
ELEMENTWISE_COST: dict[str, int] = {
    "tanh": 5,
    "sigmoid": 4,
}

# Data movement, selection, copies, creation and random numbers: 0 FLOPs by decision.
ZERO_COST: frozenset[str] = frozenset(
    """
    quantized::cat quantized::cat_out _make_per_tensor_quantized_tensor
    _make_per_channel_quantized_tensor _empty_affine_quantized _empty_per_channel_affine_quantized
    empty_quantized q_per_channel_scales q_per_channel_zero_points
    view _unsafe_view reshape _reshape_alias expand permute transpose t contiguous clone copy
    _to_copy to cat stack split split_with_sizes chunk unbind slice slice_scatter select
    select_scatter diagonal_scatter as_strided as_strided_scatter index _unsafe_index index_select
    gather scatter index_put _index_put_impl embedding constant_pad_nd reflection_pad1d
    reflection_pad2d reflection_pad3d replication_pad1d replication_pad2d replication_pad3d roll
    flip repeat repeat_interleave masked_fill where tril triu zeros ones empty full empty_like
    zeros_like ones_like full_like rand randn rand_like randn_like randint randperm arange
    linspace scalar_tensor new_zeros new_ones new_empty new_empty_strided new_full empty_strided
    fill zero bernoulli uniform normal random exponential lift_fresh lift_fresh_copy detach alias
    pixel_shuffle pixel_unshuffle upsample_nearest1d upsample_nearest2d upsample_nearest3d
    _upsample_nearest_exact1d _upsample_nearest_exact2d _upsample_nearest_exact3d im2col unfold
    channel_shuffle native_channel_shuffle set resize _local_scalar_dense _conj resolve_conj
    resolve_neg positive nll_loss_backward nll_loss2d_backward _foreach_copy _foreach_zero
    unsafe_split unsafe_split_with_sizes unsafe_chunk select_backward slice_backward
    """.split()
)

# Selection (comparisons that pick or order input elements; their index-only forms, argmax and
# nms, are integer work) and the backwards of shape ops (they place a gradient in zeros): 0 FLOPs
# by decision.
ZERO_COST |= frozenset(
    """
    topk sort argsort msort kthvalue median nanmedian mode torchvision::nms select_backward
    slice_backward diagonal_backward unsafe_split unsafe_split_with_sizes unsafe_chunk narrow
    narrow_copy
    """.split()
)


def normalized_op_name(packet_name: str) -> str:
    """`add_` -> `add`: an in-place op costs what its out-of-place form costs."""
    if packet_name.endswith("_") and not packet_name.endswith("__"):
        return packet_name[:-1]
    return packet_name


FOREACH_PREFIX = "_foreach_"
FOREACH_COST = _foreach
