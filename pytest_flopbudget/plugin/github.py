"""GitHub Actions workflow commands: an error annotation on a failing test's file and line."""

from __future__ import annotations

from pytest_flopbudget.budgets.verdict import TestRow

__all__ = ["github_error"]


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """A property value: `:` and `,` too, or the runner ends the properties at the node id's
    `::` and splits them at a parameter id's `,` (as @actions/core's escapeProperty)."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_error(row: TestRow) -> str:
    """``::error file=…,line=…,title=…::message`` for a test that failed its budget."""
    path, _, line = row.location.rpartition(":")
    properties = {"file": path, "line": line, "title": f"FLOP budget ({row.nodeid})"}
    listed = ",".join(f"{key}={_escape_property(value)}" for key, value in properties.items())
    message = "\n".join(row.failure_lines)
    return f"::error {listed}::{_escape_data(message)}"
