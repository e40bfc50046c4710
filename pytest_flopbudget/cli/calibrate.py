"""``flopbudget calibrate [--name NAME] [--device cpu|cuda] [--dtype DTYPE ...]``: measure this
machine and print the ``[tool.flopbudget.hardware.NAME]`` table to paste into pyproject.toml.

Three measurements, each a small function whose sizes and repeats are parameters:

- the peak FLOP/s: an n x n matmul (2 n^3 FLOPs, the "all" convention's count), the best of
  ``repeats`` timed runs after a warm-up;
- the bandwidth: a copy of ``nbytes`` into another buffer (``nbytes`` read + ``nbytes``
  written), the best of ``repeats``;
- the fixed cost of an op: the median over ``repeats`` batches of ``calls`` additions of two
  one-element tensors, per call.

Exit status: 0 measured, 2 a usage error (a bad argument, a built-in profile's name, no CUDA),
1 an internal error. torch is imported only when measuring.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from pytest_flopbudget.cli.arguments import BadArguments, Parser
from pytest_flopbudget.engine.hardware import (
    Hardware,
    HardwareError,
    check_profile_name,
    hardware_table,
)

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_INTERNAL_ERROR",
    "EXIT_OK",
    "calibrate",
    "copy_bytes_per_second",
    "main",
    "matmul_flops_per_second",
    "op_overhead_seconds",
    "table_text",
]

EXIT_OK = 0
EXIT_INTERNAL_ERROR = 1
EXIT_BAD_INPUT = 2

MATMUL_SIZE = {"cpu": 2048, "cuda": 8192}
COPY_MIB = {"cpu": 256, "cuda": 1024}  # well past the caches
REPEATS = 5
CALLS = 1000
MATMUL_DTYPES = ("float64", "float32", "bfloat16", "float16")


def _seconds(run: Callable[[], object], device: str) -> float:
    """Wall time of one ``run()``, the device's queue drained before the clock stops."""
    import torch

    start = time.perf_counter_ns()
    run()
    if device == "cuda":
        torch.cuda.synchronize()
    return max(time.perf_counter_ns() - start, 1) / 1e9


def _best_seconds(run: Callable[[], object], repeats: int, device: str) -> float:
    _seconds(run, device)  # warm-up: allocation, kernel selection, thread pool start
    return min(_seconds(run, device) for _ in range(repeats))


def matmul_flops_per_second(
    n: int, repeats: int = REPEATS, device: str = "cpu", dtype: str = "float32"
) -> float:
    """FLOP/s of an n x n matmul of ``dtype`` on ``device``: 2 n^3 FLOPs over the best time."""
    import torch

    kind = getattr(torch, dtype)
    a = torch.randn(n, n, device=device).to(kind)
    b = torch.randn(n, n, device=device).to(kind)
    out = torch.empty(n, n, device=device, dtype=kind)
    return 2 * n**3 / _best_seconds(lambda: torch.mm(a, b, out=out), repeats, device)


