"""Grouped matmuls (mixture of experts) against closed forms written out here."""

from __future__ import annotations

import pytest
import torch

from pytest_flopbudget import counting, profile


def grouped_mm(x, w, offs):
    return torch._grouped_mm(x, w, offs=offs)


# 10 token rows of width k=8 through 3 experts of 8→4, routed 3, 4 and 3 rows.
ROWS, K, N, EXPERTS = 10, 8, 4, 3
OFFSETS = [3, 7, 10]


def test_grouped_mm_counts_every_groups_rows_times_k_times_n():
    x, w = torch.randn(ROWS, K), torch.randn(EXPERTS, K, N)
    result = profile(grouped_mm, x, w, torch.tensor(OFFSETS, dtype=torch.int32))
    rows_per_group = [3, 4, 3]
    assert result.macs == sum(rows * K * N for rows in rows_per_group) == ROWS * K * N
    assert result.flops == 2 * ROWS * K * N and result.uncounted == {}


def test_grouped_mm_skips_the_rows_past_the_last_offset():
    """Rows after offs[-1] (expert-parallel sentinels) are not computed, nor counted."""
    x, w = torch.randn(ROWS, K), torch.randn(EXPERTS, K, N)
    result = profile(grouped_mm, x, w, torch.tensor([3, 3, 8], dtype=torch.int32))
    assert result.macs == (3 + 0 + 5) * K * N


def test_grouped_mm_backward_is_two_more_grouped_mms():
    """grad_input = grad (10×4) through each expert's 4→8; grad_weight = xᵀ·grad, a 2d×2d grouped
    mm whose offsets split the contracted rows."""
    x = torch.randn(ROWS, K, requires_grad=True)
    w = torch.randn(EXPERTS, K, N, requires_grad=True)
    offs = torch.tensor(OFFSETS, dtype=torch.int32)
    with counting() as c:
        grouped_mm(x, w, offs).backward(torch.randn(ROWS, N))
    forward = ROWS * K * N
    assert c.profile.forward_macs == forward
    assert c.profile.backward_macs == ROWS * N * K + K * ROWS * N
    assert c.profile.ops["aten._grouped_mm"].calls == 3


def test_grouped_mm_of_two_batches_is_a_bmm():
    a, b = torch.randn(EXPERTS, 4, K), torch.randn(EXPERTS, K, N)
    assert profile(torch._grouped_mm, a, b).macs == EXPERTS * 4 * K * N


def test_grouped_mm_on_meta_counts_every_row_once_which_is_exact():
    """On meta the offsets are unknown; every row belongs to exactly one group, so the count is
    rows·k·n: the exact value whenever the offsets cover every row."""
    k, n = 16, 8  # the meta kernel wants bf16 rows of 16-byte multiples
    x = torch.empty(ROWS, k, device="meta", dtype=torch.bfloat16)
    w = torch.empty(EXPERTS, k, n, device="meta", dtype=torch.bfloat16)
    offs = torch.empty(EXPERTS, device="meta", dtype=torch.int32)
    assert profile(grouped_mm, x, w, offs).macs == ROWS * k * n


# ---- a Mixtral from Hugging Face transformers ---------------------------------------------------

VOCAB, DIM, FFN, LAYERS, HEADS, KV_HEADS, EXPERTS_PER_LAYER, TOP_K = 64, 32, 48, 2, 4, 2, 4, 2
BATCH, SEQ = 2, 8


def mixtral(implementation: str | None = None, device: str = "cpu", dtype=torch.float32):
    transformers = pytest.importorskip("transformers")
    options = {} if implementation is None else {"experts_implementation": implementation}
    config = transformers.MixtralConfig(
        vocab_size=VOCAB,
        hidden_size=DIM,
        intermediate_size=FFN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS,
        num_local_experts=EXPERTS_PER_LAYER,
        num_experts_per_tok=TOP_K,
        max_position_embeddings=64,
        **options,
    )
    with torch.device(device):
        return transformers.MixtralForCausalLM(config).to(dtype).eval()


def mixtral_macs() -> int:
    """Each token through its TOP_K experts (SwiGLU: gate, up and down, 3·d·ff each), the router,
    the attention projections (grouped-query K and V) and the scores; then the lm_head."""
    tokens, head_dim = BATCH * SEQ, DIM // HEADS
    experts = TOP_K * 3 * DIM * FFN
    router = DIM * EXPERTS_PER_LAYER
    projections = DIM * DIM + 2 * DIM * KV_HEADS * head_dim + DIM * DIM
    scores = 2 * BATCH * HEADS * SEQ * SEQ * head_dim  # Q·Kᵀ and A·V
    per_layer = tokens * (experts + router + projections) + scores
    return LAYERS * per_layer + tokens * DIM * VOCAB


def test_mixtral_counts_the_experts_its_tokens_were_routed_to():
    model = mixtral()
    assert model.config._experts_implementation == "grouped_mm"  # the default path
    result = profile(model, torch.randint(0, VOCAB, (BATCH, SEQ)))
    assert result.macs == mixtral_macs()
    assert result.ops["aten._grouped_mm"].macs == LAYERS * BATCH * SEQ * TOP_K * 3 * DIM * FFN
    assert result.uncounted == {}


@pytest.mark.parametrize("implementation", ["eager", "batched_mm"])
def test_mixtral_experts_implementations_agree_on_macs(implementation):
    ids = torch.randint(0, VOCAB, (BATCH, SEQ))
    result = profile(mixtral(implementation), ids)
    assert result.macs == mixtral_macs() and result.uncounted == {}


def test_mixtral_on_meta_counts_the_same_macs():
    model = mixtral(device="meta", dtype=torch.bfloat16)  # the meta grouped mm wants bf16
    ids = torch.zeros(BATCH, SEQ, dtype=torch.long, device="meta")
    result = profile(model, ids)
    assert result.macs == mixtral_macs() and result.uncounted == {}
