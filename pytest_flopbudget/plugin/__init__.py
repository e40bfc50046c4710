"""The pytest plugin: registered through the `pytest11` entry point.

pytest imports this module in every run wherever the package is installed, so nothing here
imports torch at module level: the counter is imported when a budgeted test actually runs.

Flow: budgets are read and validated at start-up (`[tool.flopbudget]`) and at collection (marker
arguments); a budgeted test's call phase runs under the counter and is judged by the pure
`budgets.verdict`; its row travels on the call report; the controller writes the reports, the
update and the cache, and prints the summary. The hooks here are thin: the work is in
`session` (collection, the call phase), `outputs` (the session's end), `options`, `earlier`
(the baseline or last run) and `fixture`.
"""

from __future__ import annotations

import pytest

from pytest_flopbudget.budgets.config import (
    ENTRY_KEYS,
    ConfigError,
    find_pyproject,
    load_config,
    misspelled_tables,
)
from pytest_flopbudget.plugin.fixture import BUDGET_KEY, FlopBudgetFixture
from pytest_flopbudget.plugin.options import add_options
from pytest_flopbudget.plugin.session import FlopBudgetSession
from pytest_flopbudget.plugin.warn import FlopBudgetWarning, warn

__all__ = ["MARKER_HELP", "FlopBudgetFixture", "FlopBudgetWarning", "flop_budget"]

MARKER_HELP = (
    "flop_budget(max_gflops=..., max_params=..., tolerance=..., strict=..., modules=...): count "
    "the torch work of this test's call phase and fail it when a limit is exceeded (with "
    "strict=True, also when it ran ops with no cost formula). Keys: "
    f"{', '.join(k for k in ENTRY_KEYS if k != 'modules')}, and modules={{'backbone': "
    "{'max_gflops': 3}} (per-module FLOP, MAC and params limits)."
)


@pytest.fixture
def flop_budget(request: pytest.FixtureRequest) -> FlopBudgetFixture:
    """Profile models explicitly and see the resolved budget (`flop_budget.budget`)."""
    return FlopBudgetFixture(request.node.stash[BUDGET_KEY], request.node)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_flopbudget.engine import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    pyproject = find_pyproject(config.rootpath, config.inipath)
    try:
        settings = load_config(pyproject)
    except ConfigError as error:
        raise pytest.UsageError(str(error)) from None
    session = FlopBudgetSession(config, settings, pyproject or config.rootpath / "pyproject.toml")
    config.pluginmanager.register(session, "flopbudget-session")
    if not hasattr(config, "workerinput"):  # the controller warns, once
        for table in misspelled_tables(pyproject):
            warn(
                config,
                f"{pyproject}: [tool.{table}] is not read by pytest-flopbudget; "
                "did you mean [tool.flopbudget]?",
            )
