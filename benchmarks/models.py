"""Benchmark models at realistic sizes, with their closed-form MAC counts."""

from __future__ import annotations

import itertools
from collections.abc import Callable

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


# ---- a family of varied compute / memory balance, for benchmarks/roofline.py ------------------


class PointwiseChain(nn.Module):
    """`depth` rounds of tanh, scale and add: elementwise work only, no MACs."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        self.depth = depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(self.depth):
            x = torch.tanh(x) * 0.5 + x
        return x


def depthwise_separable_cnn(width: int = 32, classes: int = 1000) -> nn.Sequential:
    """A MobileNet-v1-shaped network: a stride-2 stem, then 3×3 depthwise + 1×1 pointwise blocks
    (each with batch norm and ReLU6), global pooling and a classifier."""

    def conv_bn(c_in: int, c_out: int, k: int, stride: int, groups: int = 1) -> list[nn.Module]:
        conv = nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False)
        return [conv, nn.BatchNorm2d(c_out), nn.ReLU6()]

    plan = [(2, 1), (4, 2), (4, 1), (8, 2), (8, 1), (16, 2), (16, 1), (16, 1), (32, 2), (32, 1)]
    layers, c_in = conv_bn(3, width, 3, 2), width
    for multiple, stride in plan:
        c_out = width * multiple
        layers += conv_bn(c_in, c_in, 3, stride, groups=c_in) + conv_bn(c_in, c_out, 1, 1)
        c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, classes)]
    return nn.Sequential(*layers)


class PointwiseBlock(nn.Module):
    """A 1×1 convolution, GELU, batch norm and a residual add: little arithmetic per byte."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.norm(F.gelu(self.conv(x)))


def vgg_like(width: int = 64, classes: int = 10) -> nn.Sequential:
    """3×3 convolutions in stages of two, max pooling between: compute-heavy per byte."""
    layers: list[nn.Module] = []
    c_in = 3
    for c_out in (width, 2 * width, 4 * width):
        for _ in range(2):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]
            c_in = c_out
        layers.append(nn.MaxPool2d(2))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, classes)]
    return nn.Sequential(*layers)


class BagOfWords(nn.Module):
    """A fastText-style classifier: an embedding, the mean over tokens, one linear layer."""

    def __init__(self, vocab: int, dim: int, classes: int = 10) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.classify = nn.Linear(dim, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(tokens).mean(dim=1))


class Recurrent(nn.Module):
    """An nn.LSTM or nn.GRU over a sequence, the last step classified."""

    def __init__(self, rnn: type[nn.RNNBase], features: int, hidden: int) -> None:
        super().__init__()
        self.rnn = rnn(features, hidden, batch_first=True)
        self.classify = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.rnn(x)[0][:, -1])


class CellLoop(nn.Module):
    """An nn.LSTMCell stepped in Python: many small ops, one step at a time."""

    def __init__(self, features: int, hidden: int) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(features, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = c = x.new_zeros(x.shape[0], self.cell.hidden_size)
        for step in x.unbind(1):
            h, c = self.cell(step, (h, c))
        return h


def audio_cnn(width: int = 64) -> nn.Sequential:
    """1-d convolutions with stride over raw audio, then a classifier."""
    layers: list[nn.Module] = [nn.Conv1d(1, width, 80, 4), nn.ReLU(), nn.MaxPool1d(4)]
    for _ in range(3):
        layers += [nn.Conv1d(width, width, 3, padding=1), nn.ReLU(), nn.MaxPool1d(4)]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(width, 10))


def decoder(width: int = 128) -> nn.Sequential:
    """Transposed convolutions upsampling 8×8 to 64×64."""
    layers: list[nn.Module] = []
    c_in = width
    for _ in range(3):
        layers += [nn.ConvTranspose2d(c_in, c_in // 2, 4, 2, 1), nn.ReLU()]
        c_in //= 2
    return nn.Sequential(*layers, nn.Conv2d(c_in, 3, 3, padding=1))


class UNetSmall(nn.Module):
    """Two levels down and up: convolutions, pooling, upsampling and concatenation."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()

        def double(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(c_out, c_out, 3, padding=1),
                nn.ReLU(),
            )

        self.down1, self.down2 = double(3, width), double(width, 2 * width)
        self.bottom = double(2 * width, 4 * width)
        self.up2, self.up1 = double(6 * width, 2 * width), double(3 * width, width)
        self.head = nn.Conv2d(width, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.down1(x)
        b = self.down2(F.max_pool2d(a, 2))
        c = self.bottom(F.max_pool2d(b, 2))
        b = self.up2(torch.cat([F.interpolate(c, scale_factor=2.0), b], 1))
        return self.head(self.up1(torch.cat([F.interpolate(b, scale_factor=2.0), a], 1)))


class BatchedMatmul(nn.Module):
    """One bmm of a batch of square matrices with a weight: compute-bound."""

    def __init__(self, batch: int, n: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(batch, n, n) / n**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.bmm(x, self.weight)


class Attention(nn.Module):
    """Scaled dot-product attention of x with itself (one fused op on the CPU)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(x, x, x)


class Softmax(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x, dim=-1)


def _tokens(batch: int, length: int, vocab: int) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, length))


