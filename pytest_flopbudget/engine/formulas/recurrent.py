"""Recurrent layers and cells (LSTM, GRU, RNN): the fused oneDNN layer, the fused cells, and
their backward.

Counted as PyTorch's decomposed (native) path runs them, op for op: per time step and batch row,
the gate products in MACs (FLOPs ``2 * macs`` under both conventions), then, as `other_flops`
(counted under "all", FLOPs = ``2 * macs + other_flops``), the bias adds of the two projections
and the cell's elementwise ops at 1 per element, except tanh (5) and sigmoid (4).
(lstm, gru, rnn_tanh, rnn_relu, their *_cell and _thnn_differentiable_* are
CompositeImplicitAutograd: they never reach a dispatch mode; what they run is counted.)
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod
from typing import Any

from pytest_flopbudget.engine.cost import Cost
from pytest_flopbudget.engine.formulas._table import _shape, arg, formula, register

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


def _rows(x: Any) -> int:
    """Time steps × batch rows of an RNN input: every dimension but the feature one (a packed
    input is (sum of batch_sizes, features))."""
    return prod(_shape(x)[:-1])


@formula("mkldnn_rnn_layer")
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


@formula("mkldnn_rnn_layer_backward")
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
        biased = arg(args, kwargs, 3, "input_bias") is not None
        rows, hidden = _rows(state), _shape(state)[-1]
        return Cost(other_flops=rnn_layer_flops(kind, rows, hidden, biased))

    return cost


register("_thnn_fused_lstm_cell", _fused_cell("lstm"))
register("_thnn_fused_gru_cell", _fused_cell("gru"))


@formula("_thnn_fused_lstm_cell_backward_impl")
def _fused_lstm_cell_backward(args, kwargs, out) -> Cost:
    """_thnn_fused_lstm_cell_backward_impl(grad_hy, grad_cy, cx, cy, workspace, has_bias): the
    cell's backward, grad_cy added to the cell state's gradient, one bias gradient (4h)."""
    grad_cy, cx, has_bias = args[1], args[2], bool(args[5])
    rows, hidden = _rows(cx), _shape(cx)[-1]
    per_row = rnn_cell_backward_flops("lstm", hidden)
    per_row += hidden if grad_cy is not None else 0
    per_row += 4 * hidden if has_bias else 0
    return Cost(other_flops=rows * per_row)


@formula("_thnn_fused_gru_cell_backward")
def _fused_gru_cell_backward(args, kwargs, out) -> Cost:
    """_thnn_fused_gru_cell_backward(grad_hy, workspace, has_bias): the cell's backward and both
    bias gradients (3h each)."""
    grad_hy, has_bias = args[0], bool(args[2])
    rows, hidden = _rows(grad_hy), _shape(grad_hy)[-1]
    per_row = rnn_cell_backward_flops("gru", hidden) + (6 * hidden if has_bias else 0)
    return Cost(other_flops=rows * per_row)
