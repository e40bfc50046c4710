"""GitHub Actions workflow commands: an error annotation on a failing test's file and line, a
warning annotation on a test grown past warn_on_increase."""

from __future__ import annotations

from pytest_flopbudget.budgets.verdict import TestRow

__all__ = ["github_error", "github_warning"]


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """A property value: `:` and `,` too, or the runner ends the properties at the node id's
    `::` and splits them at a parameter id's `,` (as @actions/core's escapeProperty)."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _annotation(command: str, row: TestRow, lines: list[str]) -> str:
    path, _, line = row.location.rpartition(":")
    properties = {"file": path, "line": line, "title": f"FLOP budget ({row.nodeid})"}
    listed = ",".join(f"{key}={_escape_property(value)}" for key, value in properties.items())
    return f"::{command} {listed}::{_escape_data(chr(10).join(lines))}"


def github_error(row: TestRow) -> str:
    """``::error file=…,line=…,title=…::message`` for a test that failed its budget."""
    return _annotation("error", row, row.failure_lines)


def github_warning(row: TestRow) -> str:
    """``::warning file=…,line=…,title=…::message`` for a test grown past warn_on_increase."""
    return _annotation("warning", row, row.warnings)
