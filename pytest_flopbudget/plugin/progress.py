"""`profile_each`'s progress bar in a pytest run: pytest's own terminal writer, capture
suspended while it draws (a test's stderr is captured, so the engine's stderr bar would not
show)."""

from __future__ import annotations

import contextlib

import pytest

from pytest_flopbudget.engine.distribution import Progress, progress_text

__all__ = ["terminal_progress"]


def terminal_progress(config: pytest.Config) -> Progress | bool:
    """A `Progress` drawing on pytest's terminal when it is one, else False (no bar): not on an
    xdist worker, not with ``-q -q`` or when the output is a file."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if (
        reporter is None
        or hasattr(config, "workerinput")
        or config.get_verbosity() < -1
        or not reporter.isatty()
    ):
        return False

    started = False

    def show(done: int, total: int | None, elapsed: float, finished: bool) -> None:
        nonlocal started
        suspended = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
        with suspended:
            if not started:  # the bar gets a line of its own, redrawn in place
                reporter.ensure_newline()
                started = True
            reporter.rewrite(progress_text(done, total, elapsed), erase=True)
            # the next result starts a new line with its file's name, as after live logging
            reporter.currentfspath = -2
            reporter.flush()

    return show
