"""The peers on the same models in the same run: time, and the MACs each reports next to ours
and the closed-form truth.

Run: python benchmarks/peers.py [--rounds N]   (peers from `pip install -e ".[bench]"`;
a peer that is not installed is listed as such)

Conventions: torch.utils.flop_counter reports 2 FLOPs per MAC (halved here); fvcore, ptflops
and thop report MACs (fvcore calls them "flops").
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import inspect
import io
import os
import sys
import warnings

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.models import cases
from benchmarks.timing import interleaved_medians, machine, print_table
from pytest_flopbudget import profile


def encoder_layer_case() -> tuple[nn.Module, torch.Tensor, int]:
    """nn.TransformerEncoderLayer(256, 8) in eval + no_grad: PyTorch's fused fast path."""
    seq, dim, ffn = 128, 256, 2048
    macs = seq * dim * 3 * dim + 2 * seq * seq * dim + seq * dim * dim + 2 * seq * dim * ffn
    layer = nn.TransformerEncoderLayer(dim, 8, batch_first=True).eval()
    return layer, torch.randn(1, seq, dim), macs


def ours(model, x):
    return profile(model, x).macs


def torch_counter(model, x):
    with torch.no_grad(), torch.utils.flop_counter.FlopCounterMode(display=False) as mode:
        model(x)
    return mode.get_total_flops() // 2


def fvcore_counter(model, x):
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    with torch.no_grad():
        return int(analysis.total())


def ptflops_counter(backend):
    def count(model, x):
        from ptflops import get_model_complexity_info

        name = next(iter(inspect.signature(model.forward).parameters))
        with contextlib.redirect_stdout(io.StringIO()):  # it prints batch-size guesses
            macs, _ = get_model_complexity_info(
                model,
                tuple(x.shape[1:]),
                as_strings=False,
                print_per_layer_stat=False,
                input_constructor=lambda _: {name: x},
                backend=backend,
                verbose=False,
            )
        return int(macs)

    return count


def thop_counter(model, x):
    import thop

    macs, _ = thop.profile(copy.deepcopy(model), inputs=(x,), verbose=False)
    return int(macs)


PEERS = {
    "pytest_flopbudget": (None, ours),
    "torch.utils.flop_counter": (None, torch_counter),
    "fvcore": ("fvcore", fvcore_counter),
    "ptflops (aten)": ("ptflops", ptflops_counter("aten")),
    "ptflops (pytorch hooks)": ("ptflops", ptflops_counter("pytorch")),
    "thop": ("thop", thop_counter),
}


def installed(module: str | None) -> bool:
    if module is None:
        return True
    try:
        __import__(module)
    except Exception:
        return False
    return True


def verdict(reported: int | None, truth: int) -> str:
    if reported is None:
        return "failed"
    if reported == truth:
        return "exact"
    return f"{100 * (reported / truth - 1):+.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    models = dict(cases())
    models["TransformerEncoderLayer fast path"] = encoder_layer_case()
    print(f"{machine()}; {rounds} interleaved rounds, medians")
    for model_name, (model, x, truth) in models.items():
        available = {n: f for n, (m, f) in PEERS.items() if installed(m)}
        reported: dict[str, int | None] = {}
        runners = {}
        for name, count in available.items():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    reported[name] = count(model, x)
                runners[name] = lambda count=count, model=model, x=x: count(model, x)
            except Exception as error:  # a peer that cannot count this model
                reported[name] = None
                print(f"  {name} failed on {model_name}: {type(error).__name__}: {error}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            times = interleaved_medians(runners, rounds, warmup=1)
        rows = [
            (
                name,
                f"{times[name] * 1e3:.1f} ms" if name in times else "-",
                f"{reported[name]:,}" if reported[name] is not None else "-",
                verdict(reported[name], truth),
            )
            for name in available
        ]
        rows += [(n, "not installed", "-", "-") for n in PEERS if n not in available]
        print_table(
            f"{model_name}: closed form {truth:,} MACs",
            ("counter", "time", "MACs reported", "vs closed form"),
            rows,
        )


if __name__ == "__main__":
    main()
