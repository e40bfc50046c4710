import pytest
import torch
from torch import nn


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(512, 1024)
        self.out = nn.Linear(1024, 10)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


@pytest.mark.flop_budget(max_gflops=0.05)
def test_tiny_net_stays_cheap():
    model = TinyNet().eval()
    assert model(torch.randn(32, 512)).shape == (32, 10)


@pytest.mark.flop_budget  # no limit in code: `pytest --flop-budget-update` writes one
def test_tiny_net_single_row():
    model = TinyNet().eval()
    assert model(torch.randn(1, 512)).shape == (1, 10)
