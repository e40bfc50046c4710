"""LeNet-5, budgeted with the marker alone: no code in the test knows it is being counted.

Everything the call phase runs through a torch module (forward and backward) is counted, and the
parameters are those of the modules the test called at top level.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from models import LeNet5, build_lenet


@pytest.fixture
def model() -> LeNet5:
    return build_lenet()


# LeNet-5, one 1×28×28 image: 0.574 MFLOPs, 281,640 MACs, 44,426 params measured.
@pytest.mark.flop_budget(max_mflops=0.7, max_macs="320K", max_params="50K")
def test_forward_one_image(model: LeNet5) -> None:
    model.eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 1, 28, 28))
    assert logits.shape == (1, 10)
    assert torch.isfinite(logits).all()


# Forward + backward on a batch of 8: 12.3 MFLOPs measured (4.59 forward, 7.71 backward), 44,426
# params. The optimizer step runs outside any module, so the marker alone does not count it.
@pytest.mark.flop_budget(max_mflops=15, max_params="50K")
def test_training_step(model: LeNet5) -> None:
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    images, labels = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    before = model.features[0].weight.detach().clone()

    loss = F.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()

    assert loss.item() > 0
    assert all(p.grad is not None for p in model.parameters())
    assert not torch.equal(before, model.features[0].weight)
