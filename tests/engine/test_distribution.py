"""profile_each and its Distribution against closed forms: an early-exit classifier whose exit
the input chooses, so each sample's FLOPs are a multiple of one stage's."""

from __future__ import annotations

import io
import math
import re

import pytest
import torch
from torch import nn

import pytest_flopbudget
from pytest_flopbudget import Distribution, Stat, UncountedOpsError, profile_each
from pytest_flopbudget.budgets.quantities import HARDWARE_QUANTITIES, QUANTITIES
from pytest_flopbudget.engine import distribution
from pytest_flopbudget.engine.distribution import (
    STAT_QUANTITIES,
    percentile,
    progress_text,
    stderr_progress,
)
from tests.support import linear_flops, linear_macs, linear_params

D, CLASSES, DEPTH = 8, 3, 4

# One stage on a (1, D) input: block Linear(D, D), ReLU (1 per element), exit head Linear(D, C).
BLOCK_FLOPS = linear_flops(1, D, D)
HEAD_FLOPS = linear_flops(1, D, CLASSES)
STAGE_FLOPS = BLOCK_FLOPS + D + HEAD_FLOPS
STAGE_MACS = linear_macs(1, D, D) + linear_macs(1, D, CLASSES)
PARAMS = DEPTH * (linear_params(D, D) + linear_params(D, CLASSES))
assert STAGE_FLOPS == 136 + 8 + 51


