"""Fixtures shared by every suite. The helpers they build on, and the inner projects' model
classes, are plain functions and strings in tests/support.py."""

from __future__ import annotations

import pytest

# torch and the counter (which the plugin imports lazily) are imported here, once for every
# suite: pytester's in-process runs drop the modules a run imported, and torch cannot be imported
# twice in a process.
import pytest_flopbudget.engine.counter  # noqa: F401
import tests.custom_ops  # noqa: F401  (registers the fbtest ops the inner runs call, once)
from tests.support import isolate_inner_runs


@pytest.fixture(autouse=True)
def _isolated_inner_runs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test that uses `pytester` (directly or through a fixture) runs its inner runs
    isolated: see isolate_inner_runs. pytester is set up first, since it clears PYTEST_ADDOPTS."""
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")
        isolate_inner_runs(monkeypatch)


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester for a suite that writes its own inner project (isolated, as every pytester)."""
    return pytester