def latency_cases() -> dict[str, Callable[[], tuple[nn.Module, tuple[torch.Tensor, ...]]]]:
    """name -> a builder of (model in eval mode, inputs): MLPs wide and narrow at batch 1 and
    larger, CNNs (dense, depthwise-separable, pointwise-heavy, 1-d, transposed, a U-Net), attention
    encoders of several lengths, embedding-heavy models, recurrent models, single big ops."""
    r = torch.randn
    builders: dict[str, Callable[[], tuple[nn.Module, tuple[torch.Tensor, ...]]]] = {
        "mlp 1024-4096-4096-1000, batch 1": lambda: (mlp(), (r(1, 1024),)),
        "mlp 1024-4096-4096-1000, batch 64": lambda: (mlp(), (r(64, 1024),)),
        "mlp 256-1024-256, batch 1": lambda: (mlp((256, 1024, 256)), (r(1, 256),)),
        "mlp 256-1024-256, batch 512": lambda: (mlp((256, 1024, 256)), (r(512, 256),)),
        "mlp narrow 32 wide × 48 layers, batch 1": lambda: (mlp((32,) * 49), (r(1, 32),)),
        "mlp narrow 128 wide × 24 layers, batch 1024": lambda: (mlp((128,) * 25), (r(1024, 128),)),
        "logits 512→50000, batch 1": lambda: (nn.Linear(512, 50_000), (r(1, 512),)),
        "logits 512→50000, batch 16": lambda: (nn.Linear(512, 50_000), (r(16, 512),)),
        "resnet18 1×3×224×224": lambda: (ResNet18(), (r(1, 3, 224, 224),)),
        "resnet18 8×3×64×64": lambda: (ResNet18(), (r(8, 3, 64, 64),)),
        "resnet18 1×3×32×32": lambda: (ResNet18(), (r(1, 3, 32, 32),)),
        "depthwise-separable cnn 1×3×224×224": lambda: (
            depthwise_separable_cnn(),
            (r(1, 3, 224, 224),),
        ),
        "depthwise-separable cnn ×0.5, 1×3×128×128": lambda: (
            depthwise_separable_cnn(16),
            (r(1, 3, 128, 128),),
        ),
        "depthwise-separable cnn 16×3×64×64": lambda: (
            depthwise_separable_cnn(),
            (r(16, 3, 64, 64),),
        ),
        "pointwise 1×1-conv blocks ×4, 1×64×112×112": lambda: (
            nn.Sequential(*(PointwiseBlock(64) for _ in range(4))),
            (r(1, 64, 112, 112),),
        ),
        "pointwise 1×1-conv blocks ×4, 1×256×14×14": lambda: (
            nn.Sequential(*(PointwiseBlock(256) for _ in range(4))),
            (r(1, 256, 14, 14),),
        ),
        "vgg-like 8×3×64×64": lambda: (vgg_like(), (r(8, 3, 64, 64),)),
        "vgg-like 1×3×32×32": lambda: (vgg_like(32), (r(1, 3, 32, 32),)),
        "elementwise chain ×10, 4M elements": lambda: (PointwiseChain(10), (r(4, 1024, 1024),)),
        "elementwise chain ×10, 1k elements": lambda: (PointwiseChain(10), (r(1, 1024),)),
        "softmax 64×50000": lambda: (Softmax(), (r(64, 50_000),)),
        "layer norm 1×4096×1024": lambda: (nn.LayerNorm(1024), (r(1, 4096, 1024),)),
        "encoder d256 ×4, 1×16 tokens": lambda: (Encoder(256, 4, 4), (r(1, 16, 256),)),
        "encoder d256 ×4, 1×128 tokens": lambda: (Encoder(256, 4, 4), (r(1, 128, 256),)),
        "encoder d256 ×4, 1×512 tokens": lambda: (Encoder(256, 4, 4), (r(1, 512, 256),)),
        "encoder d256 ×4, 8×128 tokens": lambda: (Encoder(256, 4, 4), (r(8, 128, 256),)),
        "encoder ViT-S ×6, 1×197 tokens": lambda: (Encoder(), (r(1, 197, 384),)),
        "attention (SDPA) 1×8×1024×64": lambda: (Attention(), (r(1, 8, 1024, 64),)),
        "bmm 16×256×256": lambda: (BatchedMatmul(16, 256), (r(16, 256, 256),)),
        "bag of words 30k×128, 64×128 tokens": lambda: (
            BagOfWords(30_000, 128),
            (_tokens(64, 128, 30_000),),
        ),
        "bag of words 30k×128, 1×16 tokens": lambda: (
            BagOfWords(30_000, 128),
            (_tokens(1, 16, 30_000),),
        ),
        "embedding 200k×64, 1×16 tokens": lambda: (
            nn.Embedding(200_000, 64),
            (_tokens(1, 16, 200_000),),
        ),
        "lstm 64→256, 1×64 steps": lambda: (Recurrent(nn.LSTM, 64, 256), (r(1, 64, 64),)),
        "lstm 256→512, 32×32 steps": lambda: (Recurrent(nn.LSTM, 256, 512), (r(32, 32, 256),)),
        "gru 64→128, 1×128 steps": lambda: (Recurrent(nn.GRU, 64, 128), (r(1, 128, 64),)),
        "lstm cell loop 32→64, 1×50 steps": lambda: (CellLoop(32, 64), (r(1, 50, 32),)),
        "audio 1-d cnn 1×1×16000": lambda: (audio_cnn(), (r(1, 1, 16_000),)),
        "transposed-conv decoder 1×128×8×8": lambda: (decoder(), (r(1, 128, 8, 8),)),
        "u-net 1×3×128×128": lambda: (UNetSmall(), (r(1, 3, 128, 128),)),
    }

    def in_eval(build):
        def built() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
            torch.manual_seed(0)
            model, inputs = build()
            return model.eval(), inputs

        return built

    return {name: in_eval(build) for name, build in builders.items()}
