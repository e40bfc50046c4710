"""`profile_each`'s progress bar in a pytest run: pytest's own terminal writer, capture
suspended while it draws (a test's stderr is captured, so the engine's stderr bar would not
show)."""

from __future__ import annotations

import contextlib

import pytest

from pytest_flopbudget.engine.distribution import Progress, progress_text

__all__ = ["terminal_progress"]


def terminal_progress(node: pytest.Item) -> Progress | bool:
    """A `Progress` drawing on pytest's terminal when it is one, else False (no bar): not on an
    xdist worker, not with ``-qq`` or when the output is a file. The bar has a line of its own,
    redrawn in place; when it ends, the test's line starts again after it."""
    config = node.config
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
            if not started:
                reporter.ensure_newline()
                started = True
            reporter.rewrite(progress_text(done, total, elapsed))
            if finished:  # what pytest writes next starts a new line
                if reporter.verbosity <= 0:  # the result letter follows its file's name again
                    reporter.currentfspath = None
                    reporter.write_fspath_result(node.nodeid, "")
                else:  # the result line repeats its test's id
                    reporter.currentfspath = -2
            reporter.flush()

    return show
