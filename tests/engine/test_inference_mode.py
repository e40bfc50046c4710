"""No silent undercount under inference_mode or on other threads (issue 13, counting).

Under ``torch.inference_mode()`` (and on inference tensors) composite ops (`linear`, `conv2d`,
`layer_norm`, `lstm`, `scaled_dot_product_attention`, …) reach the dispatch mode whole; the
counter runs them as their parts, so every path counts the same. Module calls on a thread the
counter's dispatch mode is not active on are listed in `uncounted`, never a silent 0.

Expected numbers are closed forms written here, under the README's conventions.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pytest_flopbudget import counting, profile
from tests.support import linear_flops, linear_macs

# ---- models and their closed forms ------------------------------------------------------------

B, IN, HID, OUT = 3, 64, 128, 64  # the MLP of the issue: 49.7K FLOPs on a (3, 64) input


MLP_MACS = linear_macs(B, IN, HID) + linear_macs(B, HID, OUT)


MLP_FLOPS = linear_flops(B, IN, HID) + B * HID + linear_flops(B, HID, OUT)  # + ReLU


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(IN, HID), nn.ReLU(), nn.Linear(HID, OUT))


N, C, S, K = 2, 3, 8, 8  # conv net: batch, input channels, image side, conv channels


CONV_OUT = N * K * S * S  # Conv2d(C, K, 3, padding=1) keeps the side


POOLED = N * K * (S // 2) ** 2


CONV_MACS = CONV_OUT * C * 3 * 3 + linear_macs(N, K * (S // 2) ** 2, 10)


# conv bias 1, eval batch norm 4, ReLU 1 per conv output; max pool 1 per output; Linear's bias
CONV_FLOPS = 2 * CONV_MACS + CONV_OUT * (1 + 4 + 1) + POOLED + N * 10


def conv_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(C, K, 3, padding=1),
        nn.BatchNorm2d(K),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(K * (S // 2) ** 2, 10),
    ).eval()


class Attention(nn.Module):
    """scaled_dot_product_attention over a (b, h, L, d) input: Q = K = V."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(x, x, x)


AB, AH, AL, AD = 2, 2, 5, 8


ATTENTION_MACS = AB * AH * AL * AL * 2 * AD  # Q·Kᵀ and A·V


# √scale on Q and on K (1 per element each), softmax 3n−1 per row of n = L scores
ATTENTION_FLOPS = 2 * ATTENTION_MACS + 2 * AB * AH * AL * AD + AB * AH * AL * (3 * AL - 1)


T, R, LIN, LH = 5, 2, 16, 8  # LSTM: steps, batch rows, input size, hidden size


LSTM_MACS = T * R * 4 * LH * (LIN + LH)


# per step and row: the bias adds of both gate products (2·4h), then the cell's 30h
LSTM_FLOPS = 2 * LSTM_MACS + T * R * (2 * 4 * LH + 30 * LH)


NORM_SHAPE = (2, 5, 16)


# per element: subtract and scale (2), weight and bias (2), the statistics (3)
NORM_FLOPS = 2 * 5 * 16 * (2 + 2 + 3)


CLOSED_FORMS = {
    "mlp": (mlp, (B, IN), MLP_MACS, MLP_FLOPS),
    "conv_net": (conv_net, (N, C, S, S), CONV_MACS, CONV_FLOPS),
    "attention": (Attention, (AB, AH, AL, AD), ATTENTION_MACS, ATTENTION_FLOPS),
    "lstm": (lambda: nn.LSTM(LIN, LH), (T, R, LIN), LSTM_MACS, LSTM_FLOPS),
    "layer_norm": (lambda: nn.LayerNorm(16), NORM_SHAPE, 0, NORM_FLOPS),
}