def copy_bytes_per_second(nbytes: int, repeats: int = REPEATS, device: str = "cpu") -> float:
    """Bytes/s of copying ``nbytes`` (float32) into another buffer: read plus written."""
    import torch

    source = torch.ones(max(nbytes // 4, 1), device=device)
    target = torch.empty_like(source)
    moved = 2 * source.numel() * source.element_size()
    return moved / _best_seconds(lambda: target.copy_(source), repeats, device)


def op_overhead_seconds(calls: int = CALLS, repeats: int = REPEATS, device: str = "cpu") -> float:
    """Seconds per op of a tiny op (adding two one-element tensors): the median over ``repeats``
    batches of ``calls`` additions, per call."""
    import torch

    a = torch.ones(1, device=device)
    b = torch.ones(1, device=device)

    def batch() -> None:
        for _ in range(calls):
            a + b  # the op is the measurement

    _seconds(batch, device)
    return statistics.median(_seconds(batch, device) for _ in range(repeats)) / calls


def calibrate(
    name: str,
    device: str = "cpu",
    dtypes: Sequence[str] = ("float32",),
    matmul_size: int | None = None,
    copy_bytes: int | None = None,
    repeats: int = REPEATS,
    calls: int = CALLS,
) -> Hardware:
    """The measured profile of this machine (``device``), named ``name``."""
    n = matmul_size or MATMUL_SIZE[device]
    nbytes = copy_bytes or COPY_MIB[device] * 2**20
    peaks = {d: matmul_flops_per_second(n, repeats, device, d) / 1e12 for d in dtypes}
    return Hardware(
        peak_tflops={d: _rounded(p) for d, p in peaks.items()},
        bandwidth_gbps=_rounded(copy_bytes_per_second(nbytes, repeats, device) / 1e9),
        launch_us=_rounded(op_overhead_seconds(calls, repeats, device) * 1e6),
        name=name,
    )


def _rounded(x: float) -> float:
    """Three significant figures: the measurements vary more than that from run to run."""
    return float(f"{x:.3g}")


def _where(device: str) -> str:
    import torch

    if device == "cuda":
        return f"cuda ({torch.cuda.get_device_name()})"
    return f"cpu ({platform.processor() or platform.machine()}), {torch.get_num_threads()} threads"


def table_text(hardware: Hardware, comment: str) -> str:
    """The ``[tool.flopbudget.hardware.NAME]`` table of ``hardware``, under a comment line."""
    peaks = hardware.peak_tflops
    if isinstance(peaks, Mapping):
        peaks_text = "{ " + ", ".join(f"{d} = {peak!r}" for d, peak in peaks.items()) + " }"
    else:
        peaks_text = repr(peaks)
    return "\n".join(
        [
            f"# {comment}",
            hardware_table(hardware.name),
            f"peak_tflops = {peaks_text}",
            f"bandwidth_gbps = {hardware.bandwidth_gbps!r}",
            f"launch_us = {hardware.launch_us!r}",
        ]
    )


def _count(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="flopbudget calibrate",
        description="Measure this machine's peak FLOP/s (a large matmul), memory bandwidth (a "
        "large copy) and per-op overhead (a tiny op), and print the "
        "[tool.flopbudget.hardware.NAME] table to paste into pyproject.toml.",
        epilog="Exit status: 0 measured, 2 usage error, 1 internal error.",
    )
    parser.add_argument("--name", default="local", help="the profile's name (default local)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="default cpu")
    parser.add_argument(
        "--dtype",
        action="append",
        choices=MATMUL_DTYPES,
        metavar="DTYPE",
        help="the matmul's dtype; repeat for several (default float32)",
    )
    parser.add_argument(
        "--matmul-size",
        type=_count,
        metavar="N",
        help=f"the N x N matmul (default {MATMUL_SIZE['cpu']} on cpu, "
        f"{MATMUL_SIZE['cuda']} on cuda)",
    )
    parser.add_argument(
        "--copy-mib",
        type=_count,
        metavar="MIB",
        help=f"the copied buffer (default {COPY_MIB['cpu']} on cpu, {COPY_MIB['cuda']} on cuda)",
    )
    parser.add_argument(
        "--repeats", type=_count, default=REPEATS, help=f"timed runs each (default {REPEATS})"
    )
    return parser


def _comment(args: Any) -> str:
    import torch

    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"flopbudget calibrate, {when}: {_where(args.device)}, torch {torch.__version__}; "
        f"best of {args.repeats}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``flopbudget calibrate``; returns the exit status."""
    try:
        args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
        check_profile_name(args.name, "--name")
    except SystemExit as exit_:  # --help
        return exit_.code if isinstance(exit_.code, int) else EXIT_BAD_INPUT
    except (BadArguments, HardwareError) as error:
        print(f"flopbudget calibrate: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        import torch

        if args.device == "cuda" and not torch.cuda.is_available():
            print(
                "flopbudget calibrate: error: --device cuda: CUDA is not available", file=sys.stderr
            )
            return EXIT_BAD_INPUT
        hardware = calibrate(
            args.name,
            args.device,
            args.dtype or ("float32",),
            args.matmul_size,
            args.copy_mib and args.copy_mib * 2**20,
            args.repeats,
        )
        print(table_text(hardware, _comment(args)))
    except Exception as error:
        print(f"flopbudget calibrate: internal error: {error}", file=sys.stderr)
        return EXIT_INTERNAL_ERROR
    return EXIT_OK
