"""Profiling overhead: pytest_flopbudget.profile(model, x) against a plain no_grad forward.

Run: python benchmarks/overhead.py [--rounds N]
Target: profile() at most 1.15x the plain forward, and counting bytes moved at most 5% of
profile()'s time (profile() against the same count with the bytes switched off, side by side).
The closed-form check is printed beside every time: speed must not cost exactness.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.models import cases
from benchmarks.timing import interleaved_medians, machine, print_table
from pytest_flopbudget import profile
from pytest_flopbudget.engine.counter import Counter

TARGET = 1.15
BYTES_TARGET = 1.05


def _no_bytes(*_: object) -> int:
    return 0


def without_bytes(run):
    """`run` with the counter's bytes-moved accounting switched off: what counting bytes costs."""

    def call():
        kept = Counter.__dict__["bytes_moved"]
        Counter.bytes_moved = staticmethod(_no_bytes)
        try:
            return run()
        finally:
            Counter.bytes_moved = kept

    return call


class EmptyMode(TorchDispatchMode):
    """A dispatch mode that only runs each op: the floor any dispatch-based counter pays."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    rows = []
    for name, (model, x, macs) in cases().items():

        def plain(model=model, x=x):
            with torch.no_grad():
                return model(x)

        def counted(model=model, x=x):
            return profile(model, x)

        def empty_mode(model=model, x=x):
            with torch.no_grad(), EmptyMode():
                return model(x)

        def weight_scan(model=model):
            return [torch.count_nonzero(p) for p in model.parameters()]

        times = interleaved_medians(
            {
                "plain": plain,
                "profile": counted,
                "no bytes": without_bytes(counted),
                "mode": empty_mode,
                "scan": weight_scan,
            },
            rounds,
        )
        result = profile(model, x)
        ratio = times["profile"] / times["plain"]
        bytes_ratio = times["profile"] / times["no bytes"]
        rows.append(
            (
                name,
                f"{times['plain'] * 1e3:.1f} ms",
                f"{times['profile'] * 1e3:.1f} ms",
                f"{ratio:.2f}x",
                "yes" if ratio <= TARGET else "NO",
                f"{bytes_ratio:.3f}x {'yes' if bytes_ratio <= BYTES_TARGET else 'NO'}",
                f"{(times['mode'] - times['plain']) * 1e3:+.1f} ms",
                f"{times['scan'] * 1e3:.1f} ms",
                "exact" if result.macs == macs else f"WRONG (truth {macs:,})",
            )
        )
    print(f"{machine()}; {rounds} interleaved rounds, medians")
    print_table(
        f"profile() against a plain forward (target <= {TARGET}x)",
        (
            "model",
            "plain",
            "profile",
            "ratio",
            "target",
            f"bytes cost (<= {BYTES_TARGET}x)",
            "empty mode",
            "weight scan",
            "MACs",
        ),
        rows,
    )
    print(
        "empty mode: the forward under a TorchDispatchMode that does nothing, minus the plain "
        "forward (torch's own cost of seeing every op).\nbytes cost: profile() over the same "
        "count with the bytes-moved accounting switched off.\nweight scan: one count_nonzero over "
        "every parameter, the read that exact nonzero_params and sparse counts need."
    )


if __name__ == "__main__":
    main()