class EarlyExit(nn.Module):
    """Runs stages until the exit the input asks for: `exit_at`, else the first input value
    (a real model exits when a head is confident; here the test decides)."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Linear(D, D) for _ in range(DEPTH))
        self.exits = nn.ModuleList(nn.Linear(D, CLASSES) for _ in range(DEPTH))

    def forward(self, x: torch.Tensor, exit_at: int | None = None) -> torch.Tensor:
        stages = int(x[0, 0]) if exit_at is None else exit_at
        for block, head in zip(self.blocks[:stages], self.exits[:stages], strict=True):
            x = torch.relu(block(x))
            logits = head(x)
        return logits


def sample(stages: int) -> torch.Tensor:
    """A (1, D) input whose first value asks for `stages` stages."""
    x = torch.rand(1, D)
    x[0, 0] = stages
    return x


# 20 samples: six exit after stage 1, eight after 2, five after 3, one after 4.
EXITS = [1, 3, 2, 2, 3, 1, 2, 4, 2, 1, 3, 2, 1, 2, 3, 1, 2, 3, 2, 1]
assert sorted(EXITS) == [1] * 6 + [2] * 8 + [3] * 5 + [4]
MEAN_STAGES = (6 * 1 + 8 * 2 + 5 * 3 + 1 * 4) / 20  # 2.05
MEAN_SQUARE = (6 * 1 + 8 * 4 + 5 * 9 + 1 * 16) / 20  # 4.95
STD_STAGES = math.sqrt(MEAN_SQUARE - MEAN_STAGES**2)  # population std (ddof=0)
# p50: position (20 - 1) * 0.50 = 9.5, between sorted[9] = 2 and sorted[10] = 2
P50_STAGES = 2
# p95: position (20 - 1) * 0.95 = 18.05, between sorted[18] = 3 and sorted[19] = 4
P95_STAGES = 3 + 0.05 * (4 - 3)


@pytest.fixture
def model() -> EarlyExit:
    torch.manual_seed(0)
    return EarlyExit()


# --- the percentile rule ---------------------------------------------------------------------


def test_percentile_interpolates_linearly_between_the_sorted_values():
    assert percentile([4, 1, 3, 2], 50) == 2.5  # position 1.5: 2 + 0.5 * (3 - 2)
    assert percentile([50, 10, 40, 30, 20], 95) == 48  # 3.8: 40 + 0.8 * 10, exactly
    assert percentile([50, 10, 40, 30, 20], 25) == 20  # position 1.0 exactly
    assert percentile([7, 3, 5], 0) == 3 and percentile([7, 3, 5], 100) == 7
    assert percentile([9], 95) == 9


def test_percentile_is_numpys_default():
    numpy = pytest.importorskip("numpy")
    values = [13, 2, 2, 7, 100, 41, 5, 5, 8, 0, 3]
    for q in (0, 5, 33, 50, 90, 95, 99, 100):
        assert percentile(values, q) == pytest.approx(float(numpy.percentile(values, q)))


def test_percentile_refuses_no_values_and_q_out_of_range():
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="q=101"):
        percentile([1, 2], 101)


# --- the distribution of an early-exit model -------------------------------------------------


def test_distribution_of_an_early_exit_model(model):
    dist = profile_each(model, [sample(k) for k in EXITS])
    assert isinstance(dist, Distribution) and dist.count == 20 and len(dist.profiles) == 20
    assert [p.flops for p in dist.profiles] == [k * STAGE_FLOPS for k in EXITS]
    assert dist.mean.flops == pytest.approx(MEAN_STAGES * STAGE_FLOPS)
    assert dist.std.flops == pytest.approx(STD_STAGES * STAGE_FLOPS)
    assert dist.min.flops == STAGE_FLOPS
    assert dist.p50.flops == pytest.approx(P50_STAGES * STAGE_FLOPS)
    assert dist.p95.flops == pytest.approx(P95_STAGES * STAGE_FLOPS)
    assert dist.max.flops == 4 * STAGE_FLOPS
    assert dist.p95.macs == pytest.approx(P95_STAGES * STAGE_MACS)
    # what does not depend on the input: the same at every statistic, std 0
    for name in ("mean", "min", "p50", "p95", "max"):
        stat = dist.statistic(name)
        assert isinstance(stat, Stat)
        assert stat.params == PARAMS and stat.nonzero_params == PARAMS
    assert dist.std.params == 0


def test_every_stat_has_every_profile_quantity_of_the_budget_table():
    assert STAT_QUANTITIES == tuple(q for q in QUANTITIES if q not in HARDWARE_QUANTITIES)
    assert tuple(Stat.__dataclass_fields__) == STAT_QUANTITIES


def test_a_quantity_unknown_in_any_profile_is_none(model):
    """On meta, weights have no values: nonzero params and sparse FLOPs are unknown."""
    meta = model.to("meta")
    dist = profile_each(meta, [(torch.empty(1, D, device="meta"), k) for k in (1, 3)])
    assert dist.mean.flops == 2 * STAGE_FLOPS
    assert dist.mean.nonzero_params is None and dist.p95.sparse_flops is None


def test_statistic_by_name_and_an_unknown_name(model):
    dist = profile_each(model, [sample(1), sample(3)])
    assert dist.statistic("max") == dist.max and dist.statistic("p50") == dist.p50
    with pytest.raises(ValueError, match=r"'p59' is not one of .*did you mean 'p95'"):
        dist.statistic("p59")


def test_per_module_mean(model):
    dist = profile_each(model, [sample(k) for k in EXITS])
    reached = [sum(k > stage for k in EXITS) for stage in range(DEPTH)]  # 20, 14, 6, 1
    assert reached == [20, 14, 6, 1]
    for stage in range(DEPTH):
        assert dist.module_mean[f"blocks.{stage}"] == pytest.approx(
            reached[stage] / 20 * BLOCK_FLOPS
        )
        assert dist.module_mean[f"exits.{stage}"] == pytest.approx(reached[stage] / 20 * HEAD_FLOPS)
    assert dist.module_mean[""] == pytest.approx(MEAN_STAGES * STAGE_FLOPS)


def test_table_shows_each_statistic(model):
    text = profile_each(model, [sample(1), sample(3)]).table()
    assert text.splitlines()[0] == "EarlyExit over 2 inputs:"
    assert "p95" in text and "flops" in text


# --- samples: tensors, tuples, dicts, any iterable ---------------------------------------------


def test_samples_as_tuples_and_dicts(model):
    x = torch.rand(1, D)  # its first value asks for no particular exit: the argument does
    dist = profile_each(model, [(x, 2), {"x": x, "exit_at": 3}, (x, 1)])
    assert [p.flops for p in dist.profiles] == [2 * STAGE_FLOPS, 3 * STAGE_FLOPS, STAGE_FLOPS]


def test_a_dataloader_and_a_limit(model):
    dataset = torch.utils.data.TensorDataset(torch.cat([sample(k) for k in EXITS]))
    loader = torch.utils.data.DataLoader(dataset, batch_size=1)  # batches are lists: [x]
    dist = profile_each(model, loader)
    assert [p.flops for p in dist.profiles] == [k * STAGE_FLOPS for k in EXITS]
    first = profile_each(model, loader, limit=5)
    assert first.count == 5 and first.max.flops == 3 * STAGE_FLOPS  # EXITS[:5] has no 4
    assert [p.flops for p in first.profiles] == [k * STAGE_FLOPS for k in EXITS[:5]]


def test_limit_takes_no_more_samples_than_it_needs(model):
    taken = []

    def samples():
        for k in EXITS:
            taken.append(k)
            yield sample(k)

    dist = profile_each(model, samples(), limit=3)
    assert dist.count == 3 and taken == EXITS[:3]


@pytest.mark.parametrize("limit", [0, -2, 1.5, True, "3"])
def test_a_limit_that_is_not_a_positive_count_is_refused(model, limit):
    with pytest.raises(ValueError, match=re.escape(f"limit={limit!r}")):
        profile_each(model, [sample(1)], limit=limit)


def test_no_samples_and_not_an_iterable_are_refused(model):
    with pytest.raises(ValueError, match="no sample"):
        profile_each(model, [])
    with pytest.raises(TypeError, match=r"iterable of samples.*got int"):
        profile_each(model, 3)
    with pytest.raises(TypeError, match="got dict"):
        profile_each(model, {"x": sample(1)})  # one sample of kwargs: wrap it in a list


# --- options reach each profile ----------------------------------------------------------------


def test_strict_and_count_reach_each_profile():
    dist = profile_each(torch.logcumsumexp, [(torch.randn(16), 0), (torch.randn(8), 0)])
    assert all(p.uncounted == {"aten.logcumsumexp": 1} for p in dist.profiles)
    with pytest.raises(UncountedOpsError, match="logcumsumexp") as raised:
        profile_each(torch.logcumsumexp, [(torch.randn(16), 0)], strict=True)
    assert "(on sample 0 of pytest_flopbudget.profile_each)" in raised.value.__notes__


def test_count_matmul_reaches_each_profile(model):
    dist = profile_each(model, [sample(2)], count="matmul")
    assert dist.max.flops == 2 * 2 * STAGE_MACS  # exactly 2 per MAC


def test_lazy_export():
    assert pytest_flopbudget.profile_each is profile_each
    assert "profile_each" in pytest_flopbudget.__all__


# --- the progress bar --------------------------------------------------------------------------


class Clock:
    """A monotonic clock advancing `step` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def monotonic(self) -> float:
        self.now += self.step
        return self.now


