"""The plugin's warnings: things to look at that fail nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = ["FlopBudgetWarning", "warn"]


class FlopBudgetWarning(pytest.PytestWarning):
    """Something to look at that fails nothing: a budgeted test that measured nothing, a
    ``tests`` entry no test matched, a misspelled ``[tool.flopbudget]`` table, a corrupt cache."""


FlopBudgetWarning.__module__ = "pytest_flopbudget.plugin"  # the name users filter on


def warn(config: pytest.Config, message: str, where: tuple[Path, int] | None = None) -> None:
    """A FlopBudgetWarning in the warnings summary, from any hook (also on the xdist
    controller, which collects nothing); a usage error where filters make it an error
    (``-W error::pytest_flopbudget.plugin.FlopBudgetWarning``).

    ``where`` (a file and a 1-based line) is the warning's location, such as the pyproject.toml
    line at fault; else it is the caller's line."""
    warning = FlopBudgetWarning(message)
    try:
        if where is None:
            config.issue_config_time_warning(warning, stacklevel=2)
        else:
            # pytest takes a config-time warning's location from the frame that issues it: issue
            # it from a line compiled as line `line` of `path`, so the user sees that place
            path, line = where
            issue = compile("\n" * (line - 1) + "issue(warning, stacklevel=2)", str(path), "exec")
            exec(issue, {"issue": config.issue_config_time_warning, "warning": warning})
    except FlopBudgetWarning:
        place = "" if where is None else f"{where[0]}:{where[1]}: "
        raise pytest.UsageError(f"flop budget: {place}{message}") from None
