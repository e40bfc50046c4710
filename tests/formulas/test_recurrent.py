"""Recurrent layers and cells (LSTM, GRU, RNN) against closed forms written out here.

On the CPU an LSTM runs oneDNN's fused `mkldnn_rnn_layer`; GRU, RNN, an LSTM with proj_size and
every model on meta run PyTorch's decomposed path (a matrix product per gate projection, then
the cell's elementwise ops). Both must give the same MACs and "all" FLOPs, equal to the closed
form.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.nn.utils import prune
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from pytest_flopbudget import counting, profile
from pytest_flopbudget.engine.formulas import FORMULAS

SIGMOID, TANH = 4, 5  # FLOPs per element (README)
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


@pytest.fixture(autouse=True)
def _quiet_rnn_warnings():
    with warnings.catch_warnings():  # "LSTM with projections is not supported with oneDNN", ...
        warnings.simplefilter("ignore", UserWarning)
        yield


# ---- closed forms -------------------------------------------------------------------------------


def cell_flops_per_row(kind: str, h: int, bias: bool) -> int:
    """Elementwise work of one time step of one batch row, as the decomposed cells run it."""
    bias_adds = 2 * GATES[kind] * h if bias else 0  # b_ih and b_hh, one add per gate element
    if kind == "lstm":
        gate_sum = 4 * h  # ih + hh
        activations = 3 * h * SIGMOID + h * TANH  # i, f, o; g
        cell = 3 * h  # c = f·c + i·g
        hidden = h * TANH + h  # h = o·tanh(c)
        return bias_adds + gate_sum + activations + cell + hidden
    if kind == "gru":
        reset_update = 2 * (h + h * SIGMOID)  # r, z = sigmoid(ih + hh)
        new = h + h + h * TANH  # n = tanh(ih_n + r·hh_n)
        hidden = 3 * h  # h = (h - n)·z + n
        return bias_adds + reset_update + new + hidden
    activation = h * TANH if kind == "rnn_tanh" else h  # relu: 1 per element
    return bias_adds + h + activation  # ih + hh, then the nonlinearity


def rnn_closed_form(
    kind: str,
    input_size: int,
    h: int,
    rows: int,
    layers: int = 1,
    directions: int = 1,
    bias: bool = True,
    proj: int = 0,
) -> tuple[int, int]:
    """(MACs, "all" FLOPs) of a whole RNN over `rows` time steps × batch rows."""
    recurrent = proj or h
    macs = other = 0
    for layer in range(layers):
        width = input_size if layer == 0 else directions * recurrent
        macs += directions * rows * (GATES[kind] * h * (width + recurrent) + proj * h)
        other += directions * rows * cell_flops_per_row(kind, h, bias)
    return macs, 2 * macs + other


# ---- every configuration on CPU (the mkldnn kernel for LSTMs) and on meta ------------------------

INPUT, HIDDEN, T, B = 3, 5, 6, 2

CONFIGS = {
    # name: (module class, constructor kwargs, input shape, rows, closed-form kwargs)
    "lstm": (nn.LSTM, {}, (T, B, INPUT), T * B, dict(kind="lstm")),
    "lstm_2_layers_bidirectional": (
        nn.LSTM,
        dict(num_layers=2, bidirectional=True),
        (T, B, INPUT),
        T * B,
        dict(kind="lstm", layers=2, directions=2),
    ),
    "lstm_batch_first": (nn.LSTM, dict(batch_first=True), (B, T, INPUT), T * B, dict(kind="lstm")),
    "lstm_no_bias": (
        nn.LSTM,
        dict(bias=False),
        (T, B, INPUT),
        T * B,
        dict(kind="lstm", bias=False),
    ),
    "lstm_unbatched": (nn.LSTM, {}, (T, INPUT), T, dict(kind="lstm")),
    "lstm_proj_2_layers_bidirectional": (
        nn.LSTM,
        dict(proj_size=2, num_layers=2, bidirectional=True),
        (T, B, INPUT),
        T * B,
        dict(kind="lstm", proj=2, layers=2, directions=2),
    ),
    "gru": (nn.GRU, {}, (T, B, INPUT), T * B, dict(kind="gru")),
    "gru_2_layers_bidirectional_batch_first": (
        nn.GRU,
        dict(num_layers=2, bidirectional=True, batch_first=True),
        (B, T, INPUT),
        T * B,
        dict(kind="gru", layers=2, directions=2),
    ),
    "gru_no_bias": (nn.GRU, dict(bias=False), (T, B, INPUT), T * B, dict(kind="gru", bias=False)),
    "rnn_tanh_2_layers": (
        nn.RNN,
        dict(num_layers=2),
        (T, B, INPUT),
        T * B,
        dict(kind="rnn_tanh", layers=2),
    ),
    "rnn_relu_bidirectional": (
        nn.RNN,
        dict(nonlinearity="relu", bidirectional=True),
        (T, B, INPUT),
        T * B,
        dict(kind="rnn_relu", directions=2),
    ),
    "rnn_relu_no_bias": (
        nn.RNN,
        dict(nonlinearity="relu", bias=False),
        (T, B, INPUT),
        T * B,
        dict(kind="rnn_relu", bias=False),
    ),
}


def build(name: str, device: str = "cpu") -> tuple[nn.Module, torch.Tensor]:
    cls, kwargs, shape, _, _ = CONFIGS[name]
    with torch.device(device):
        return cls(INPUT, HIDDEN, **kwargs), torch.randn(shape)


@pytest.mark.parametrize("name", CONFIGS)
def test_cpu_and_meta_match_the_closed_form(name):
    _, _, _, rows, form = CONFIGS[name]
    expected = rnn_closed_form(input_size=INPUT, h=HIDDEN, rows=rows, **form)
    for device in ("cpu", "meta"):
        result = profile(*build(name, device))
        assert (result.macs, result.flops) == expected, device
        assert result.uncounted == {}, device
    assert profile(*build(name), count="matmul").flops == 2 * expected[0]


@pytest.mark.parametrize("name", CONFIGS)
def test_cpu_without_mkldnn_matches_the_closed_form(name):
    _, _, _, rows, form = CONFIGS[name]
    with torch.backends.mkldnn.flags(enabled=False):
        result = profile(*build(name))
    assert (result.macs, result.flops) == rnn_closed_form(
        input_size=INPUT, h=HIDDEN, rows=rows, **form
    )
    assert "aten.mkldnn_rnn_layer" not in result.ops


def test_an_lstm_on_cpu_runs_the_mkldnn_kernel_one_call_per_layer_and_direction():
    cpu = profile(*build("lstm_2_layers_bidirectional"))
    meta = profile(*build("lstm_2_layers_bidirectional", "meta"))
    assert cpu.ops["aten.mkldnn_rnn_layer"].calls == 2 * 2
    assert "aten.mkldnn_rnn_layer" not in meta.ops  # meta runs the decomposed path
    assert cpu.ops["aten.mkldnn_rnn_layer"].macs == meta.macs


def test_a_fake_tensor_run_agrees_with_cpu_and_meta():
    cpu = profile(*build("lstm_2_layers_bidirectional"))
    with FakeTensorMode():
        fake = profile(*build("lstm_2_layers_bidirectional"))
    assert (fake.macs, fake.flops, fake.uncounted) == (cpu.macs, cpu.flops, {})
    assert fake.sparse_macs is None


def test_dropout_between_layers_in_training_counts_2_per_element_on_every_path():
    macs, flops = rnn_closed_form("lstm", INPUT, HIDDEN, T * B, layers=2)
    dropout = 2 * T * B * HIDDEN  # the mask multiply and the 1/(1-p) scale of layer 0's output
    for device in ("cpu", "meta"):
        with torch.device(device):
            model = nn.LSTM(INPUT, HIDDEN, num_layers=2, dropout=0.5).train()
            result = profile(model, torch.randn(T, B, INPUT))
        assert (result.macs, result.flops, result.uncounted) == (macs, flops + dropout, {})


# ---- PackedSequence: only the real time steps count ---------------------------------------------


@pytest.mark.parametrize(
    ("cls", "kwargs", "form"),
    [
        (nn.LSTM, dict(bidirectional=True), dict(kind="lstm", directions=2)),
        (nn.LSTM, dict(batch_first=True), dict(kind="lstm")),
        (nn.GRU, dict(num_layers=2), dict(kind="gru", layers=2)),
        (nn.RNN, {}, dict(kind="rnn_tanh")),
    ],
)
def test_a_packed_sequence_counts_the_sum_of_its_lengths(cls, kwargs, form):
    lengths = [5, 3, 2]
    batch_first = kwargs.get("batch_first", False)
    padded = torch.randn((3, 5, INPUT) if batch_first else (5, 3, INPUT))
    packed = pack_padded_sequence(padded, lengths, batch_first=batch_first)
    expected = rnn_closed_form(input_size=INPUT, h=HIDDEN, rows=sum(lengths), **form)
    model = cls(INPUT, HIDDEN, **kwargs)
    cpu = profile(model, packed)
    assert (cpu.macs, cpu.flops, cpu.uncounted) == (*expected, {})
    on_meta = PackedSequence(packed.data.to("meta"), packed.batch_sizes)
    meta = profile(model.to("meta"), on_meta)
    assert (meta.macs, meta.flops, meta.uncounted) == (*expected, {})


# ---- cells --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "kwargs", "kind", "bias"),
    [
        (nn.LSTMCell, {}, "lstm", True),
        (nn.LSTMCell, dict(bias=False), "lstm", False),
        (nn.GRUCell, {}, "gru", True),
        (nn.RNNCell, {}, "rnn_tanh", True),
        (nn.RNNCell, dict(nonlinearity="relu"), "rnn_relu", True),
    ],
)
def test_cells_on_cpu_and_meta_match_the_closed_form(cls, kwargs, kind, bias):
    macs = B * GATES[kind] * HIDDEN * (INPUT + HIDDEN)
    expected = (macs, 2 * macs + B * cell_flops_per_row(kind, HIDDEN, bias))
    for device in ("cpu", "meta"):
        with torch.device(device):
            result = profile(cls(INPUT, HIDDEN, **kwargs), torch.randn(B, INPUT))
        assert (result.macs, result.flops, result.uncounted) == (*expected, {}), device


# ---- fused cells (CUDA kernels: the formulas against closed forms, consistent with the cells) ---


def test_fused_lstm_cell_counts_what_the_decomposed_cell_does_past_its_products():
    h = HIDDEN
    gates = torch.empty(B, 4 * h, device="meta")
    cx = torch.empty(B, h, device="meta")
    bias = torch.empty(4 * h, device="meta")

    def fused_step():
        return torch.ops.aten._thnn_fused_lstm_cell(gates, gates, cx, bias, bias)

    result = profile(fused_step)
    # the decomposed cell's elementwise work, the bias adds of its two addmm included
    assert result.flops == B * cell_flops_per_row("lstm", h, bias=True)
    assert result.uncounted == {}
    # torch's meta kernel needs both biases: the bias-free cell through its formula
    without_bias = FORMULAS["_thnn_fused_lstm_cell"]((gates, gates, cx), {}, None)
    assert without_bias.other_flops == B * cell_flops_per_row("lstm", h, bias=False)


def test_fused_lstm_cell_backward_is_the_cell_backward():
    h = HIDDEN
    grad, cx = torch.empty(B, h, device="meta"), torch.empty(B, h, device="meta")
    workspace = torch.empty(B, 4 * h, device="meta")
    backward = torch.ops.aten._thnn_fused_lstm_cell_backward_impl
    # tanh(c), o·tanh(c) and f·c + i·g: 6 products, 2 tanh', 3 sigmoid'; + grad_cy; + bias sum
    per_row = 6 * h + 2 * h + 3 * h
    result = profile(lambda: backward(grad, grad, cx, cx, workspace, True))
    assert result.flops == B * (per_row + h + 4 * h)
    assert profile(lambda: backward(grad, None, cx, cx, workspace, False)).flops == B * per_row


def test_fused_gru_cell_formulas_against_closed_forms():
    h = HIDDEN
    gates = torch.empty(B, 3 * h, device="meta")
    hx = torch.empty(B, h, device="meta")
    bias = torch.empty(3 * h, device="meta")
    forward = FORMULAS["_thnn_fused_gru_cell"]
    assert forward((gates, gates, hx, bias, bias), {}, None).other_flops == (
        B * cell_flops_per_row("gru", h, bias=True)
    )
    assert forward((gates, gates, hx), {}, None).other_flops == (
        B * cell_flops_per_row("gru", h, bias=False)
    )
    backward = FORMULAS["_thnn_fused_gru_cell_backward"]
    workspace = torch.empty(B, 5 * h, device="meta")
    # 4 products, 2 sums, a negation, 2 sigmoid', 1 tanh'; both bias gradients (3h each)
    assert backward((hx, workspace, True), {}, None).other_flops == B * (10 * h + 6 * h)
    assert backward((hx, workspace, False), {}, None).other_flops == B * 10 * h


@pytest.mark.parametrize(
    ("mode", "kind"), [(0, "rnn_relu"), (1, "rnn_tanh"), (2, "lstm"), (3, "gru")]
)
def test_mkldnn_rnn_layer_reads_every_mode(mode, kind):
    gates = GATES[kind]
    meta = {"device": "meta"}
    x = torch.empty(T, B, INPUT, **meta)
    w_ih, w_hh = (
        torch.empty(gates * HIDDEN, INPUT, **meta),
        torch.empty(gates * HIDDEN, HIDDEN, **meta),
    )
    b = torch.empty(gates * HIDDEN, **meta)
    hx = torch.empty(B, HIDDEN, **meta)
    args = (x, w_ih, w_hh, b, b, hx, hx, False, [], mode, HIDDEN, 1, True, False, False, False)
    result = profile(lambda: torch.ops.aten.mkldnn_rnn_layer(*args))
    assert (result.macs, result.flops) == rnn_closed_form(kind, INPUT, HIDDEN, T * B)


# ---- backward -----------------------------------------------------------------------------------


def lstm_step(device: str, with_state: bool, mkldnn: bool = True):
    """One LSTM layer, a training step; with_state: x, h0 and c0 all require grad."""
    torch.manual_seed(0)
    with torch.device(device):
        model = nn.LSTM(INPUT, HIDDEN)
        x = torch.randn(T, B, INPUT, requires_grad=with_state)
        state = (torch.randn(1, B, HIDDEN, requires_grad=True), torch.randn(1, B, HIDDEN))
        state[1].requires_grad_(True)
    with torch.backends.mkldnn.flags(enabled=mkldnn), counting(model) as counted:
        output, _ = model(x, state) if with_state else model(x)
        output.sum().backward()
    return counted.profile


def backward_other(result) -> int:
    return result.backward_flops - 2 * result.backward_macs


def test_lstm_backward_on_cpu_is_the_fused_kernels_convention():
    h, rows = HIDDEN, T * B
    forward_macs = rows * 4 * h * (INPUT + h)
    for with_state in (False, True):  # the kernel computes every gradient either way
        result = lstm_step("cpu", with_state)
        assert result.ops["aten.mkldnn_rnn_layer_backward"].calls == 1
        assert result.forward_macs == forward_macs
        assert result.backward_macs == 2 * forward_macs  # grad of input and state, of weights
        # per row: the cell's backward (6 products, 2 tanh', 3 sigmoid'), the h and c
        # gradients' sums, the b_ih and b_hh gradients
        assert backward_other(result) == rows * ((6 + 2 + 3) * h + 2 * h + 2 * 4 * h)
        assert result.uncounted == {}


def test_lstm_backward_macs_agree_with_meta_when_every_gradient_is_needed():
    cpu, meta = lstm_step("cpu", True), lstm_step("meta", True)
    assert (meta.forward_macs, meta.forward_flops) == (cpu.forward_macs, cpu.forward_flops)
    assert meta.backward_macs == cpu.backward_macs


def test_the_decomposed_lstm_backward_against_its_closed_forms():
    """Autograd over the decomposed path skips the gradients nobody needs (x, h0, c0 without
    requires_grad) and adds each step's weight gradients into the last; the fused kernel does
    neither, so only the MACs with every gradient needed can agree (the test above)."""
    h, rows, steps_after_first = HIDDEN, T * B, T - 1
    forward_macs = rows * 4 * h * (INPUT + h)
    cell = rows * ((6 + 2 + 3) * h + 2 * 4 * h)  # cell backward and both bias gradients per row
    state_sums = steps_after_first * B * 2 * h  # dh and dc: output's + next step's, but the last
    w_hh_sums = steps_after_first * (4 * h * h + 4 * h)  # W_hh and b_hh, used at every step
    w_ih_sums = steps_after_first * (4 * h * INPUT + 4 * h)  # meta projects x step by step too
    cpu = lstm_step("cpu", True, mkldnn=False)
    assert cpu.backward_macs == 2 * forward_macs
    assert backward_other(cpu) == cell + state_sums + w_hh_sums
    meta = lstm_step("meta", True)
    assert backward_other(meta) == cell + state_sums + w_hh_sums + w_ih_sums
    # without x, h0, c0 requiring grad, autograd skips dx and the first step's dh0
    skipped = rows * 4 * h * INPUT + B * 4 * h * h
    assert lstm_step("meta", False).backward_macs == 2 * forward_macs - skipped


def test_a_training_step_counts_forward_and_backward_of_a_deep_bidirectional_lstm():
    model, x = build("lstm_2_layers_bidirectional")
    x.requires_grad_(True)
    with counting(model) as counted:
        output, _ = model(x)
        output.sum().backward()
    result, h, rows = counted.profile, HIDDEN, T * B
    macs, _ = rnn_closed_form("lstm", INPUT, h, rows, layers=2, directions=2)
    assert (result.forward_macs, result.backward_macs) == (macs, 2 * macs)
    per_layer_direction = rows * ((6 + 2 + 3) * h + 2 * h + 2 * 4 * h)
    # both directions of a layer read its input: their input gradients are summed (x, then
    # layer 0's output)
    input_grad_sums = rows * INPUT + rows * 2 * h
    assert backward_other(result) == 4 * per_layer_direction + input_grad_sums
    assert result.uncounted == {}


# ---- sparse weights -----------------------------------------------------------------------------


def test_zeroed_lstm_weights_reduce_sparse_macs_on_every_path():
    model, x = build("lstm")
    with torch.no_grad():
        model.weight_ih_l0[:4] = 0  # 4 rows of INPUT
        model.weight_hh_l0[:2] = 0  # 2 rows of HIDDEN
    skipped = T * B * (4 * INPUT + 2 * HIDDEN)
    for mkldnn in (True, False):
        with torch.backends.mkldnn.flags(enabled=mkldnn):
            result = profile(model, x)
        assert result.sparse_macs == result.macs - skipped, mkldnn


def test_a_pruned_lstm_weight_reduces_sparse_macs():
    model, x = build("lstm_2_layers_bidirectional")
    prune.random_unstructured(model, "weight_hh_l1_reverse", amount=0.5)
    zeros = int((model.weight_hh_l1_reverse == 0).sum())
    result = profile(model, x)
    assert zeros == round(0.5 * 4 * HIDDEN * HIDDEN)
    assert result.sparse_macs == result.macs - zeros * T * B
    assert result.nonzero_params == sum(p.numel() for p in model.parameters()) - zeros


def test_lstm_backward_on_cpu_skips_the_zero_weights_in_the_input_gradient():
    model, x = build("lstm")
    with torch.no_grad():
        model.weight_hh_l0[:3] = 0
    with counting(model) as counted:
        model(x)[0].sum().backward()
    zeros_times_uses = 3 * HIDDEN * T * B
    # forward, then the input and state gradient (grad · W); the weight gradient is dense
    assert counted.profile.sparse_macs == counted.profile.macs - 2 * zeros_times_uses


# ---- the composite RNN ops never reach the dispatch mode ----------------------------------------


@pytest.mark.parametrize(
    "op",
    [
        "lstm.input",
        "lstm.data",
        "gru.input",
        "gru.data",
        "rnn_tanh.input",
        "rnn_relu.data",
        "lstm_cell",
        "gru_cell",
        "rnn_tanh_cell",
        "rnn_relu_cell",
        "_thnn_differentiable_lstm_cell_backward",
        "_thnn_differentiable_gru_cell_backward",
        "_thnn_fused_lstm_cell_backward",
    ],
)
def test_composite_rnn_ops_decompose_before_the_counter_sees_them(op):
    """They decompose into the ops counted above; a kernel of their own would need a formula."""
    assert torch._C._dispatch_has_kernel_for_dispatch_key(
        f"aten::{op}", "CompositeImplicitAutograd"
    )
    assert not torch._C._dispatch_has_kernel_for_dispatch_key(f"aten::{op}", "CPU")
