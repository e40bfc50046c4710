"""A small decoder-only language model, counted token by token.

`pytest_flopbudget.profile_generate` runs `model.generate()` and splits it into the prefill (the
prompt's forward) and one `decode` entry per later token, each attending over a longer cache.
The marker's whole-call count sees the same phases.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from models.decoder import TinyDecoderLM, build_decoder

from pytest_flopbudget import profile_generate

PROMPT, NEW = 32, 16  # prompt tokens, tokens generated
LAYERS, DIM, HEADS = 2, 128, 4


@pytest.fixture
def model() -> TinyDecoderLM:
    return build_decoder(vocab_size=1000, dim=DIM, heads=HEADS, layers=LAYERS, max_len=128)


@pytest.fixture
def prompt() -> torch.Tensor:
    return torch.arange(PROMPT).reshape(1, PROMPT)


# The whole generate() (prompt and 16 tokens): 51.3 MFLOPs measured.
@pytest.mark.flop_budget(max_mflops=60)
def test_generate_prefill_and_decode(model: TinyDecoderLM, prompt: torch.Tensor) -> None:
    result = profile_generate(model, prompt, max_new_tokens=NEW)
    prefill, decode = result.phases["prefill"], result.phases["decode"]
    assert (prefill.entries, decode.entries) == (1, NEW - 1)
    # each cached position costs every later token the same: Q·Kᵀ and A·V (2 × 2 × DIM FLOPs),
    # K's scaling (DIM) and 3 softmax FLOPs per head, in every layer
    per_position = LAYERS * (4 * DIM + DIM + 3 * HEADS)
    flops = [entry.flops for entry in decode.per_entry]
    assert [b - a for a, b in itertools.pairwise(flops)] == [per_position] * (NEW - 2)
    assert decode.last.flops == decode.max.flops == flops[0] + (NEW - 2) * per_position
    # the cache at the end: K and V of every layer over the prompt and all but the last token
    assert result.kv_cache_bytes == LAYERS * 2 * (PROMPT + NEW - 1) * DIM * 4


def test_meta_counts_what_cpu_counts(model: TinyDecoderLM, prompt: torch.Tensor) -> None:
    with torch.device("meta"):
        on_meta = TinyDecoderLM(vocab_size=1000, dim=DIM, heads=HEADS, layers=LAYERS, max_len=128)
    meta = profile_generate(on_meta, prompt.to("meta"), max_new_tokens=NEW)
    cpu = profile_generate(model, prompt, max_new_tokens=NEW)
    for name in ("prefill", "decode"):  # the FLOPs (bytes follow the kernels each device runs)
        assert [e.flops for e in meta.phases[name].per_entry] == [
            e.flops for e in cpu.phases[name].per_entry
        ]
    assert meta.kv_cache_bytes == cpu.kv_cache_bytes


# A budget per decoded token: each decode entry (statistic "max", the default for a phase) must
# stay under 1.3 MFLOPs; the costliest, the 16th token over 47 positions, is 1.11 MFLOPs.
@pytest.mark.flop_budget(max_mflops=60, phases={"decode": {"max_mflops": 1.3}})
def test_cost_per_decoded_token(model: TinyDecoderLM, prompt: torch.Tensor) -> None:
    tokens = profile_generate(model, prompt, max_new_tokens=NEW)
    assert tokens.phases["decode"].max.flops < 1.3e6
