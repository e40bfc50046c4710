"""Shared fixtures: every model is built (and seeded) in set-up, so a test's call phase, the
part the plugin counts, runs only the work the test itself does."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
