"""Work on another thread is listed, never a silent zero."""

from __future__ import annotations

import textwrap
import threading

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from pytest_flopbudget import UncountedOpsError, counting, profile
from pytest_flopbudget.engine.profile import OTHER_THREAD
from tests.support import linear_flops, row_of

# ---- models and their closed forms ------------------------------------------------------------

B, IN, HID, OUT = 3, 64, 128, 64  # the MLP of the issue: 49.7K FLOPs on a (3, 64) input


MLP_FLOPS = linear_flops(B, IN, HID) + B * HID + linear_flops(B, HID, OUT)  # + ReLU


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(IN, HID), nn.ReLU(), nn.Linear(HID, OUT))


# ---- torch work on another thread ----------------------------------------------------------------


def in_a_thread(model: nn.Module, x: torch.Tensor) -> None:
    worker = threading.Thread(target=model, args=(x,))
    worker.start()
    worker.join()


def test_work_on_another_thread_is_listed_never_a_silent_zero():
    model, x = mlp(), torch.randn(B, IN)
    result = profile(lambda: in_a_thread(model, x))
    assert result.flops == 0
    # the Sequential and its three children: four module calls whose work went unseen
    assert result.uncounted == {OTHER_THREAD: 4}
    assert result.unseen_thread_calls == 4
    assert result.ran_torch_work
    with pytest.raises(UncountedOpsError, match="another thread"):
        profile(lambda: in_a_thread(model, x), strict=True)


def test_work_on_the_counting_thread_still_counts_beside_a_threads_unseen_work():
    model, x = mlp(), torch.randn(B, IN)
    with counting(model) as counted:
        in_a_thread(model, x)
        model(x)
    assert counted.profile.flops == MLP_FLOPS
    assert counted.profile.modules[""].calls == 1  # the thread's call is not attributed
    assert counted.profile.uncounted == {OTHER_THREAD: 4}


def test_a_thread_that_carries_the_mode_is_counted_as_the_counting_thread():
    """A thread running with the counter's mode active (as the autograd engine's threads do)
    is seen: its work counts and nothing is listed."""
    model, x = mlp(), torch.randn(B, IN)

    def with_the_mode(counter: TorchDispatchMode) -> None:
        TorchDispatchMode.__enter__(counter)
        try:
            model(x)
        finally:
            TorchDispatchMode.__exit__(counter, None, None, None)

    with counting(model) as counted:
        (counter,) = torch.utils._python_dispatch._get_current_dispatch_mode_stack()
        worker = threading.Thread(target=with_the_mode, args=(counter,))
        worker.start()
        worker.join()
    assert counted.profile.flops == MLP_FLOPS
    assert not counted.profile.uncounted


# ---- the plugin: a forward on another thread is not a silent pass -----------------------------

THREADED_TEST = """
import threading

import pytest
import torch
from torch import nn


@pytest.mark.flop_budget(max_flops=10_000{strict})
def test_threaded():
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64))
    worker = threading.Thread(target=model, args=(torch.randn(3, 64),))
    worker.start()
    worker.join()
"""


WARNING = "*test_threaded ran 4 module call(s) on another thread: their torch work is not counted*"


def test_a_budgeted_forward_on_another_thread_warns_and_marks_a_lower_bound(inner):
    inner.makepyfile(test_x=textwrap.dedent(THREADED_TEST.format(strict="")))
    result = inner.runpytest()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines([WARNING])
    assert row_of(result, "test_x.py::test_threaded")["FLOPs"] == "≥0"
    assert row_of(result, "test_x.py::test_threaded")["status"] != "no-module-work"


def test_a_budgeted_forward_on_another_thread_fails_under_strict(inner):
    inner.makepyfile(test_x=textwrap.dedent(THREADED_TEST.format(strict=", strict=True")))
    result = inner.runpytest()
    result.assert_outcomes(failed=1, warnings=1)
    result.stdout.fnmatch_lines([f"*strict: 1 op has no cost formula: {OTHER_THREAD} (4 calls)*"])
    assert row_of(result, "test_x.py::test_threaded")["status"] == "uncounted"
