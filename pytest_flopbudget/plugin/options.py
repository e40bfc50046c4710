"""The command-line options of the plugin and what they say, read once at start-up."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_flopbudget.budgets.values import BudgetError, parse_depth, parse_percent
from pytest_flopbudget.reporting.formats import ReportTargetError, parse_targets, targets_help
from pytest_flopbudget.text import empty_path

__all__ = ["Options", "add_options", "read_options"]


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("flopbudget", "compute budgets for PyTorch models")
    group.addoption(
        "--flop-report",
        action="append",
        nargs="?",
        const="term",
        default=[],
        metavar="TYPE",
        help=targets_help().replace("%", "%%"),
    )
    group.addoption(
        "--flop-report-depth",
        type=_report_depth,
        default=2,
        metavar="N",
        help="module levels below the model in --flop-report's tree (default 2)",
    )
    group.addoption(
        "--flop-baseline",
        metavar="PATH",
        help="a JSON report of an earlier run (the main branch's): deltas are shown against it "
        "instead of the last run",
    )
    group.addoption(
        "--flop-history",
        metavar="PATH",
        help="append one JSON line per run to PATH (commit, date, versions, each budgeted "
        "test's totals); the HTML report draws each test's FLOPs over it, `flopbudget history "
        "PATH` prints the trend",
    )
    group.addoption(
        "--flop-hardware",
        metavar="NAME",
        help="estimate each budgeted test's latency on the device NAME (built-in: h100, a100, "
        "l4, t4, rtx4090, jetson-agx-orin, rpi5; or a [tool.flopbudget.hardware.NAME] table) "
        "where its marker or tests entry names none; overrides hardware in [tool.flopbudget]",
    )
    group.addoption(
        "--flop-fail-on-increase",
        metavar="PCT",
        help="fail a budgeted test whose FLOPs or params grew by more than PCT (5 or 5%%) over "
        "the baseline (or the last run); overrides fail_on_increase in pyproject.toml",
    )
    group.addoption(
        "--flop-warn-on-increase",
        metavar="PCT",
        help="warn (status warn:flops, never a failure) for a budgeted test whose FLOPs or "
        "params grew by more than PCT over the baseline (or the last run) but within "
        "fail_on_increase and its limits; overrides warn_on_increase at the top level of "
        "pyproject.toml (a marker or tests entry setting it wins)",
    )
    group.addoption(
        "--flop-budget-update",
        action="store_true",
        default=False,
        help="write the measured values, plus update_headroom (default 0%%), into pyproject.toml "
        "as budgets at the end of the run (budget overruns do not fail the run; each written "
        "test's status says updated); tests that failed for their own reason are left out",
    )
    group.addoption(
        "--flop-budget-update-failed",
        action="store_true",
        default=False,
        help="as --flop-budget-update, and write the measured values of tests that failed for "
        "their own reason too (what ran before the failure)",
    )
    group.addoption(
        "--flop-budget-disable",
        action="store_true",
        default=False,
        help="measure and report budgeted tests, but fail none of them for their budget",
    )
    group.addoption(
        "--flop-strict",
        action="store_true",
        default=False,
        help="fail every budgeted test that ran ops with no cost formula (their FLOPs would be "
        "a lower bound), as strict = true in pyproject.toml does",
    )


def _report_depth(text: str) -> int:
    """--flop-report-depth's value: ASCII digits, 0 to 64 (argparse makes an error of it a
    usage error)."""
    try:
        return parse_depth(text, "--flop-report-depth", "the command line")
    except BudgetError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


@dataclass(frozen=True)
class Options:
    """The plugin's command line, validated."""

    disabled: bool = False
    updating: bool = False
    update_failed: bool = False  # the update writes failed tests' values too
    strict: bool = False
    terminal_report: bool = False
    report_files: list[tuple[str, Path]] = field(default_factory=list)
    depth: int = 2
    fail_on_increase: float | None = None  # None: the command line does not set it
    warn_on_increase: float | None = None  # likewise
    baseline: str = ""
    hardware: str | None = None  # --flop-hardware: the run's device, checked by the session
    history: Path | None = None  # --flop-history, relative to where pytest was invoked


