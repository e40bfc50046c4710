"""Benchmark models at realistic sizes, with their closed-form MAC counts."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.down = None
        if stride != 1 or c_in != c_out:
            self.down = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    """torchvision's resnet18 architecture (1.82 GMACs at 224×224, which torchvision lists)."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        widths, layers, c_in = (64, 128, 256, 512), [], 64
        for i, width in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers.append(
                nn.Sequential(BasicBlock(c_in, width, stride), BasicBlock(width, width, 1))
            )
            c_in = width
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layers(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet18_macs(size: int = 224) -> int:
    """Closed form: every conv is C_out·C_in·k²·H_out·W_out, plus the classifier."""
    macs, s = 64 * 3 * 49 * (size // 2) ** 2, size // 4
    c_in = 64
    for i, width in enumerate((64, 128, 256, 512)):
        if i:
            s //= 2
            macs += width * c_in * s * s  # 1×1 projection shortcut
        macs += width * c_in * 9 * s * s + 3 * width * width * 9 * s * s
        c_in = width
    return macs + 512 * 1000


class EncoderBlock(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.fc1, self.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, s, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, s, d)
        x = x + self.out(a)
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class Encoder(nn.Module):
    """A ViT-S-sized encoder: 6 blocks, d=384, 6 heads, on 197 tokens."""

    def __init__(self, dim: int = 384, heads: int = 6, depth: int = 6) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(EncoderBlock(dim, heads) for _ in range(depth)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


def encoder_macs(dim: int = 384, depth: int = 6, seq: int = 197) -> int:
    per_block = seq * dim * 3 * dim + 2 * seq * seq * dim + seq * dim * dim + 8 * seq * dim * dim
    return depth * per_block


def mlp(sizes: tuple[int, ...] = (1024, 4096, 4096, 1000)) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def mlp_macs(batch: int = 64, sizes: tuple[int, ...] = (1024, 4096, 4096, 1000)) -> int:
    return sum(batch * a * b for a, b in itertools.pairwise(sizes))


def cases() -> dict[str, tuple[nn.Module, torch.Tensor, int]]:
    """name -> (model in eval mode, input, closed-form MACs)."""
    torch.manual_seed(0)
    return {
        "resnet18 1×3×224×224": (ResNet18().eval(), torch.randn(1, 3, 224, 224), resnet18_macs()),
        "encoder (SDPA) 1×197×384": (Encoder().eval(), torch.randn(1, 197, 384), encoder_macs()),
        "mlp 64×1024": (mlp().eval(), torch.randn(64, 1024), mlp_macs()),
    }
