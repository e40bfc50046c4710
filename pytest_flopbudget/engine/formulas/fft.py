"""Fast Fourier transforms: _fft_r2c, _fft_c2r and _fft_c2c (every torch.fft function runs one).

All of it is `other_flops` (no MACs): it counts under the "all" convention (FLOPs =
``2 * macs + other_flops``) and not under "matmul". An FFT costs 5·N·log₂(M) real FLOPs for
complex data and 2.5·N·log₂(M) for a real input or output (N the signal's elements, M the
product of the transformed lengths); a normalization adds 1 per real output value.
"""

from __future__ import annotations

from collections.abc import Callable
from math import floor, log2, prod

from pytest_flopbudget.engine.cost import Cost
from pytest_flopbudget.engine.formulas._table import _shape, register


def fft_flops(elements: int, transform_size: int, real: bool) -> int:
    """An FFT: 5·N·log₂(M) real FLOPs for complex data (2.5·N·log₂(M) for a real input or
    output), N the signal's elements (all batches), M the product of the transformed lengths,
    rounded to the nearest integer (halves up). A multi-dimensional FFT is one FFT per
    dimension: Σ_d (N/n_d)·5·n_d·log₂(n_d) = 5·N·log₂(M)."""
    if transform_size <= 1:
        return 0
    factor = 2.5 if real else 5.0
    return floor(factor * elements * log2(transform_size) + 0.5)


def _fft(real_input: bool, real_output: bool) -> Callable[..., Cost]:
    """_fft_r2c(self, dim, normalization, onesided), _fft_c2r(self, dim, normalization,
    last_dim_size), _fft_c2c(self, dim, normalization, forward). A normalization (1/√n or 1/n)
    adds 1 per real output value: 2 per complex output element."""

    def cost(args, kwargs, out) -> Cost:
        signal = out if real_output else args[0]
        dims = [args[1]] if isinstance(args[1], int) else list(args[1])
        size = prod(_shape(signal)[d] for d in dims)
        flops = fft_flops(signal.numel(), size, real_input or real_output)
        if args[2]:
            flops += out.numel() * (1 if real_output else 2)
        return Cost(other_flops=flops)

    return cost


# FFT: 5·N·log₂(M) (complex), 2.5·N·log₂(M) (real input or output)
register("_fft_r2c", _fft(real_input=True, real_output=False))
register("_fft_c2r", _fft(real_input=False, real_output=True))
register("_fft_c2c", _fft(real_input=False, real_output=False))
