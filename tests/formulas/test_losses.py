"""Losses cost per element of their input (README's table); each closed form is written here."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pytest_flopbudget import counting, profile

N, C = 6, 5
ELEMENTS = N * C


def forward_and_backward(loss_fn):
    x = torch.randn(N, C, requires_grad=True)
    target = torch.rand(N, C)
    with counting() as counted:
        loss_fn(x, target).backward()
    return counted.profile


@pytest.mark.parametrize(
    ("name", "loss_fn", "forward", "backward"),
    [
        ("smooth_l1_loss", F.smooth_l1_loss, 5, 3),
        ("huber_loss", F.huber_loss, 5, 3),
        ("soft_margin_loss", F.soft_margin_loss, 4, 4),
        ("binary_cross_entropy", lambda x, t: F.binary_cross_entropy(x.sigmoid(), t), 7, 5),
        ("mse_loss", F.mse_loss, 3, 2),
    ],
)
def test_a_loss_and_its_backward_cost_per_element(name, loss_fn, forward, backward):
    result = forward_and_backward(loss_fn)
    assert result.uncounted == {}
    assert result.ops[f"aten.{name}"].flops == forward * ELEMENTS
    assert result.ops[f"aten.{name}_backward"].flops == backward * ELEMENTS


def test_binary_cross_entropy_with_logits_and_its_weights():
    x, target = torch.randn(N, C), torch.rand(N, C)
    weight, pos_weight = torch.rand(C), torch.rand(C)
    plain = profile(F.binary_cross_entropy_with_logits, x, target)
    weighted = profile(
        F.binary_cross_entropy_with_logits, x, target, weight=weight, pos_weight=pos_weight
    )
    assert plain.uncounted == weighted.uncounted == {}
    op = "aten.binary_cross_entropy_with_logits"
    assert plain.ops[op].flops == 6 * ELEMENTS
    assert weighted.ops[op].flops == (6 + 2) * ELEMENTS
