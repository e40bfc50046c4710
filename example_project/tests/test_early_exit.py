"""A data-dependent model, profiled over a small deterministic dataset.

One input is not an early-exit model's cost: `flop_budget.profile_each(model, samples)` profiles
it once per sample and returns the distribution (mean, std, min, p50, p95, max of every
quantity), recorded as this test's measurement.
"""

from __future__ import annotations

import pytest
import torch
from models.early_exit import EarlyExitClassifier, build_early_exit

FEATURES, HIDDEN, CLASSES, STAGES = 64, 128, 10, 3


def stage_flops(exit: int) -> int:
    """FLOPs ("all") of one input that answers at stage `exit`: the stem Linear and its ReLU,
    then per stage run its Linear, ReLU and exit head, and per confidence check (every stage
    run but the last stage) the softmax (3n - 1 over n classes) and its max (n)."""

    def linear(fan_in: int, fan_out: int) -> int:
        return 2 * fan_in * fan_out + fan_out  # 2 per MAC, plus the bias add

    stem = linear(FEATURES, HIDDEN) + HIDDEN
    stage = linear(HIDDEN, HIDDEN) + HIDDEN + linear(HIDDEN, CLASSES)
    check = (3 * CLASSES - 1) + CLASSES
    return stem + exit * stage + min(exit, STAGES - 1) * check


@pytest.fixture
def model() -> EarlyExitClassifier:
    return build_early_exit().eval()


@pytest.fixture
def dataset() -> list[torch.Tensor]:
    """20 inputs, deterministic: noise at a growing scale (the larger, the more confident)."""
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(1, FEATURES, generator=generator) * 3 * (1 + i) for i in range(20)]


def test_cost_across_the_dataset(model: EarlyExitClassifier, dataset, flop_budget) -> None:
    dist = flop_budget.profile_each(model, dataset)
    with torch.no_grad():
        exits = [model(x).exit for x in dataset]
    assert 1 in exits and STAGES in exits  # easy and hard inputs both

    # each input costs the stages it ran
    assert [p.flops for p in dist.profiles] == [stage_flops(e) for e in exits]
    costs = sorted(stage_flops(e) for e in exits)
    assert dist.mean.flops == pytest.approx(sum(costs) / 20)
    assert dist.max.flops == costs[-1] and dist.min.flops == costs[0]
    # percentiles interpolate between the sorted values: the p95 sits at (20 - 1) * 0.95 = 18.05
    assert dist.p95.flops == pytest.approx(costs[18] + 0.05 * (costs[19] - costs[18]))
    assert dist.p50.flops == pytest.approx(costs[9] + 0.5 * (costs[10] - costs[9]))
    # the exit heads past the first run only for the harder inputs
    assert dist.module_mean["exits.0"] > dist.module_mean["exits.1"]
    assert dist.mean.params == sum(p.numel() for p in model.parameters())


# The budget on a distribution applies to one statistic of it: the mean, the number papers
# publish (89.7 KFLOPs measured: nine inputs answer at stage 1, one at 2, ten at 3) ...
@pytest.mark.flop_budget(max_kflops=100, statistic="mean")
def test_mean_cost(model: EarlyExitClassifier, dataset, flop_budget) -> None:
    flop_budget.profile_each(model, dataset)


# ... or the p95, what a hard input costs (123.5 KFLOPs measured: all three stages).
@pytest.mark.flop_budget(max_kflops=130, statistic="p95")
def test_p95_cost(model: EarlyExitClassifier, dataset, flop_budget) -> None:
    flop_budget.profile_each(model, dataset)
