"""The latency estimate against measured time: calibrate this machine, then for each model the
roofline estimate ``profile(model, x).latency(calibrated)`` and a FLOPs-only estimate (FLOPs /
the calibrated float32 peak), beside the measured median ``no_grad`` forward time.

Run:  python benchmarks/roofline.py [--rounds N] [--models N] [--source auto|zoo|builtin]
      [--threads N]
The models: torchvision's classification models of at most 4.5 published GMACs at batch 1 when
torchvision is installed (see benchmarks/zoo.py), else the built-in family in
benchmarks/models.py (``latency_cases``); ``--source`` picks one. Summary: Spearman's rank
correlation of each estimate with the measured times and its median absolute relative error.
Target: the roofline estimate ranks the models better than FLOPs alone.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.models import latency_cases
from benchmarks.stats import median_relative_error, spearman
from benchmarks.timing import interleaved_medians, machine, print_table
from pytest_flopbudget import Hardware, profile
from pytest_flopbudget.cli.calibrate import calibrate

ZOO_MAX_GMACS = 4.5  # keeps the zoo's run in minutes on 2 cores (resnet50 is 4.09)
SAMPLE_SECONDS = 0.02  # a model faster than this is timed as a loop of forwards per sample
MATMUL_SIZE = 2048  # the calibration's matmul: 17 GFLOP, long past the start-up of the threads
COPY_BYTES = 256 * 2**20  # the calibration's copy: well past the last-level cache
CALIBRATION_REPEATS = 20  # best of 20: on a shared machine, 5 can all land on a busy moment

Build = Callable[[], tuple[torch.nn.Module, tuple[torch.Tensor, ...]]]


@dataclass
class Row:
    name: str
    measured: float  # seconds, median no_grad forward
    roofline: float  # seconds
    flops_only: float  # seconds
    flops: int
    bytes_moved: int
    ops: int  # op calls the estimate charges a launch for
    shares: tuple[float, float, float]  # compute, memory, launch share of the estimate


def zoo_cases() -> dict[str, Build] | None:
    """torchvision's classification models up to ZOO_MAX_GMACS, at their crop, batch 1; None
    when torchvision is not installed."""
    from benchmarks.zoo import torchvision_cases

    cases = [
        case
        for case in torchvision_cases()
        if case.family == "classification"
        and case.reference is not None
        and case.reference.macs is not None
        and case.reference.macs <= ZOO_MAX_GMACS * 1e9
    ]
    if not cases:
        return None

    def builder(case) -> Build:
        def build() -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
            torch.manual_seed(0)
            model, args, _ = case.build()
            return model, args

        return build

    return {f"{case.name} {case.input}": builder(case) for case in cases}


def breakdown(result, hardware: Hardware) -> tuple[float, float, float, int]:
    """How the estimate splits: the time of the ops at their compute roof, of the ops at their
    memory roof, and the fixed cost per op, as shares; and the number of op calls charged."""
    compute = memory = 0.0
    calls = 0
    for op in result.roofline:  # views are not in it: they cost nothing
        at_compute = op.flops / hardware.peak_flops(op.dtype or "float32")
        at_memory = op.bytes_moved / (hardware.bandwidth_gbps * 1e9)
        if at_compute >= at_memory:
            compute += op.calls * at_compute
        else:
            memory += op.calls * at_memory
        calls += op.calls
    launch = calls * hardware.launch_us * 1e-6
    total = compute + memory + launch or 1.0
    return compute / total, memory / total, launch / total, calls


def loop_of(model: torch.nn.Module, args: tuple[torch.Tensor, ...], times: int):
    def run() -> None:
        with torch.no_grad():
            for _ in range(times):
                model(*args)

    return run


def repeats_for(run_once: Callable[[], None]) -> int:
    """Forwards per timed sample, so that a sample lasts about SAMPLE_SECONDS."""
    run_once()
    start = time.perf_counter()
    run_once()
    once = time.perf_counter() - start
    return max(1, math.ceil(SAMPLE_SECONDS / max(once, 1e-7)))


def measure(cases: dict[str, Build], hardware: Hardware, rounds: int) -> list[Row]:
    estimates, loops, repeats = {}, {}, {}
    peak = hardware.peak_flops("float32")
    for name, build in cases.items():
        model, args = build()
        result = profile(model, *args)
        *shares, calls = breakdown(result, hardware)
        estimates[name] = (result, tuple(shares), calls)
        repeats[name] = repeats_for(loop_of(model, args, 1))
        loops[name] = loop_of(model, args, repeats[name])
        print(f"  built and counted {name} ({repeats[name]} forwards a sample)", file=sys.stderr)
    medians = interleaved_medians(loops, rounds)
    rows = []
    for name, (result, shares, calls) in estimates.items():
        rows.append(
            Row(
                name=name,
                measured=medians[name] / repeats[name],
                roofline=result.latency(hardware),
                flops_only=result.flops / peak,
                flops=result.flops,
                bytes_moved=result.bytes_moved,
                ops=calls,
                shares=shares,
            )
        )
    return rows


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g}"


def _ratio(estimate: float, measured: float) -> str:
    return f"{estimate / measured:.2f}"


def report(rows: list[Row]) -> None:
    rows = sorted(rows, key=lambda r: r.measured)
    print_table(
        "Estimates against the measured median no_grad forward (sorted by measured time)",
        (
            "model",
            "measured ms",
            "roofline ms",
            "ratio",
            "FLOPs-only ms",
            "ratio",
            "GFLOP",
            "MB moved",
            "ops",
            "compute/memory/launch %",
        ),
        [
            (
                r.name,
                _ms(r.measured),
                _ms(r.roofline),
                _ratio(r.roofline, r.measured),
                _ms(r.flops_only),
                _ratio(r.flops_only, r.measured),
                f"{r.flops / 1e9:.3g}",
                f"{r.bytes_moved / 1e6:.3g}",
                r.ops,
                "/".join(f"{share * 100:.0f}" for share in r.shares),
            )
            for r in rows
        ],
    )
    measured = [r.measured for r in rows]
    roofline = [r.roofline for r in rows]
    flops_only = [r.flops_only for r in rows]
    rho_roofline, rho_flops = spearman(roofline, measured), spearman(flops_only, measured)
    print(
        f"\n{len(rows)} models. Spearman rank correlation with the measured times: "
        f"roofline {rho_roofline:.3f}, FLOPs-only {rho_flops:.3f}."
    )
    print(
        "Median absolute relative error: "
        f"roofline {median_relative_error(roofline, measured) * 100:.0f}%, "
        f"FLOPs-only {median_relative_error(flops_only, measured) * 100:.0f}%."
    )
    better = rho_roofline > rho_flops
    verdict = "yes" if better else ("no (equal)" if rho_roofline == rho_flops else "NO")
    print(f"The roofline estimate ranks the models better than FLOPs alone: {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (default 15)")
    parser.add_argument("--models", type=int, help="only the first N models (default all)")
    parser.add_argument(
        "--source",
        choices=("auto", "zoo", "builtin"),
        default="auto",
        help="the torchvision zoo where installed (auto, the default), or the built-in family",
    )
    parser.add_argument(
        "--threads", type=int, help="torch's intra-op threads, for calibration and models alike"
    )
    options = parser.parse_args(argv)
    if options.threads is not None:
        torch.set_num_threads(options.threads)
    if options.rounds < 1 or (options.models is not None and options.models < 2):
        parser.error("--rounds must be at least 1 and --models at least 2")

    cases = None if options.source == "builtin" else zoo_cases()
    if cases is None:
        if options.source == "zoo":
            parser.error("--source zoo: torchvision is not installed")
        cases = latency_cases()
    cases = dict(list(cases.items())[: options.models])

    start = time.perf_counter()
    hardware = calibrate(
        "this-machine",
        "cpu",
        ("float32",),
        matmul_size=MATMUL_SIZE,
        copy_bytes=COPY_BYTES,
        repeats=CALIBRATION_REPEATS,
    )
    print(
        f"{machine()}; calibrated: float32 peak {hardware.peak_tflops['float32'] * 1e3:.3g} "
        f"GFLOP/s ({MATMUL_SIZE}×{MATMUL_SIZE} matmul), bandwidth {hardware.bandwidth_gbps:.3g} "
        f"GB/s ({COPY_BYTES // 2**20} MiB copy; best of {CALIBRATION_REPEATS} each), "
        f"{hardware.launch_us:.3g} µs per op; "
        f"{len(cases)} models, {options.rounds} interleaved rounds, medians"
    )
    load_before = os.getloadavg()[0]
    rows = measure(cases, hardware, options.rounds)
    report(rows)
    print(
        f"({time.perf_counter() - start:.0f} s; load average {load_before:.1f} before measuring, "
        f"{os.getloadavg()[0]:.1f} after; this run adds about its thread count)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
