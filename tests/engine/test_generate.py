"""profile_generate: a GPT-style decoder's prefill and each decode step, against closed forms.

The model and its Hugging Face-style ``generate()`` loop are written here (no transformers
dependency): prefill runs the P prompt tokens; with a KV cache, decode step t runs one token
attending over P + t positions; without one, step t reruns all P + t tokens.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pytest_flopbudget import phase, profile, profile_generate
from pytest_flopbudget.engine import phases
from tests.formulas.helpers import attention_macs, attention_other_flops

B, P, N = 2, 5, 4  # batch, prompt tokens, new tokens (one prefill and N - 1 decode steps)
VOCAB, DIM, HEADS, HIDDEN, LAYERS = 50, 16, 2, 32, 2
HEAD_DIM = DIM // HEADS


class Block(nn.Module):
    """Pre-cache attention (no bias, no norm, to keep the closed form short) and a ReLU MLP."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(DIM, 3 * DIM, bias=False)
        self.proj = nn.Linear(DIM, DIM, bias=False)
        self.up = nn.Linear(DIM, HIDDEN, bias=False)
        self.down = nn.Linear(HIDDEN, DIM, bias=False)

    def forward(self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None):
        batch, tokens, _ = x.shape
        qkv = self.qkv(x).view(batch, tokens, 3, HEADS, HEAD_DIM)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        causal = past is None and tokens > 1
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        x = x + self.proj(out.transpose(1, 2).reshape(batch, tokens, DIM))
        return x + self.down(torch.relu(self.up(x))), (k, v)


class TinyLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.head = nn.Linear(DIM, VOCAB, bias=False)

    def forward(self, input_ids, past_key_values=None, use_cache=True):
        x = self.embed(input_ids)
        cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if past_key_values is None else past_key_values[i])
            cache.append(kv)
        return {"logits": self.head(x), "past_key_values": tuple(cache) if use_cache else None}

    def generate(self, input_ids, max_new_tokens, use_cache=True):
        """Greedy decoding, as Hugging Face's generate() runs it."""
        ids, past = input_ids, None
        for _ in range(max_new_tokens):
            out = self(ids if past is None else ids[:, -1:], past, use_cache)
            past = out["past_key_values"]
            ids = torch.cat([ids, out["logits"][:, -1].argmax(-1, keepdim=True)], dim=1)
        return ids


def forward_flops(new: int, seen: int) -> int:
    """One forward over `new` tokens attending over `seen` positions (causal when new > 1)."""
    rows = B * new
    macs = rows * (DIM * 3 * DIM + DIM * DIM + 2 * DIM * HIDDEN)
    macs += attention_macs(B, HEADS, new, seen, HEAD_DIM)
    other = attention_other_flops(B, HEADS, new, seen, HEAD_DIM, masked=new > 1)
    other += rows * (2 * DIM + HIDDEN)  # two residual adds, the ReLU
    return LAYERS * (2 * macs + other) + 2 * rows * DIM * VOCAB  # + the LM head


def cache_bytes(positions: int) -> int:
    return LAYERS * 2 * B * HEADS * positions * HEAD_DIM * 4  # K and V per layer, float32


def prompt(device: str = "cpu") -> torch.Tensor:
    return torch.arange(B * P, device=device).reshape(B, P) % VOCAB


def test_prefill_and_each_decode_step_with_a_kv_cache():
    result = profile_generate(TinyLM().eval(), prompt(), max_new_tokens=N)
    assert result.uncounted == {}
    prefill, decode = result.phases["prefill"], result.phases["decode"]
    assert (prefill.entries, decode.entries) == (1, N - 1)
    assert prefill.flops == forward_flops(P, P)
    steps = [forward_flops(1, P + t) for t in range(1, N)]  # step t attends over P + t
    assert [entry.flops for entry in decode.per_entry] == steps
    assert decode.flops == sum(steps)
    assert decode.mean.flops == sum(steps) / (N - 1)
    assert decode.max.flops == decode.last.flops == forward_flops(1, P + N - 1)
    assert result.flops == prefill.flops + decode.flops  # choosing tokens is integer work
    assert result.kv_cache_bytes == cache_bytes(P + N - 1)  # the last step's cache


