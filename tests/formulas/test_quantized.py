"""Quantized models against closed forms written out here: a quantized op does its float twin's
MACs, a quantized module's params are its packed weights and its bytes their storage."""

from __future__ import annotations

import warnings
from math import prod

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

from pytest_flopbudget import profile

with warnings.catch_warnings():  # torch.ao.quantization warns that it is deprecated
    warnings.simplefilter("ignore")
    import torch.ao.nn.quantized as nnq
    import torch.ao.quantization as tq
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

ENGINES = [e for e in ("x86", "fbgemm") if e in torch.backends.quantized.supported_engines]
pytestmark = [
    pytest.mark.skipif(not ENGINES, reason="needs the x86 or fbgemm quantized engine"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning"),
]

# ---- closed forms -------------------------------------------------------------------------------

SCALE_AND_ZERO_POINT_BYTES = 8 + 8  # torch's quantizer: a float64 scale, an int64 zero point
FLOAT32, FLOAT16, INT8 = 4, 2, 1


def conv_macs(batch: int, out_spatial: tuple[int, ...], c_out: int, c_in: int, groups: int,
              kernel: tuple[int, ...]) -> int:  # fmt: skip
    return batch * prod(out_spatial) * c_out * (c_in // groups) * prod(kernel)


def lstm_macs(steps_times_rows: int, inp: int, h: int, layers: int, directions: int) -> int:
    """4·h·(in + h) per step per batch row, per layer and direction (in = directions·h above)."""
    per_position = sum(
        4 * h * ((inp if layer == 0 else directions * h) + h) for layer in range(layers)
    )
    return steps_times_rows * directions * per_position


# The LSTM cell's elementwise work per hidden unit, as torch's decomposed float cell runs it
# (README): bias adds 2·4, the two products summed 4, sigmoids 3·4, tanh 5, c' 3, tanh(c') 5, h' 1.
LSTM_CELL_FLOPS = 8 + 4 + 12 + 5 + 3 + 5 + 1
# GRU: bias adds 2·3, r and z (add + sigmoid) 2·5, n (mul, add, tanh) 7, h' = n + z·(h − n) 3.
GRU_CELL_FLOPS = 6 + 10 + 7 + 3


def lstm_params(inp: int, h: int, layers: int, directions: int) -> int:
    return sum(
        directions * (4 * h * (inp if layer == 0 else directions * h) + 4 * h * h + 8 * h)
        for layer in range(layers)
    )


@pytest.fixture(autouse=True)
def quantized_engine():
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = ENGINES[0] if ENGINES else previous
    yield
    torch.backends.quantized.engine = previous


PER_CHANNEL = tq.QConfig(
    activation=tq.MinMaxObserver.with_args(dtype=torch.quint8),
    weight=tq.default_per_channel_weight_observer,
)
PER_TENSOR = tq.QConfig(
    activation=tq.MinMaxObserver.with_args(dtype=torch.quint8), weight=tq.default_weight_observer
)


def quantize_eager(model: nn.Module, example: torch.Tensor, qconfig=PER_CHANNEL) -> nn.Module:
    model.qconfig = qconfig
    prepared = tq.prepare(model)
    prepared(example)
    return tq.convert(prepared)


# ---- static quantization, eager mode ------------------------------------------------------------


class QuantCNN(nn.Module):
    """conv 3→8 k3 p1 + bn + relu, conv 8→16 k3 s2 groups 2 + bn + relu, max pool 2, adaptive
    average pool 1, linear 16→10, between a QuantStub and a DeQuantStub."""

    def __init__(self) -> None:
        super().__init__()
        self.quant = tq.QuantStub()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, groups=2, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.avg = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)
        self.dequant = tq.DeQuantStub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(self.quant(x))))
        x = self.relu2(self.bn2(self.conv2(x)))
        x = self.avg(self.pool(x)).flatten(1)
        return self.dequant(self.fc(x))


# On 2×3×16×16: conv1 → 8×16×16, conv2 → 16×7×7, max pool → 16×3×3, average pool → 16×1×1.
CNN_INPUT = (2, 3, 16, 16)
CNN_CONV1_MACS = conv_macs(2, (16, 16), 8, 3, 1, (3, 3))
CNN_CONV2_MACS = conv_macs(2, (7, 7), 16, 8, 2, (3, 3))
CNN_FC_MACS = 2 * 16 * 10
CNN_MACS = CNN_CONV1_MACS + CNN_CONV2_MACS + CNN_FC_MACS
CNN_CONV1_OUT, CNN_CONV2_OUT = 2 * 8 * 16 * 16, 2 * 16 * 7 * 7
# fusion folds each batch norm into its conv as a bias
CNN_FUSED_WEIGHTS = {"conv1": 8 * 3 * 9, "conv2": 16 * 4 * 9, "fc": 16 * 10}
CNN_FUSED_BIASES = {"conv1": 8, "conv2": 16, "fc": 10}
CNN_FUSED_PARAMS = sum(CNN_FUSED_WEIGHTS.values()) + sum(CNN_FUSED_BIASES.values())


