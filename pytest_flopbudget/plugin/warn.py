"""The plugin's warnings: things to look at that fail nothing."""

from __future__ import annotations

import pytest

__all__ = ["FlopBudgetWarning", "warn"]


class FlopBudgetWarning(pytest.PytestWarning):
    """Something to look at that fails nothing: a budgeted test that measured nothing, a
    ``tests`` entry no test matched, a misspelled ``[tool.flopbudget]`` table, a corrupt cache."""


FlopBudgetWarning.__module__ = "pytest_flopbudget.plugin"  # the name users filter on


def warn(config: pytest.Config, message: str) -> None:
    """A FlopBudgetWarning in the warnings summary, from any hook (also on the xdist
    controller, which collects nothing); a usage error where filters make it an error
    (``-W error::pytest_flopbudget.plugin.FlopBudgetWarning``)."""
    try:
        config.issue_config_time_warning(FlopBudgetWarning(message), stacklevel=2)
    except FlopBudgetWarning:
        raise pytest.UsageError(f"flop budget: {message}") from None