def test_each_decode_step_reruns_the_prefix_without_a_cache():
    result = profile_generate(TinyLM().eval(), prompt(), max_new_tokens=N, use_cache=False)
    decode = result.phases["decode"]
    assert [entry.flops for entry in decode.per_entry] == [
        forward_flops(P + t, P + t) for t in range(1, N)
    ]
    assert result.phases["prefill"].flops == forward_flops(P, P)
    assert result.kv_cache_bytes is None


def test_on_meta_as_on_cpu():
    with torch.device("meta"):
        model = TinyLM()
    result = profile_generate(model, prompt("meta"), max_new_tokens=N)
    assert result.phases["prefill"].flops == forward_flops(P, P)
    assert result.phases["decode"].last.flops == forward_flops(1, P + N - 1)
    assert result.kv_cache_bytes == cache_bytes(P + N - 1)


def test_a_users_own_loop_gets_the_same_phases_with_phase():
    model, ids = TinyLM().eval(), prompt()

    def loop() -> None:
        with phase("prefill"):
            out = model(ids)
        for t in range(1, N):
            with phase("decode"):
                out = model(ids[:, -1:], out["past_key_values"])
            assert out["past_key_values"][0][0].shape[2] == P + t

    mine, theirs = profile(loop), profile_generate(model, ids, max_new_tokens=N)
    assert mine.phases["prefill"].flops == theirs.phases["prefill"].flops
    assert mine.phases["decode"].flops == theirs.phases["decode"].flops


def test_the_table_names_the_phases_and_the_cache():
    table = profile_generate(TinyLM().eval(), prompt(), max_new_tokens=N).table()
    assert "KV cache" in table.splitlines()[0]
    assert any(line.startswith("decode ") for line in table.splitlines())


def test_hooks_and_phases_are_gone_after_a_generate_that_raised():
    class Failing(TinyLM):
        def generate(self, input_ids, max_new_tokens, use_cache=True):
            self(input_ids)
            raise RuntimeError("sampling failed")

    model = Failing()
    with pytest.raises(RuntimeError, match="sampling failed"):
        profile_generate(model, prompt(), max_new_tokens=N)
    assert not model._forward_pre_hooks and not model._forward_hooks
    assert phases._open_here() == []


def test_a_model_without_generate_is_a_clear_error():
    with pytest.raises(TypeError, match="generate"):
        profile_generate(nn.Linear(2, 2), torch.randn(1, 2))


# ---- a GPT-2 from Hugging Face transformers ----------------------------------------------------

GPT2_LAYERS, GPT2_DIM, GPT2_HEADS, GPT2_VOCAB = 2, 64, 4, 100


def gpt2_macs(new: int, seen: int) -> int:
    """One forward of `new` tokens over `seen` positions: the Q/K/V, output and MLP (4·d)
    projections, Q·Kᵀ and A·V, then the LM head on the last position only (generate() asks
    for the logits it samples from: `logits_to_keep=1`)."""
    projections = 3 * GPT2_DIM**2 + GPT2_DIM**2 + 2 * 4 * GPT2_DIM**2
    scores = 2 * new * seen * GPT2_DIM  # over all heads
    return GPT2_LAYERS * (new * projections + scores) + GPT2_DIM * GPT2_VOCAB


def test_a_hugging_face_gpt2_generate_is_split_per_token():
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(
        n_layer=GPT2_LAYERS,
        n_embd=GPT2_DIM,
        n_head=GPT2_HEADS,
        vocab_size=GPT2_VOCAB,
        n_positions=32,
        bos_token_id=0,
        eos_token_id=0,
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    ids = torch.arange(1, P + 1).reshape(1, P)
    result = profile_generate(model, ids, max_new_tokens=N, do_sample=False, min_new_tokens=N)
    prefill, decode = result.phases["prefill"], result.phases["decode"]
    assert prefill.macs == gpt2_macs(P, P)
    assert [entry.macs for entry in decode.per_entry] == [gpt2_macs(1, P + t) for t in range(1, N)]
    assert result.kv_cache_bytes == GPT2_LAYERS * 2 * (P + N - 1) * GPT2_DIM * 4
