"""A feed-forward block whose SwiGLU runs as one custom op, as a fused kernel would.

`example::fused_swiglu` is made with torch.library.custom_op (a real project would wrap its
Triton or C++ kernel the same way) and has a fake implementation, so the model also runs on the
meta device. The counter sees the op but cannot know its cost: tests/conftest.py teaches it
(`pytest_flopbudget_formulas`).
"""

from __future__ import annotations

import torch
from torch import nn


@torch.library.custom_op("example::fused_swiglu", mutates_args=())
def fused_swiglu(x: torch.Tensor, gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """silu(x @ gate.T) * (x @ up.T) for x of shape (rows, dim), gate and up (hidden, dim)."""
    return nn.functional.silu(x @ gate.t()) * (x @ up.t())


@fused_swiglu.register_fake
def _(x: torch.Tensor, gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    return x.new_empty((x.shape[0], gate.shape[0]))


class SwiGLUFeedForward(nn.Module):
    """down(fused_swiglu(x, gate, up)): a Llama-style feed-forward block."""

    def __init__(self, dim: int = 64, hidden: int = 256) -> None:
        super().__init__()
        self.gate = nn.Parameter(torch.randn(hidden, dim) / dim**0.5)
        self.up = nn.Parameter(torch.randn(hidden, dim) / dim**0.5)
        self.down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        hidden = torch.ops.example.fused_swiglu(rows, self.gate, self.up)
        return self.down(hidden).reshape(x.shape)


def build_feed_forward(dim: int = 64, hidden: int = 256) -> SwiGLUFeedForward:
    return SwiGLUFeedForward(dim, hidden)