def on_meta(model: nn.Module, x: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    return copy.deepcopy(model).to("meta"), x.to("meta")


# ---- inference mode counts what no_grad and meta count -----------------------------------------


def test_the_mlp_of_the_issue_counts_in_full_under_inference_mode():
    model, x = mlp(), torch.randn(B, IN)
    with torch.inference_mode():
        result = profile(model, x, strict=True)
    assert (result.macs, result.flops) == (MLP_MACS, MLP_FLOPS)
    assert result.flops > 10_000  # what max_flops=10_000 let pass when linear was uncounted
    assert set(result.ops) == {"aten.addmm", "aten.relu"}


@pytest.mark.parametrize("name", CLOSED_FORMS)
@pytest.mark.parametrize("count", ["all", "matmul"])
def test_inference_mode_counts_exactly_what_no_grad_and_meta_count(name, count):
    build, shape, macs, flops = CLOSED_FORMS[name]
    torch.manual_seed(0)
    model, x = build(), torch.randn(shape)
    flops = flops if count == "all" else 2 * macs
    plain = profile(model, x, count=count, strict=True)
    with torch.inference_mode():
        inference = profile(model, x, count=count, strict=True)
    meta_model, meta_x = on_meta(model, x)
    meta = profile(meta_model, meta_x, count=count, strict=True)
    with torch.inference_mode():
        meta_inference = profile(meta_model, meta_x, count=count, strict=True)
    for result in (plain, inference, meta, meta_inference):
        assert (result.macs, result.flops) == (macs, flops)
        assert result.params == plain.params
        assert {m: s.flops for m, s in result.modules.items()} == {
            m: s.flops for m, s in plain.modules.items()
        }
    assert inference.ops == plain.ops
    assert (inference.nonzero_params, inference.sparse_macs) == (
        plain.nonzero_params,
        plain.sparse_macs,
    )


ZOO = {
    "conv1d": (lambda: nn.Conv1d(5, 4, 3), (2, 5, 16)),
    "conv_transpose2d": (lambda: nn.ConvTranspose2d(3, 4, 3), (2, 3, 8, 8)),
    "group_norm": (lambda: nn.GroupNorm(1, 3), (2, 3, 8, 8)),
    "batch_norm_train": (lambda: nn.BatchNorm2d(3).train(), (2, 3, 8, 8)),
    "instance_norm": (lambda: nn.InstanceNorm2d(3), (2, 3, 8, 8)),
    "rms_norm": (lambda: nn.RMSNorm(16), (2, 5, 16)),
    "dropout_train": (lambda: nn.Dropout(0.5).train(), (4, 8)),
    "gru": (lambda: nn.GRU(16, 8, num_layers=2), (5, 2, 16)),
    "bidirectional_lstm": (lambda: nn.LSTM(16, 8, bidirectional=True), (5, 2, 16)),
    "lstm_cell": (lambda: nn.LSTMCell(16, 8), (2, 16)),
    "encoder_layer_train": (
        lambda: nn.TransformerEncoderLayer(16, 2, 32, batch_first=True).train(),
        (2, 5, 16),
    ),
    "encoder_layer_fast_path": (
        lambda: nn.TransformerEncoderLayer(16, 2, 32, batch_first=True).eval(),
        (2, 5, 16),
    ),
    "softmax": (lambda: nn.Softmax(-1), (2, 5, 16)),
    "adaptive_avg_pool": (lambda: nn.AdaptiveAvgPool2d(3), (2, 3, 8, 8)),
    "bilinear_upsample": (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (2, 3, 4, 4)),
    "multihead_attention_train": (
        lambda: nn.MultiheadAttention(16, 2, batch_first=True).train(),
        (2, 5, 16),
    ),
}


@pytest.mark.parametrize("name", ZOO)
def test_common_modules_count_the_same_under_inference_mode(name):
    build, shape = ZOO[name]
    torch.manual_seed(0)
    model, x = build(), torch.randn(shape)
    args = (x, x, x) if isinstance(model, nn.MultiheadAttention) else (x,)
    torch.manual_seed(1)
    plain = profile(model, *args, strict=True)
    torch.manual_seed(1)
    with torch.inference_mode():
        inference = profile(model, *args, strict=True)
    assert plain.flops > 0
    assert (inference.macs, inference.flops) == (plain.macs, plain.flops)
    # what executes can differ in name, not in work: under inference mode `weight.t()` needs no
    # grad, so matmul runs a 3-d input as one bmm where no_grad copies it into an mm
    assert sum(op.flops for op in inference.ops.values()) == plain.flops


def test_a_training_step_outside_inference_mode_is_unchanged():
    model, x = mlp(), torch.randn(B, IN)
    with counting(model) as counted:
        model(x).sum().backward()
    assert counted.profile.forward_flops == MLP_FLOPS + B * OUT  # + the sum, 1 per element
    assert counted.profile.backward_flops is not None and counted.profile.backward_flops > 0
    assert not counted.profile.uncounted


# ---- a model built under inference mode -------------------------------------------------------


def built_under_inference_mode(build):
    torch.manual_seed(0)
    with torch.inference_mode():
        return build()


def test_a_model_built_under_inference_mode_profiles_on_every_path():
    model = built_under_inference_mode(conv_net)
    x = torch.randn(N, C, S, S)
    assert all(p.is_inference() for p in model.parameters())
    outside = profile(model, x, strict=True)
    with torch.inference_mode():
        inside = profile(model, x, strict=True)
    for result in (outside, inside):
        assert (result.macs, result.flops) == (CONV_MACS, CONV_FLOPS)
        # batch norm's bias starts at zero: the nonzero count reads the values
        assert result.nonzero_params == sum(int((p != 0).sum()) for p in model.parameters())


def test_a_model_built_under_inference_mode_skips_its_zero_weights_each_count():
    with torch.inference_mode():
        layer = nn.Linear(10, 6)
        layer.weight[:2] = 0
    x = torch.randn(7, 10)
    assert profile(layer, x).sparse_macs == 7 * 10 * (6 - 2)
    with torch.inference_mode():
        layer.weight[2] = 0  # an in-place change, which an inference tensor has no version for
    result = profile(layer, x)
    assert result.sparse_macs == 7 * 10 * (6 - 3)
    assert result.nonzero_params == 10 * (6 - 3) + int((layer.bias != 0).sum())


def test_a_model_built_under_inference_mode_is_restored():
    model = built_under_inference_mode(lambda: nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)))
    model.train()
    running_mean = model[1].running_mean.clone()
    with torch.inference_mode():
        result = profile(model, torch.randn(8, 4) + 5)
    assert result.flops > 0
    assert torch.equal(model[1].running_mean, running_mean)  # the kernel's update undone
    assert model[1].running_mean.is_inference()
    assert model.training and all(p.requires_grad for p in model.parameters())
