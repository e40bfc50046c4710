"""Count a 7B-parameter Llama-shaped model on the meta device: time, peak memory, exactness.

Run: python benchmarks/meta_scale.py   (prints one table; medians of several rounds)
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from pytest_flopbudget import profile
from tests.models import Llama

VOCAB, DIM, LAYERS, HEADS, HIDDEN, SEQ = 32_000, 4096, 32, 32, 11_008, 2048
ROUNDS = 5


def closed_form_macs() -> int:
    per_layer = 4 * SEQ * DIM * DIM + 3 * SEQ * DIM * HIDDEN + 2 * SEQ * SEQ * DIM
    return LAYERS * per_layer + SEQ * DIM * VOCAB


def main() -> None:
    with torch.device("meta"):
        model = Llama(VOCAB, DIM, LAYERS, HEADS, HIDDEN)
        tokens = torch.zeros(1, SEQ, dtype=torch.long)
    ours, theirs = [], []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        result = profile(model, tokens)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        with torch.utils.flop_counter.FlopCounterMode(display=False) as reference:
            model(tokens)
        theirs.append(time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t_ours, t_theirs = statistics.median(ours), statistics.median(theirs)
    print(f"cores: {os.cpu_count()}, torch {torch.__version__}, {ROUNDS} rounds (medians)")
    print(f"params: {result.params / 1e9:.2f}B")
    print(f"{'counter':<28} {'time':>8} {'MACs':>16} {'exact':>6}")
    print(
        f"{'pytest_flopbudget.profile':<28} {t_ours:>7.3f}s {result.macs:>16} "
        f"{result.macs == closed_form_macs()!s:>6}"
    )
    print(
        f"{'torch FlopCounterMode':<28} {t_theirs:>7.3f}s {reference.get_total_flops() // 2:>16} "
        f"{reference.get_total_flops() // 2 == closed_form_macs()!s:>6}"
    )
    print(f"time ratio ours / torch: {t_ours / t_theirs:.2f}x (target < 2x)")
    print(f"peak RSS of this process: {peak_mb:.0f} MB (target < 1024 MB)")


if __name__ == "__main__":
    main()
