import torch
from torch import nn

import pytest_flopbudget as fb


class EarlyExit(nn.Module):
    """Three stages, each with an exit head; stops at the exit the input asks for (x[0, 0])."""

    def __init__(self, dim: int = 64, classes: int = 10) -> None:
        super().__init__()
        self.stages = nn.ModuleList(nn.Linear(dim, dim) for _ in range(3))
        self.heads = nn.ModuleList(nn.Linear(dim, classes) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stop = int(x[0, 0])
        for stage, head in zip(self.stages[:stop], self.heads[:stop], strict=True):
            x = torch.relu(stage(x))
            logits = head(x)
        return logits


samples = []
for stop in [1, 1, 1, 1, 1, 1, 2, 2, 2, 3]:  # six easy inputs, three harder, one hard
    x = torch.randn(1, 64)
    x[0, 0] = stop
    samples.append(x)

dist = fb.profile_each(EarlyExit(), samples)
print(dist.min.flops, dist.p50.flops, dist.mean.flops, dist.p95.flops, dist.max.flops)
# 9610 9610.0 14415.0 24505.5 28830
print(dist.module_mean["stages.2"])  # 825.6: one sample in ten runs the third stage
print(dist)