def read_options(config: pytest.Config) -> Options:
    """The options of this run; a bad value is a usage error (report paths that cannot be
    written are refused at start-up, on the controller, not after the whole run)."""
    try:
        terminal, files = parse_targets(config.getoption("flop_report"))
    except ReportTargetError as error:
        raise pytest.UsageError(str(error)) from None
    if not hasattr(config, "workerinput"):
        for _, path in files:
            _check_report_path(report_path(config, path))
    fail_on_increase = _percent_option(config, "--flop-fail-on-increase")
    warn_on_increase = _percent_option(config, "--flop-warn-on-increase")
    baseline = config.getoption("flop_baseline")
    if baseline is not None and not baseline.strip():  # --flop-baseline="$BASE", BASE unset
        raise pytest.UsageError(
            f"{empty_path('the path of --flop-baseline')}; without a baseline, leave the option "
            "out (the run compares with the last run)"
        )
    history = config.getoption("flop_history")
    if history is not None and not history.strip():  # --flop-history="$FILE", FILE unset
        raise pytest.UsageError(
            f"{empty_path('the path of --flop-history')}; without a history file, leave the "
            "option out"
        )
    history_path = report_path(config, Path(history)) if history is not None else None
    if history_path is not None and not hasattr(config, "workerinput"):
        problem = _report_path_problem(history_path)
        if problem is not None:
            raise pytest.UsageError(f"--flop-history: cannot append to {history_path}: {problem}")
    return Options(
        disabled=bool(config.getoption("flop_budget_disable")),
        updating=bool(
            config.getoption("flop_budget_update") or config.getoption("flop_budget_update_failed")
        ),
        update_failed=bool(config.getoption("flop_budget_update_failed")),
        strict=bool(config.getoption("flop_strict")),
        terminal_report=terminal,
        report_files=files,
        depth=config.getoption("flop_report_depth"),
        fail_on_increase=fail_on_increase,
        warn_on_increase=warn_on_increase,
        baseline=baseline or "",
        hardware=config.getoption("flop_hardware"),
        history=history_path,
    )


def _percent_option(config: pytest.Config, name: str) -> float | None:
    """A percentage option's value as a fraction (None when not given); a bad one is a usage
    error."""
    option = config.getoption(name.lstrip("-").replace("-", "_"))
    if option is None:
        return None
    try:
        return parse_percent(option, name, "the command line")
    except BudgetError as error:
        raise pytest.UsageError(str(error)) from None


def report_path(config: pytest.Config, path: Path) -> Path:
    """A report path relative to where pytest was invoked."""
    return path if path.is_absolute() else config.invocation_params.dir / path


def _report_path_problem(path: Path) -> str | None:
    """Why a report could not be written to `path` (checked at start-up), or None."""
    try:
        if path.is_dir():
            return "it is a directory"
        if path.exists():
            return None if os.access(path, os.W_OK) else "it is not writable"
        existing = path.parent
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            return f"{existing} is not a directory"
        if not os.access(existing, os.W_OK | os.X_OK):
            return f"the directory {existing} is not writable"
    except OSError as error:  # a name too long, a loop of symlinks
        return error.strerror or str(error)
    return None


def _check_report_path(path: Path) -> None:
    problem = _report_path_problem(path)
    if problem is not None:
        raise pytest.UsageError(f"--flop-report: cannot write a report to {path}: {problem}")


def full_run(config: pytest.Config) -> bool:
    """Whether the run collected everything (no paths, -k, -m or --lf narrowed it)."""
    option = config.option
    narrowed = bool(
        getattr(option, "keyword", "")
        or getattr(option, "markexpr", "")
        or getattr(option, "lf", False)
        or getattr(option, "deselect", None)
    )
    return not narrowed and config.args_source != pytest.Config.ArgsSource.ARGS
