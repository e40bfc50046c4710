"""The pytest plugin: registered through the `pytest11` entry point.

pytest imports this module in every run wherever the package is installed, so it imports no
torch at module level.
"""

from __future__ import annotations

import pytest

MARKER_HELP = (
    "flop_budget(max_gflops=..., max_params=..., ...): profile this test's torch work and fail "
    "it when a limit is exceeded. Keys: max_flops, max_kflops, max_mflops, max_gflops, "
    "max_tflops, max_macs, max_gmacs, max_params, max_nonzero_params, max_sparse_flops."
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
