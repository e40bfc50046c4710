"""Normalization: weight norm."""

from __future__ import annotations

import torch

from pytest_flopbudget import counting
from tests.formulas.helpers import op_flops


def test_weight_norm_and_its_backward():
    linear = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(4, 3))
    with counting() as c:
        linear(torch.randn(2, 4)).sum().backward()
    v, norms = 3 * 4, 3
    assert op_flops(c.profile, "aten._weight_norm_interface") == 3 * v + 2 * norms
    assert op_flops(c.profile, "aten._weight_norm_interface_backward") == 2 * (3 * v + 2 * norms)
    assert c.profile.uncounted == {}
