"""Quantized ops (quantized::*, aten's quantize/dequantize, quantized_lstm/gru, quantized pools and
norms) and integer and weight-only matmuls (_int_mm, _weight_int{8,4}pack_mm, ...).

A quantized op costs its float twin's work. A MAC is a MAC whatever its dtype: FLOPs are
``2 * macs`` under "matmul" and ``2 * macs + other_flops`` under "all", as for floats. Rescaling
inside a quantized kernel (the int32 accumulator to the output's scale, a weight's per-channel
scales) is not counted, as the float twin does none; an explicit quantize or dequantize op costs
1 per element. Conv and linear weights arrive packed (a torch.ScriptObject); their shapes are
read from its `unpack()`. Fused activations cost what the float ones do: 1 per element, except
tanh (5) and sigmoid (4).
"""

from __future__ import annotations

from collections.abc import Callable

from pytest_flopbudget.engine.cost import Cost
from pytest_flopbudget.engine.formulas._table import (
    _present,
    _shape,
    formula,
    per_output,
    register,
)
from pytest_flopbudget.engine.formulas.conv import conv_macs
from pytest_flopbudget.engine.formulas.matmul import _mm
from pytest_flopbudget.engine.formulas.normalization import _softmax, norm_flops
from pytest_flopbudget.engine.formulas.recurrent import recurrent_stack_cost


@formula("quantize_per_tensor", "quantize_per_channel", "quantize_per_tensor_dynamic", "dequantize")
def _per_element_of_outputs(args, kwargs, out) -> Cost:
    """1 per element of every output (quantize_per_tensor.tensors returns a list)."""
    outputs = out if isinstance(out, (tuple, list)) else (out,)
    return Cost(other_flops=sum(t.numel() for t in outputs))


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


register(
    (
        "quantized::conv1d",
        "quantized::conv2d",
        "quantized::conv3d",
        "quantized::conv1d_dynamic",
        "quantized::conv2d_dynamic",
        "quantized::conv3d_dynamic",
    ),
    _quantized_conv(False),
)
register(
    ("quantized::conv1d_relu", "quantized::conv2d_relu", "quantized::conv3d_relu"),
    _quantized_conv(False, fused=1),
)
register("quantized::conv2d_add", _quantized_conv(False, fused=1, packed_at=2))
register("quantized::conv2d_add_relu", _quantized_conv(False, fused=2, packed_at=2))
register(
    (
        "quantized::conv_transpose1d",
        "quantized::conv_transpose2d",
        "quantized::conv_transpose3d",
        "quantized::conv_transpose1d_dynamic",
        "quantized::conv_transpose2d_dynamic",
        "quantized::conv_transpose3d_dynamic",
    ),
    _quantized_conv(True),
)


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


register(
    ("quantized::linear", "quantized::linear_dynamic", "quantized::linear_dynamic_fp16"),
    _quantized_linear(),
)
register(
    (
        "quantized::linear_relu",
        "quantized::linear_leaky_relu",
        "quantized::linear_relu_dynamic",
        "quantized::linear_relu_dynamic_fp16",
    ),
    _quantized_linear(fused=1),
)
register("quantized::linear_tanh", _quantized_linear(fused=5))  # tanh: 5


@formula("quantized::matmul")
def _quantized_matmul(args, kwargs, out) -> Cost:
    """quantized::matmul(qa, qb, scale, zero_point): every output element is a dot product of
    length k (qa's last dimension)."""
    return Cost(out.numel() * _shape(args[0])[-1])


@formula("quantized_lstm")
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


@formula("quantized_gru")
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


# elementwise: 1 per output element, a fused relu 1 more
register(
    (
        "quantized::add",
        "quantized::add_out",
        "quantized::add_scalar",
        "quantized::add_scalar_out",
        "quantized::mul",
        "quantized::mul_out",
        "quantized::mul_scalar",
        "quantized::mul_scalar_out",
        "quantized::cat_relu",
        "quantized::cat_relu_out",
        "quantized::hardswish",
        "quantized::relu6",
        "quantized::leaky_relu",
        "quantized::elu",
        "quantized::celu",
        "quantized::threshold",
        "quantized::clamp",
        "quantized::prelu",
    ),
    per_output(1),
)
register(
    (
        "quantized::add_relu",
        "quantized::add_relu_out",
        "quantized::add_scalar_relu",
        "quantized::add_scalar_relu_out",
        "quantized::mul_relu",
        "quantized::mul_relu_out",
        "quantized::mul_scalar_relu",
        "quantized::mul_scalar_relu_out",
    ),
    per_output(2),
)
register("quantized::sigmoid", per_output(4))  # sigmoid: 4
register("quantized::softmax", _softmax)
register(
    (
        "quantized::max_pool1d",
        "quantized::max_pool2d",
        "quantized_max_pool1d",
        "quantized_max_pool2d",
        "quantized_max_pool3d",
    ),
    per_output(1),
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


register(
    (
        "quantized_batch_norm",
        "quantized::batch_norm",
        "quantized::batch_norm1d",
        "quantized::batch_norm2d",
        "quantized::batch_norm3d",
    ),
    _quantized_norm(1, 2, False),
)
register(
    (
        "quantized::batch_norm_relu",
        "quantized::batch_norm1d_relu",
        "quantized::batch_norm2d_relu",
        "quantized::batch_norm3d_relu",
    ),
    _quantized_norm(1, 2, False, fused=1),
)
register(("quantized::layer_norm", "quantized::group_norm"), _quantized_norm(2, 3, True))
register("quantized::instance_norm", _quantized_norm(1, 2, True))


# ---- integer and weight-only matmuls --------------------------------------------------------


@formula("_int_mm")
def _int_mm(args, kwargs, out) -> Cost:
    """_int_mm(a, b): int8 × int8 → int32, an mm whatever its dtype."""
    return _mm(args, kwargs, out)


# Handlers whose work counts although their output is an integer tensor (not bookkeeping).
INTEGER_MATMULS: frozenset[Callable[..., Cost]] = frozenset({_int_mm})


@formula(
    "_weight_int8pack_mm",
    "_weight_int4pack_mm",
    "_weight_int4pack_mm_for_cpu",
    "_weight_int4pack_mm_with_scales_and_zeros",
    "_dyn_quant_matmul_4bit",
)
def _weight_only_mm(args, kwargs, out) -> Cost:
    """_weight_int8pack_mm(x, w, scales), _weight_int4pack_mm[_for_cpu](x, w_packed, group,
    scales_and_zeros), _dyn_quant_matmul_4bit(x, packed, block, in, out): m·k·n MACs, read from x
    (m·k) and the output (m·n), since a packed int4 weight's shape is not (n, k). Rescaling by the
    weight's scales is not counted; a bias packed into _dyn_quant_matmul_4bit's weight cannot be
    seen, so its add is not counted either."""
    return Cost(args[0].numel() * _shape(out)[-1])
