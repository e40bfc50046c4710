"""A small decoder-only language model (GPT-style, pre-LayerNorm) with a KV cache and a greedy,
Hugging Face-style ``generate()``: the first forward runs the prompt (prefill), each later one
runs the last token against the cache (decode)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CausalSelfAttention", "DecoderBlock", "TinyDecoderLM", "build_decoder"]

KV = tuple[torch.Tensor, torch.Tensor]  # one layer's cached keys and values


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention that appends this call's keys and values to the cache."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, past: KV | None) -> tuple[torch.Tensor, KV]:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).view(batch, tokens, 3, self.heads, dim // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (batch, heads, tokens, head_dim)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        # the prompt attends causally; one new token attends over the whole cache
        out = F.scaled_dot_product_attention(q, k, v, is_causal=past is None and tokens > 1)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim)), (k, v)


class DecoderBlock(nn.Module):
    """x + attn(LN(x)), then x + MLP(LN(x)) with a GELU MLP of width 4 × dim."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor, past: KV | None) -> tuple[torch.Tensor, KV]:
        attended, cache = self.attn(self.norm1(x), past)
        x = x + attended
        return x + self.mlp(self.norm2(x)), cache


class TinyDecoderLM(nn.Module):
    """Token and position embeddings, N decoder blocks, a final LN and an LM head."""

    def __init__(
        self,
        vocab_size: int = 1000,
        dim: int = 128,
        heads: int = 4,
        layers: int = 2,
        max_len: int = 128,
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.tokens = nn.Embedding(vocab_size, dim)
        self.positions = nn.Embedding(max_len, dim)
        self.blocks = nn.ModuleList(DecoderBlock(dim, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size, bias=False)

    def forward(
        self, input_ids: torch.Tensor, past_key_values: tuple[KV, ...] | None = None
    ) -> dict[str, object]:
        """The logits of `input_ids` (the tokens after those in the cache) and the new cache."""
        start = 0 if past_key_values is None else past_key_values[0][0].shape[2]
        end = start + input_ids.shape[1]
        if end > self.max_len:
            raise ValueError(f"{end} positions exceed max_len {self.max_len}")
        positions = torch.arange(start, end, device=input_ids.device)
        x = self.tokens(input_ids) + self.positions(positions)
        cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if past_key_values is None else past_key_values[i])
            cache.append(kv)
        return {"logits": self.head(self.norm(x)), "past_key_values": tuple(cache)}

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
        """Greedy decoding: the prompt and `max_new_tokens` tokens after it."""
        ids, past = input_ids, None
        for _ in range(max_new_tokens):
            out = self(ids if past is None else ids[:, -1:], past)
            past = out["past_key_values"]
            ids = torch.cat([ids, out["logits"][:, -1].argmax(-1, keepdim=True)], dim=1)
        return ids


def build_decoder(**kwargs: int) -> TinyDecoderLM:
    """A seeded TinyDecoderLM in eval mode."""
    torch.manual_seed(0)
    return TinyDecoderLM(**kwargs).eval()
