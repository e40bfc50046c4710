"""A small ResNet, profiled explicitly with the `flop_budget` fixture.

`flop_budget.profile(model, x)` returns the Profile (so the test can assert on where the compute
goes) and records it as this test's measurement; the limits come from pyproject.toml.
"""

from __future__ import annotations

import pytest
import torch
from models import SmallResNet, build_resnet


@pytest.fixture
def model() -> SmallResNet:
    return build_resnet().eval()


def test_output_shape(model: SmallResNet) -> None:
    # Not budgeted: no marker, no fixture, no pyproject entry. The plugin leaves it alone.
    with torch.no_grad():
        logits = model(torch.randn(4, 3, 32, 32))
    assert logits.shape == (4, 10)


# Budget: [tool.flopbudget.tests."tests/test_resnet.py::test_compute_profile"] in pyproject.toml.
def test_compute_profile(model: SmallResNet, flop_budget) -> None:
    profile = flop_budget.profile(model, torch.randn(1, 3, 32, 32))
    modules = profile.modules

    # The counted work is convolutions: the residual blocks carry > 90% of it, the linear head
    # (32 -> 10 on the pooled features) is a rounding error.
    blocks = modules["layer1"].flops + modules["layer2"].flops
    assert blocks / profile.flops > 0.9
    assert modules["head"].flops / profile.flops < 0.001
    assert modules["head"].macs == 32 * 10

    # Stride 2 quarters the spatial size while the channels double: the second block is cheaper
    # than the first even with its 1×1 projection shortcut, but holds most of the parameters.
    assert modules["layer2"].macs < modules["layer1"].macs
    assert modules["layer2"].params > modules["layer1"].params
    assert profile.params == sum(p.numel() for p in model.parameters())
    assert profile.backward_flops is None  # inference only
