"""Bytes moved under the "unfused" convention: each op reads its tensor arguments (a broadcast,
stride-0 dimension once) and writes its outputs; views move nothing. Closed forms by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pytest_flopbudget as fb

F32 = 4  # bytes per float32 element


def test_a_linear_reads_bias_input_and_the_transposed_weight_and_writes_its_output():
    batch, fan_in, fan_out = 4, 5, 3
    result = fb.profile(nn.Linear(fan_in, fan_out), torch.randn(batch, fan_in))
    # addmm(bias, input, weight.t()): the transpose is a view (no bytes)
    read = fan_out + batch * fan_in + fan_out * fan_in
    written = batch * fan_out
    assert result.bytes_moved == (read + written) * F32
    assert result.ops["aten.addmm"].bytes_moved == (read + written) * F32
    assert "aten.t" not in result.ops
    assert result.modules[""].bytes_moved == result.bytes_moved


def test_a_conv2d_reads_input_weight_bias_and_writes_its_output():
    n, c_in, c_out, k, side = 2, 3, 4, 3, 8
    out_side = side - k + 1
    result = fb.profile(nn.Conv2d(c_in, c_out, k), torch.randn(n, c_in, side, side))
    read = n * c_in * side * side + c_out * c_in * k * k + c_out
    written = n * c_out * out_side * out_side
    assert result.bytes_moved == (read + written) * F32


def test_a_pointwise_chain_reads_and_writes_every_element_once_per_op():
    numel = 6 * 7
    model = nn.Sequential(nn.ReLU(), nn.Sigmoid(), nn.Tanh())
    result = fb.profile(model, torch.randn(6, 7))
    assert result.bytes_moved == 3 * 2 * numel * F32
    for name in ("0", "1", "2"):
        assert result.modules[name].bytes_moved == 2 * numel * F32


def test_cat_moves_bytes_though_it_costs_no_flops():
    a, b = torch.randn(2, 3), torch.randn(4, 3)
    result = fb.profile(lambda: torch.cat([a, b]))
    assert result.flops == 0
    assert result.ops["aten.cat"].bytes_moved == (6 + 12 + 18) * F32
    assert result.bytes_moved == (6 + 12 + 18) * F32


def test_an_expanded_input_counts_its_broadcast_dimension_once():
    row, full = torch.randn(1, 3), torch.randn(4, 3)
    expanded = row.expand(4, 3)
    result = fb.profile(lambda: expanded + full)
    assert result.bytes_moved == (3 + 12 + 12) * F32


def test_half_precision_counts_two_bytes_per_element():
    x = torch.randn(5, 6, dtype=torch.bfloat16)
    assert fb.profile(torch.relu, x).bytes_moved == 2 * 30 * 2


@pytest.mark.parametrize(
    "view",
    [
        lambda x: x.view(12),
        lambda x: x.t(),
        lambda x: x.transpose(0, 1),
        lambda x: x.unsqueeze(0).expand(2, 3, 4),
        lambda x: x.permute(1, 0),
        lambda x: x[1],
        lambda x: x[:, 1:3],
        lambda x: x.detach(),
        lambda x: x.clone().unsqueeze_(0).squeeze_(0),
    ],
    ids=["view", "t", "transpose", "expand", "permute", "select", "slice", "detach", "in-place"],
)
def test_views_move_nothing(view):
    x = torch.randn(3, 4)
    result = fb.profile(view, x)
    clone = 2 * 12 * F32 if "aten.clone" in result.ops else 0  # the in-place case copies first
    assert result.bytes_moved == clone


def test_meta_equals_cpu_on_a_model_without_fused_kernels():
    def mlp():
        return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4), nn.Softmax(-1))

    torch.manual_seed(0)
    cpu = fb.profile(mlp(), torch.randn(2, 8))
    with torch.device("meta"):
        meta_model = mlp()
    meta = fb.profile(meta_model, torch.randn(2, 8, device="meta"))
    assert meta.bytes_moved == cpu.bytes_moved
    assert {n: m.bytes_moved for n, m in meta.modules.items()} == {
        n: m.bytes_moved for n, m in cpu.modules.items()
    }
    # Linear(8, 16): addmm reads 16 + 2*8 + 16*8, writes 2*16; ReLU reads and writes 2*16
    assert cpu.modules["0"].bytes_moved == (16 + 16 + 128 + 32) * F32
    assert cpu.modules["1"].bytes_moved == 2 * 32 * F32


def test_arithmetic_intensity_is_flops_per_byte():
    result = fb.profile(nn.Linear(5, 3), torch.randn(4, 5))
    assert result.intensity == result.flops / result.bytes_moved
    assert result.modules[""].intensity == result.intensity


def test_the_table_shows_bytes_and_intensity():
    text = fb.profile(nn.Linear(5, 3), torch.randn(4, 5)).table()
    header = next(line for line in text.splitlines() if line.startswith("module"))
    columns = ["module", "calls", "params", "MACs", "FLOPs", "bytes", "FLOP/B", "share"]
    assert header.split() == columns
    assert "200 B moved" in text.splitlines()[0]  # 4 * (3 + 20 + 15 + 12)


def test_fused_attention_on_the_cpu_against_its_decomposition_on_meta():
    """The docs' example (conventions.md, "Bytes moved"): the CPU runs SDPA as one fused kernel,
    meta as its math, op by op: the same FLOPs, six times the bytes."""
    b, h, n, d = 1, 4, 128, 32
    qkv = 3 * b * h * n * d
    fused = F32 * (qkv + b * h * n * d + b * h * n)  # reads q, k, v; writes out, logsumexp
    scores = b * h * n * n
    decomposed = F32 * (
        2 * 2 * b * h * n * d  # q and k each scaled: read and written
        + (2 * b * h * n * d + scores)  # q @ k^T
        + 2 * scores  # softmax reads and writes the scores
        + (scores + b * h * n * d + b * h * n * d)  # scores @ v
    )
    results = {}
    for device in ("cpu", "meta"):
        q, k, v = (torch.randn(b, h, n, d, device=device) for _ in range(3))
        results[device] = fb.profile(nn.functional.scaled_dot_product_attention, q, k, v)
    assert results["cpu"].flops == results["meta"].flops
    assert results["cpu"].bytes_moved == fused == 264_192
    assert results["meta"].bytes_moved == decomposed == 1_572_864


def test_an_embedding_reads_the_rows_it_looks_up_not_the_whole_table():
    vocabulary, width, tokens = 100_000, 64, 16
    ids = torch.randint(vocabulary, (1, tokens))
    result = fb.profile(nn.Embedding(vocabulary, width), ids)
    rows = tokens * width * F32  # read, then written as the output
    assert result.bytes_moved == rows + tokens * 8 + rows  # the int64 ids are read too


def test_a_bag_of_embeddings_reads_a_row_per_index_and_writes_a_row_per_bag():
    vocabulary, width, bags, per_bag = 1000, 8, 3, 5
    ids = torch.randint(vocabulary, (bags, per_bag))
    result = fb.profile(nn.EmbeddingBag(vocabulary, width, mode="sum"), ids)
    op = next(o for name, o in result.ops.items() if "embedding_bag" in name)
    rows = bags * per_bag * width * F32
    assert op.bytes_moved >= rows + bags * width * F32  # the rows, the sums (and index bookkeeping)
    assert op.bytes_moved < vocabulary * width * F32  # never the whole table


@pytest.mark.parametrize(
    ("op", "gather", "gathered", "indices"),
    [
        ("aten.index_select", lambda x, i: x.index_select(0, i[:2]), 2 * 50, 2),
        ("aten.gather", lambda x, i: torch.gather(x, 1, i.expand(100, 3)), 100 * 3, 3),
        ("aten.index", lambda x, i: x[i], 3 * 50, 3),
    ],
    ids=["index_select", "gather", "index"],
)
def test_a_gather_reads_what_it_gathers(op, gather, gathered, indices):
    x, i = torch.randn(100, 50), torch.tensor([1, 5, 7])
    result = fb.profile(gather, x, i)
    # the gathered elements read and written, the int64 indices read (an expanded index: once)
    assert result.ops[op].bytes_moved == 2 * gathered * F32 + indices * 8