def test_progress_shows_only_after_two_seconds(model, monkeypatch):
    calls = []
    monkeypatch.setattr(distribution, "time", Clock(1.0))  # each sample takes 1 s
    profile_each(model, [sample(1)] * 5, progress=lambda *a: calls.append(a))
    # read at start (1 s), then after each sample (2, 3, ... s): shown from 2 s elapsed on
    assert [c[0] for c in calls] == [2, 3, 4, 5, 5]
    assert calls[-1] == (5, 5, 6.0, True) and not any(c[3] for c in calls[:-1])


def test_no_progress_for_a_quick_run(model, monkeypatch):
    calls = []
    monkeypatch.setattr(distribution, "time", Clock(0.01))
    profile_each(model, [sample(1)] * 5, progress=lambda *a: calls.append(a))
    assert calls == []


def test_the_stderr_bar_redraws_one_line():
    out = io.StringIO()
    show = stderr_progress(out)
    show(5, 20, 2.5, False)
    show(20, 20, 4.0, True)
    assert out.getvalue() == (
        "\rprofile_each: 5/20 samples [#####...............] 2.5 s"
        "\rprofile_each: 20/20 samples [####################] 4.0 s\n"
    )
    assert progress_text(7, None, 3.0) == "profile_each: 7 samples 3.0 s"
