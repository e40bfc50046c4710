"""``--flop-report=FORMAT:PATH``: what a value with an empty path says."""

from __future__ import annotations

import pytest

from pytest_flopbudget.reporting.formats import FORMATS, ReportTargetError, parse_targets
from tests.support import usage_error

UNSET = "is empty: an environment variable in it is probably unset"


@pytest.mark.parametrize("name", [name for name, f in FORMATS.items() if f.render is not None])
def test_a_file_format_with_an_empty_path_says_a_variable_is_probably_unset(name):
    """``--flop-report=markdown:"$GITHUB_STEP_SUMMARY"`` run locally gives ``markdown:``."""
    for value in (f"{name}:", f"{name}: "):
        with pytest.raises(ReportTargetError) as error:
            parse_targets([value])
        message = str(error.value)
        assert message.startswith(f"the path of --flop-report={value} {UNSET}")
        assert message.endswith(f"; write {name}:PATH")
        step_summary = "$GITHUB_STEP_SUMMARY is set only in a GitHub Actions job" in message
        assert step_summary == FORMATS[name].appends_to_step_summary


def test_the_run_stops_with_that_usage_error(pytester):
    pytester.makepyfile("def test_a():\n    pass\n")
    stderr = usage_error(pytester.runpytest("--flop-report=markdown:"))
    assert f"the path of --flop-report=markdown: {UNSET} ($GITHUB_STEP_SUMMARY" in stderr


@pytest.mark.parametrize("value", ["", " "])
def test_an_empty_baseline_path_is_a_usage_error_not_a_silent_last_run(pytester, value):
    """``--flop-baseline="$BASE"`` with BASE unset compared with the last run without a word."""
    pytester.makepyfile("def test_a():\n    pass\n")
    stderr = usage_error(pytester.runpytest(f"--flop-baseline={value}"))
    assert f"the path of --flop-baseline {UNSET}; without a baseline, leave the option out" in (
        stderr
    )
