"""LeNet-5 for 28×28 grayscale digits (MNIST-sized input)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LeNet5", "build_lenet"]


class LeNet5(nn.Module):
    """conv 1→6 k5, max pool 2, conv 6→16 k5, max pool 2, then 256 → 120 → 84 → 10."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5),  # 1×28×28 -> 6×24×24
            nn.ReLU(),
            nn.MaxPool2d(2),  # -> 6×12×12
            nn.Conv2d(6, 16, kernel_size=5),  # -> 16×8×8
            nn.ReLU(),
            nn.MaxPool2d(2),  # -> 16×4×4
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # -> 256
            nn.Linear(16 * 4 * 4, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build_lenet(num_classes: int = 10) -> LeNet5:
    return LeNet5(num_classes)
