"""Profiling overhead: pytest_flopbudget.profile(model, x) against a plain no_grad forward.

Run: python benchmarks/overhead.py [--rounds N]
Target: profile() at most 1.15x the plain forward. The closed-form check is printed beside
every time: speed must not cost exactness.
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

TARGET = 1.15


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
            {"plain": plain, "profile": counted, "mode": empty_mode, "scan": weight_scan}, rounds
        )
        result = profile(model, x)
        ratio = times["profile"] / times["plain"]
        rows.append(
            (
                name,
                f"{times['plain'] * 1e3:.1f} ms",
                f"{times['profile'] * 1e3:.1f} ms",
                f"{ratio:.2f}x",
                "yes" if ratio <= TARGET else "NO",
                f"{(times['mode'] - times['plain']) * 1e3:+.1f} ms",
                f"{times['scan'] * 1e3:.1f} ms",
                "exact" if result.macs == macs else f"WRONG (truth {macs:,})",
            )
        )
    print(f"{machine()}; {rounds} interleaved rounds, medians")
    print_table(
        f"profile() against a plain forward (target <= {TARGET}x)",
        ("model", "plain", "profile", "ratio", "target", "empty mode", "weight scan", "MACs"),
        rows,
    )
    print(
        "empty mode: the forward under a TorchDispatchMode that does nothing, minus the plain "
        "forward (torch's own cost of seeing every op).\nweight scan: one count_nonzero over "
        "every parameter, the read that exact nonzero_params and sparse counts need."
    )


if __name__ == "__main__":
    main()