def fused_cnn() -> tuple[nn.Module, nn.Module, torch.Tensor]:
    """(the float model with conv+bn+relu fused, its statically quantized twin, an input)."""
    torch.manual_seed(0)
    model = QuantCNN().eval()
    fused = tq.fuse_modules(model, [["conv1", "bn1", "relu1"], ["conv2", "bn2", "relu2"]])
    x = torch.randn(CNN_INPUT)
    return fused, quantize_eager(fused, x), x


def test_a_statically_quantized_cnn_has_its_float_twins_macs():
    torch.manual_seed(0)
    float_model, x = QuantCNN().eval(), torch.randn(CNN_INPUT)
    fused, quantized, x = fused_cnn()
    result = profile(quantized, x, strict=True)
    assert result.macs == CNN_MACS
    assert result.macs == profile(float_model, x).macs == profile(fused, x).macs
    assert "quantized.conv2d_relu" in result.ops
    assert result.ops["quantized.conv2d_relu"].macs == CNN_CONV1_MACS + CNN_CONV2_MACS


def test_a_statically_quantized_cnn_counts_the_fused_float_twins_flops_plus_quantize_dequantize():
    fused, quantized, x = fused_cnn()
    quantize, dequantize = prod(CNN_INPUT), 2 * 10  # 1 per element each (README)
    conv_epilogue = 2 * (CNN_CONV1_OUT + CNN_CONV2_OUT)  # bias add and relu per output element
    max_pool, average_pool = 2 * 16 * 3 * 3, 2 * 16 * (9 + 1)
    fc_bias = 2 * 10
    expected = 2 * CNN_MACS + conv_epilogue + max_pool + average_pool + fc_bias
    assert profile(fused, x).flops == expected
    assert profile(quantized, x, strict=True).flops == expected + quantize + dequantize
    assert profile(quantized, x, count="matmul").flops == 2 * CNN_MACS


def test_a_statically_quantized_cnn_has_its_packed_weights_as_params_and_their_storage_as_bytes():
    _, quantized, x = fused_cnn()
    result = profile(quantized, x, strict=True)
    assert result.params == CNN_FUSED_PARAMS
    assert result.trainable_params == 0  # packed weights take no gradient
    assert result.sparse_macs == result.macs  # packed weights are no parameters: counted dense
    assert result.modules["conv1"].params == CNN_FUSED_WEIGHTS["conv1"] + CNN_FUSED_BIASES["conv1"]
    assert result.modules["fc"].params == CNN_FUSED_WEIGHTS["fc"] + CNN_FUSED_BIASES["fc"]
    # per-channel int8 weights: 1 byte each plus a scale and a zero point per output channel;
    # float32 biases; the QuantStub's scale (float32) and zero point (int64) buffers
    weights = sum(CNN_FUSED_WEIGHTS.values()) * INT8
    qparams = sum(CNN_FUSED_BIASES.values()) * SCALE_AND_ZERO_POINT_BYTES
    biases = sum(CNN_FUSED_BIASES.values()) * FLOAT32
    assert result.param_bytes == weights + qparams + biases + (4 + 8)


def test_a_scripted_quantized_cnn_keeps_its_macs_params_and_bytes():
    _, quantized, x = fused_cnn()
    eager = profile(quantized, x, strict=True)
    scripted = profile(torch.jit.script(quantized), x, strict=True)
    assert scripted.macs == CNN_MACS
    assert scripted.params == CNN_FUSED_PARAMS
    assert (scripted.param_bytes, scripted.nonzero_params) == (
        eager.param_bytes,
        eager.nonzero_params,
    )


# ---- static quantization, FX mode ---------------------------------------------------------------


