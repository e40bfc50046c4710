"""Phases: the work run inside `phase(name)`, per entry, against closed forms."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

import pytest_flopbudget
from pytest_flopbudget import PhaseStats, Totals, UncountedOpsError, counting, phase, profile
from pytest_flopbudget.engine.counter import Counter
from pytest_flopbudget.engine.profile import OTHER_THREAD, phase_on_another_thread
from pytest_flopbudget.engine.registry import current
from pytest_flopbudget.plugin.fixture import FlopBudgetFixture
from tests.support import linear_bytes, linear_flops, linear_macs

IN, HID, OUT = 16, 32, 8


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(IN, HID), nn.ReLU(), nn.Linear(HID, OUT))


def mlp_flops(batch: int) -> int:
    return linear_flops(batch, IN, HID) + batch * HID + linear_flops(batch, HID, OUT)  # + ReLU


def mlp_macs(batch: int) -> int:
    return linear_macs(batch, IN, HID) + linear_macs(batch, HID, OUT)


def mlp_bytes(batch: int) -> int:
    relu = 4 * 2 * batch * HID  # reads and writes each element, float32
    return linear_bytes(batch, IN, HID) + relu + linear_bytes(batch, HID, OUT)


def totals(batch: int) -> Totals:
    return Totals(mlp_flops(batch), mlp_macs(batch), mlp_bytes(batch), mlp_flops(batch))


def test_each_entry_holds_the_work_run_in_it():
    model, batches = mlp(), (5, 1, 3, 2)
    inputs = [torch.randn(batch, IN) for batch in batches]  # made outside: randn moves bytes

    def prefill_then_decode() -> None:
        with phase("prefill"):
            model(inputs[0])
        for x in inputs[1:]:
            with phase("decode"):
                model(x)

    result = profile(prefill_then_decode)
    assert result.flops == sum(mlp_flops(b) for b in batches)
    assert list(result.phases) == ["prefill", "decode"]
    prefill, decode = result.phases["prefill"], result.phases["decode"]
    assert prefill == PhaseStats("prefill", 1, *totals(5).__dict__.values(), (totals(5),))
    assert decode.entries == 3
    assert decode.per_entry == (totals(1), totals(3), totals(2))
    assert decode.flops == mlp_flops(1) + mlp_flops(3) + mlp_flops(2)
    assert decode.macs == mlp_macs(1) + mlp_macs(3) + mlp_macs(2)
    assert decode.bytes_moved == mlp_bytes(1) + mlp_bytes(3) + mlp_bytes(2)
    assert decode.last == totals(2)
    assert decode.max == totals(3)
    assert decode.mean == Totals(
        decode.flops / 3, decode.macs / 3, decode.bytes_moved / 3, decode.flops / 3
    )


def test_matmul_convention_applies_to_phases():
    model = mlp()
    with counting(model, count="matmul") as counted, phase("step"):
        model(torch.randn(4, IN))
    assert counted.profile.phases["step"].flops == 2 * mlp_macs(4)


def test_without_phases_nothing_changes():
    model, x = mlp(), torch.randn(4, IN)
    result = profile(model, x)
    assert result.phases == {}
    assert result.flops == mlp_flops(4)
    assert "phase" not in result.table()


def test_outside_counting_a_phase_does_nothing():
    model = mlp()
    with phase("decode"):
        model(torch.randn(4, IN))
    assert profile(model, torch.randn(4, IN)).phases == {}


def test_phases_nested_in_modules_and_modules_in_phases():
    class Tagged(nn.Module):
        """Runs its head inside a phase of its own."""

        def __init__(self) -> None:
            super().__init__()
            self.body, self.head = mlp(), nn.Linear(OUT, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.body(x)
            with phase("head"):
                return self.head(y)

    model = Tagged()
    with counting(model) as counted, phase("all"):
        model(torch.randn(4, IN))
    result = counted.profile
    everything = mlp_flops(4) + linear_flops(4, OUT, 2)
    assert result.flops == everything
    assert result.phases["all"].flops == everything  # modules in a phase
    assert result.phases["head"].flops == linear_flops(4, OUT, 2)  # a phase in a module
    assert result.modules["head"].flops == linear_flops(4, OUT, 2)  # modules unchanged
    assert result.modules["body"].flops == mlp_flops(4)


def test_nested_phases_both_hold_the_inner_work_and_the_same_name_adds_no_entry():
    model = mlp()
    with counting(model) as counted:
        with phase("outer"):
            model(torch.randn(1, IN))
            with phase("inner"):
                model(torch.randn(2, IN))
                with phase("outer"):  # already open: counted once, in the open entry
                    model(torch.randn(3, IN))
    outer, inner = counted.profile.phases["outer"], counted.profile.phases["inner"]
    assert outer.entries == 1
    assert outer.flops == mlp_flops(1) + mlp_flops(2) + mlp_flops(3)
    assert inner.entries == 1
    assert inner.flops == mlp_flops(2) + mlp_flops(3)


def test_a_count_started_inside_an_open_phase_sees_it():
    model, x = mlp(), torch.randn(4, IN)
    with phase("decode"):
        result = profile(model, x)
    assert result.phases["decode"].per_entry == (totals(4),)


def test_an_inner_count_and_the_outer_one_both_see_a_phase():
    model = mlp()
    with counting(model) as outer:
        with phase("decode"):
            inner = profile(model, torch.randn(4, IN))
    assert inner.phases["decode"].flops == mlp_flops(4)
    assert outer.profile.phases["decode"].flops == mlp_flops(4)


def test_forward_and_backward_in_a_phase():
    model = mlp()
    with counting(model) as counted:
        with phase("forward"):
            loss = model(torch.randn(4, IN)).sum()
        with phase("backward"):
            loss.backward()
    result = counted.profile
    forward, backward = result.phases["forward"], result.phases["backward"]
    assert forward.forward_flops == forward.flops == result.forward_flops
    assert backward.forward_flops == 0
    assert backward.flops == result.backward_flops > 0


def test_a_phase_entered_on_another_thread_is_listed_never_a_silent_zero():
    model = mlp()

    def decode_in_a_thread() -> None:
        def step() -> None:
            with phase("decode"):
                model(torch.randn(4, IN))

        worker = threading.Thread(target=step)
        worker.start()
        worker.join()

    result = profile(decode_in_a_thread)
    assert "decode" not in result.phases  # no entry of 0 FLOPs a budget could pass on
    assert result.uncounted == {phase_on_another_thread("decode"): 1, OTHER_THREAD: 4}
    with pytest.raises(UncountedOpsError, match="decode"):
        profile(decode_in_a_thread, strict=True)


def test_the_table_shows_the_phases():
    model = mlp()

    def run() -> None:
        for batch in (1, 2):
            with phase("decode"):
                model(torch.randn(batch, IN))

    table = profile(run).table()
    header = next(line for line in table.splitlines() if line.startswith("phase"))
    assert header.split() == [
        "phase",
        "entries",
        "FLOPs",
        "mean/entry",
        "max/entry",
        "last",
        "share",
    ]
    row = next(line for line in table.splitlines() if line.startswith("decode"))
    assert row.split()[:2] == ["decode", "2"]


def test_a_phase_name_must_be_a_non_empty_string():
    with pytest.raises(TypeError, match="non-empty str"):
        with phase(""):
            pass
    with pytest.raises(TypeError, match="non-empty str"):
        with phase(3):  # type: ignore[arg-type]
            pass


def test_the_fixture_and_the_package_export_the_same_phase():
    assert pytest_flopbudget.phase is phase
    assert FlopBudgetFixture(None).phase is phase  # type: ignore[arg-type]


def test_the_markers_count_holds_the_module_work_of_a_phase_forward_and_backward():
    """The marker counts with only_modules: a phase holds the work its modules ran, the
    backward included, and not plain tensor ops outside modules."""
    model, x = mlp(), torch.randn(4, IN)
    with counting(only_modules=True) as whole, counting(model) as everything:
        with phase("forward"):
            loss = model(x).sum()  # the sum (1 per element summed) runs outside modules
        with phase("backward"):
            loss.backward()
    assert whole.profile.phases["forward"].flops == mlp_flops(4)
    assert everything.profile.phases["forward"].flops == mlp_flops(4) + 4 * OUT  # + the sum
    assert whole.profile.phases["backward"].flops == whole.profile.backward_flops > 0


def test_ops_held_for_a_module_cost_hook_keep_the_phase_they_ran_in():
    """With a module-cost hook, a module's ops are held until it returns, and added then (the
    hook declined: None): after the phase inside it has closed."""

    class Tagged(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body, self.head = mlp(), nn.Linear(OUT, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            with phase("body"):
                y = self.body(x)
            return self.head(y)

    model, x = Tagged(), torch.randn(4, IN)
    registry, _ = current()
    counter = Counter([model], "all", False, registry=registry, module_cost=lambda **_: None)
    with torch.no_grad(), counter:
        model(x)
    result = counter.result("Tagged")
    assert result.phases["body"].flops == mlp_flops(4)
    assert result.flops == mlp_flops(4) + linear_flops(4, OUT, 2)
