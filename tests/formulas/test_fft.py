"""FFTs and STFTs."""

from __future__ import annotations

from math import floor, log2

import torch

from pytest_flopbudget import profile
from tests.formulas.helpers import op_flops

# ---- FFT ---------------------------------------------------------------------------------------


def nearest(value: float) -> int:
    return floor(value + 0.5)


def test_real_fft_is_two_and_a_half_n_log2_n():
    assert profile(torch.fft.rfft, torch.randn(16)).flops == 2.5 * 16 * 4


def test_batched_multidimensional_complex_fft_with_normalization():
    """3 signals of 8×6 complex values: 5·N·log₂(48), N = 144, rounded; ortho scales each
    complex output element: 2 real products."""
    signal = torch.randn(3, 8, 6, dtype=torch.complex64)
    result = profile(lambda s: torch.fft.fftn(s, dim=(1, 2), norm="ortho"), signal)
    assert result.flops == nearest(5 * 144 * log2(48)) + 2 * 144


def test_inverse_real_fft_counts_its_real_output_and_the_one_over_n():
    result = profile(lambda s: torch.fft.irfft(s, n=8), torch.randn(3, 5, dtype=torch.complex64))
    assert result.flops == 2.5 * (3 * 8) * 3 + 3 * 8


def test_stft_and_istft_are_counted_whole():
    signal, window = torch.randn(2, 400), torch.hann_window(64)
    spectrum = torch.stft(signal, 64, window=window, return_complex=True)  # 2 × 33 bins × 26
    forward = profile(lambda s: torch.stft(s, 64, window=window, return_complex=True), signal)
    assert op_flops(forward, "aten._fft_r2c") == 2.5 * (2 * 26 * 64) * 6
    inverse = profile(lambda s: torch.istft(s, 64, window=window), spectrum)
    assert op_flops(inverse, "aten._fft_c2r") == 2.5 * (2 * 26 * 64) * 6 + 2 * 26 * 64
    # overlap-add of the frames (and of the squared window): 1 per frame element
    assert op_flops(inverse, "aten.unfold_backward") == 2 * 26 * 64 + 26 * 64
    assert forward.uncounted == {} and inverse.uncounted == {}