class FxNet(nn.Module):
    """conv 3→8 k3 p1 + bn + relu, conv 8→8 k3 p1 + bn, residual add + relu, max pool 2, hardswish,
    transposed conv 8→4 k2 s2, mean over space, linear 4→16 + relu, linear 16→10."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.fc1, self.fc2 = nn.Linear(4, 16), nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(y + self.bn2(self.conv2(y)))
        y = self.up(F.hardswish(F.max_pool2d(y, 2)))
        return self.fc2(F.relu(self.fc1(y.mean((2, 3)))))


# On 1×3×8×8: conv1, conv2 → 8×8×8; max pool → 8×4×4; the transposed conv's MACs are over its
# input's 4×4 positions (output 4×8×8).
FX_MACS = (
    conv_macs(1, (8, 8), 8, 3, 1, (3, 3))
    + conv_macs(1, (8, 8), 8, 8, 1, (3, 3))
    + 1 * 4 * 4 * 8 * 4 * 2 * 2
    + 4 * 16
    + 16 * 10
)
FX_FUSED_PARAMS = (8 * 27 + 8) + (8 * 72 + 8) + (8 * 4 * 4 + 4) + (4 * 16 + 16) + (16 * 10 + 10)


def test_an_fx_quantized_model_has_its_float_twins_macs_and_counts_every_op():
    torch.manual_seed(0)
    model, x = FxNet().eval(), torch.randn(1, 3, 8, 8)
    prepared = prepare_fx(model, tq.get_default_qconfig_mapping(ENGINES[0]), (x,))
    prepared(x)
    quantized = convert_fx(prepared)
    result = profile(quantized, x, strict=True)  # strict: nothing uncounted
    assert result.macs == FX_MACS == profile(model, x).macs
    assert result.params == FX_FUSED_PARAMS
    for op in ("quantized.conv2d_relu", "quantized.add_relu", "quantized.conv_transpose2d"):
        assert op in result.ops
    assert result.ops["quantized.linear_relu"].macs == 4 * 16


@pytest.mark.parametrize(
    ("module", "shape"),
    [
        (nn.Conv1d(4, 6, 3, groups=2), (2, 4, 9)),
        (nn.Conv3d(2, 4, 3), (1, 2, 5, 5, 5)),
        (nn.ConvTranspose1d(4, 6, 3, stride=2), (2, 4, 7)),
        (nn.ConvTranspose3d(2, 4, 2), (1, 2, 3, 3, 3)),
        (nn.Linear(8, 5), (3, 7, 8)),
    ],
    ids=["conv1d", "conv3d", "conv_transpose1d", "conv_transpose3d", "linear_3d_input"],
)
def test_every_quantized_conv_and_linear_counts_its_float_twins_work(module, shape):
    torch.manual_seed(0)
    model, x = nn.Sequential(tq.QuantStub(), module, tq.DeQuantStub()).eval(), torch.randn(shape)
    qconfig = PER_TENSOR if "Transpose" in type(module).__name__ else PER_CHANNEL
    float_result, out = profile(model, x), model(x)
    result = profile(quantize_eager(model, x, qconfig), x, strict=True)
    assert result.macs == float_result.macs > 0
    assert result.flops == float_result.flops + x.numel() + out.numel()  # + quantize, dequantize
    assert result.params == float_result.params


def test_conv1d_macs_match_the_closed_form():
    torch.manual_seed(0)
    model = nn.Sequential(tq.QuantStub(), nn.Conv1d(4, 6, 3, groups=2), tq.DeQuantStub()).eval()
    x = torch.randn(2, 4, 9)
    result = profile(quantize_eager(model, x), x, strict=True)
    assert result.macs == conv_macs(2, (7,), 6, 4, 2, (3,))


# ---- parameter bytes and nonzero parameters -----------------------------------------------------


def test_param_bytes_of_a_quantized_linear_are_its_int8_weight_qparams_and_float_bias():
    out_features, in_features = 6, 10
    x = torch.randn(3, in_features)
    for qconfig, qparam_sets in ((PER_TENSOR, 1), (PER_CHANNEL, out_features)):
        torch.manual_seed(0)
        model = quantize_eager(
            nn.Sequential(nn.Linear(in_features, out_features)).eval(), x, qconfig
        )
        # out·in int8 bytes + (1 per tensor or 1 per channel)·(scale + zero point) + out·4 bias
        expected = (
            out_features * in_features * INT8
            + qparam_sets * SCALE_AND_ZERO_POINT_BYTES
            + out_features * FLOAT32
        )
        qx = torch.quantize_per_tensor(x, 0.05, 128, torch.quint8)
        result = profile(model[0], qx, strict=True)
        assert result.param_bytes == expected
        assert result.params == out_features * in_features + out_features


def test_nonzero_params_of_a_pruned_then_quantized_weight_count_its_nonzero_values():
    linear = nn.Linear(8, 4)
    with torch.no_grad():
        linear.weight.copy_(torch.arange(1.0, 33.0).reshape(4, 8) / 32)
        linear.bias.fill_(1.0)
    mask = torch.ones(4, 8)
    mask[:, :3] = 0  # 12 weights pruned
    prune.custom_from_mask(linear, "weight", mask)
    prune.remove(linear, "weight")
    quantized = tq.quantize_dynamic(nn.Sequential(linear), {nn.Linear}, dtype=torch.qint8)
    result = profile(quantized, torch.randn(2, 8), strict=True)
    assert result.params == 32 + 4
    assert result.nonzero_params == (32 - 12) + 4


def test_a_quantized_element_is_nonzero_by_its_value_not_its_integer():
    # zero point 3: a zero weight is stored as the integer 3, and -0.75 as the integer 0
    weight = torch.tensor([[0.0, 0.5, -0.75, 0.0]] * 3)
    linear = nnq.Linear(4, 3)
    linear.set_weight_bias(torch.quantize_per_tensor(weight, 0.25, 3, torch.qint8), torch.ones(3))
    qx = torch.quantize_per_tensor(torch.randn(2, 4), 0.1, 128, torch.quint8)
    result = profile(linear, qx, strict=True)
    assert result.nonzero_params == 3 * 2 + 3
    assert result.param_bytes == 12 * INT8 + SCALE_AND_ZERO_POINT_BYTES + 3 * FLOAT32


# ---- dynamic quantization -----------------------------------------------------------------------

MLP_MACS = 3 * (8 * 16 + 16 * 4)
MLP_WEIGHTS, MLP_BIASES = 8 * 16 + 16 * 4, 16 + 4


@pytest.mark.parametrize("dtype", [torch.qint8, torch.float16], ids=["qint8", "float16"])
def test_a_dynamically_quantized_mlp_has_its_float_twins_macs_flops_and_params(dtype):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).eval()
    quantized = tq.quantize_dynamic(model, {nn.Linear}, dtype=dtype)
    x = torch.randn(3, 8)
    result, float_result = profile(quantized, x, strict=True), profile(model, x)
    assert result.macs == MLP_MACS == float_result.macs
    assert result.flops == 2 * MLP_MACS + 3 * 20 + 3 * 16 == float_result.flops  # biases, relu
    assert result.params == MLP_WEIGHTS + MLP_BIASES == float_result.params
    # int8: 1 byte per weight + a scale and a zero point per tensor; float16: 2 bytes per weight
    weight_bytes = (
        MLP_WEIGHTS * INT8 + 2 * SCALE_AND_ZERO_POINT_BYTES
        if dtype == torch.qint8
        else MLP_WEIGHTS * FLOAT16
    )
    assert result.param_bytes == weight_bytes + MLP_BIASES * FLOAT32


class Recurrent(nn.Module):
    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0]


@pytest.mark.parametrize("dtype", [torch.qint8, torch.float16], ids=["qint8", "float16"])
def test_a_dynamically_quantized_lstm_has_its_float_twins_macs_flops_and_params(dtype):
    torch.manual_seed(0)
    steps, batch, inp, h, layers, directions = 5, 2, 8, 16, 2, 2
    model = Recurrent(nn.LSTM(inp, h, num_layers=layers, bidirectional=True)).eval()
    quantized = tq.quantize_dynamic(model, {nn.LSTM}, dtype=dtype)
    x = torch.randn(steps, batch, inp)
    result = profile(quantized, x, strict=True)
    macs = lstm_macs(steps * batch, inp, h, layers, directions)
    assert result.macs == macs
    assert result.flops == 2 * macs + steps * batch * directions * layers * LSTM_CELL_FLOPS * h
    assert result.params == lstm_params(inp, h, layers, directions)
    with torch.backends.mkldnn.flags(enabled=False):  # torch's decomposed float LSTM
        float_result = profile(model, x)
    assert (result.macs, result.flops, result.params) == (
        float_result.macs,
        float_result.flops,
        float_result.params,
    )
    # per layer and direction: w_ih and w_hh (1 or 2 bytes each element, plus a scale and a
    # zero point each for int8) and b_ih, b_hh in float32
    weights = result.params - layers * directions * 8 * h
    weight_bytes = (
        weights * INT8 + layers * directions * 2 * SCALE_AND_ZERO_POINT_BYTES
        if dtype == torch.qint8
        else weights * FLOAT16
    )
    assert result.param_bytes == weight_bytes + layers * directions * 8 * h * FLOAT32


def test_a_dynamically_quantized_lstm_over_a_packed_sequence_counts_only_the_real_steps():
    torch.manual_seed(0)
    inp, h, lengths = 8, 16, [5, 3]
    lstm = tq.quantize_dynamic(nn.Sequential(nn.LSTM(inp, h)), {nn.LSTM})[0]
    packed = nn.utils.rnn.pack_padded_sequence(torch.randn(5, 2, inp), lengths)
    result = profile(lstm, packed, strict=True)
    positions = sum(lengths)
    assert result.macs == lstm_macs(positions, inp, h, 1, 1)
    assert result.flops == 2 * result.macs + positions * LSTM_CELL_FLOPS * h


def test_a_dynamically_quantized_gru_has_its_float_twins_macs_and_flops():
    torch.manual_seed(0)
    batch, steps, inp, h = 2, 5, 8, 16
    model = Recurrent(nn.GRU(inp, h, batch_first=True)).eval()
    quantized = tq.quantize_dynamic(model, {nn.GRU}, dtype=torch.qint8)
    x = torch.randn(batch, steps, inp)
    result = profile(quantized, x, strict=True)
    macs = batch * steps * 3 * h * (inp + h)
    assert result.macs == macs == profile(model, x).macs
    assert result.flops == 2 * macs + batch * steps * GRU_CELL_FLOPS * h == profile(model, x).flops
    assert result.params == 3 * h * inp + 3 * h * h + 6 * h


# ---- weight-only and integer matmuls ------------------------------------------------------------

M, K, N, GROUP = 4, 64, 32, 32


def test_int_mm_counts_m_k_n_macs_although_its_output_is_int32():
    a = torch.randint(-8, 8, (M, K), dtype=torch.int8)
    b = torch.randint(-8, 8, (K, N), dtype=torch.int8)
    result = profile(torch._int_mm, a, b, strict=True)
    assert result.macs == M * K * N
    assert result.flops == 2 * M * K * N


def test_weight_int8pack_mm_counts_m_k_n_macs():
    x, weight = torch.randn(M, K), torch.randint(-8, 8, (N, K), dtype=torch.int8)
    result = profile(torch._weight_int8pack_mm, x, weight, torch.rand(N), strict=True)
    assert result.macs == M * K * N
    assert result.flops == 2 * M * K * N  # the per-channel rescale is not counted (README)


def test_weight_int4pack_mm_for_cpu_counts_m_k_n_macs_whatever_the_packed_shape():
    packed = torch._convert_weight_to_int4pack_for_cpu(
        torch.randint(0, 16, (N, K), dtype=torch.int32), 2
    )
    assert tuple(packed.shape) != (N, K)  # two int4 values per byte: the weight's shape lies
    scales_and_zeros = torch.rand(K // GROUP, N, 2)
    x = torch.randn(M, K)
    result = profile(
        torch._weight_int4pack_mm_for_cpu, x, packed, GROUP, scales_and_zeros, strict=True
    )
    assert result.macs == M * K * N


def test_dyn_quant_matmul_4bit_counts_m_k_n_macs():
    weights = torch.randint(0, 256, (N, K // 2), dtype=torch.uint8)  # two int4 values per byte
    packed = torch._dyn_quant_pack_4bit_weight(
        weights, torch.rand(N, K // GROUP), torch.zeros(N), GROUP, K, N
    )
    assert packed.dim() == 1
    x = torch.randn(M, K)
    result = profile(torch._dyn_quant_matmul_4bit, x, packed, GROUP, K, N, strict=True)
    assert result.macs == M * K * N


# ---- what stays free, and what cannot be counted ------------------------------------------------


def test_integer_and_bool_work_stays_free_while_quantized_elementwise_work_counts():
    def bookkeeping(qx, values, indices, mask):
        free = (indices + 1) * 2, values.argmax(-1), mask.sum(), (mask & mask).any()
        return free, qx.int_repr(), torch.where(mask, indices, 0)

    qx = torch.quantize_per_tensor(torch.randn(4, 5), 0.1, 128, torch.quint8)
    values, indices, mask = qx.int_repr().long(), torch.arange(6), torch.rand(6) > 0.5
    free = profile(bookkeeping, qx, values, indices, mask, strict=True)
    assert (free.macs, free.flops, free.uncounted) == (0, 0, {})
    assert profile(F.relu, qx, strict=True).flops == qx.numel()  # 1 per element, as in float


def test_a_quantized_model_on_the_meta_device_raises_rather_than_counting_zero():
    # torch's quantized kernels have no meta implementation; the QuantStub cannot even read its
    # scale there
    _, quantized, x = fused_cnn()
    with pytest.raises(RuntimeError, match="meta"):
        profile(quantized.to("meta"), x.to("meta"))
