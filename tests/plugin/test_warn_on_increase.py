"""warn_on_increase (issue 20, 5): growth past it, within fail_on_increase and the limits, gives
the test the status warn:flops (yellow, a ::warning annotation, ⚠️ in the Markdown); it never
fails."""

from __future__ import annotations

import json

import pytest

from tests.plugin.test_annotations import parse_workflow_command
from tests.plugin.test_fail_on_increase import (
    FLOPS_20,
    GROWTH_AFTER,
    GROWTH_BEFORE,
    PARAMS_20,
    WITHIN_FLOPS,
    failures,
)
from tests.plugin.test_summary import RESET, YELLOW, section
from tests.projects import definition_line
from tests.support import (
    FLOPS,
    PARAMS,
    TREE_MODELS,
    pct,
    plain,
    summary,
    usage_error,
    write_pyproject,
    write_tests,
)

# test_within grows 840 -> 880 FLOPs (a ReLU: +40), test_grown 840 -> 1680 FLOPs, 110 -> 220
assert (WITHIN_FLOPS, FLOPS, FLOPS_20, PARAMS, PARAMS_20) == (880, 840, 1680, 110, 220)
WITHIN_LINE = (
    f"FLOPs grew {pct(WITHIN_FLOPS, FLOPS)} over the last run: 840 FLOPs → 880 FLOPs "
    "(warns past +2.0%)"
)


def grown_run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """The growth project run once, then grown, compared with the last run."""
    write_tests(pytester, TREE_MODELS, GROWTH_BEFORE)
    pytester.runpytest().assert_outcomes(passed=3)
    write_tests(pytester, TREE_MODELS, GROWTH_AFTER)
    return pytester.runpytest(*args)


def statuses(result: pytest.RunResult) -> dict[str, str]:
    return {row["test"].split("::")[1]: row["status"] for row in summary(result)}


def test_growth_past_warn_but_within_fail_on_increase_warns_and_passes(pytester, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    write_pyproject(
        pytester, '[tool.flopbudget]\nfail_on_increase = "5%"\nwarn_on_increase = "2%"\n'
    )
    result = grown_run(pytester, "--flop-report=json:r.json", "--flop-report=markdown:r.md")
    result.assert_outcomes(passed=2, failed=1)  # +4.8% warns, +100% fails
    assert failures(result) == [("test_x.py::test_grown", "call")]
    assert statuses(result) == {
        "test_grown": "grew:flops+params",
        "test_within": "warn:flops",
        "test_same": "ok",
    }
    # a ::warning annotation on its line, an ::error for the failing test
    source = (pytester.path / "test_x.py").read_text(encoding="utf-8")
    annotations = [
        parse_workflow_command(line) for line in result.outlines if line.startswith("::")
    ]
    assert [(command, props["title"]) for command, props, _ in annotations] == [
        ("error", "FLOP budget (test_x.py::test_grown)"),
        ("warning", "FLOP budget (test_x.py::test_within)"),
    ]
    assert annotations[1][1]["line"] == str(definition_line(source, "test_within"))
    assert annotations[1][2] == WITHIN_LINE
    report = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    entry = next(t for t in report["tests"] if t["nodeid"] == "test_x.py::test_within")
    assert (entry["status"], entry["violations"], entry["warnings"]) == (
        "warn:flops",
        [],
        [WITHIN_LINE],
    )
    markdown = (pytester.path / "r.md").read_text(encoding="utf-8")
    assert markdown.splitlines()[0] == (
        "### ❌ FLOP budget: 1 budgeted test failed: 1 grew past +5.0%; 1 warned"
    )
    assert "| ⚠️ warn:flops † | `test_x.py::test_within` |" in markdown  # † a new ReLU


def test_the_command_line_warns_without_fail_on_increase_and_nothing_fails(pytester):
    result = grown_run(pytester, "--flop-warn-on-increase=2", "--flop-report=markdown:r.md")
    result.assert_outcomes(passed=3)
    assert statuses(result) == {
        "test_grown": "warn:flops+params",
        "test_within": "warn:flops",
        "test_same": "ok",
    }
    first = (pytester.path / "r.md").read_text(encoding="utf-8").splitlines()[0]
    assert first == "### ⚠️ FLOP budget: 3 budgeted tests within budget, 2 warned"


def test_warn_is_yellow(pytester, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    result = grown_run(pytester, "--flop-warn-on-increase=2%", "--color=yes")
    cells = {plain(line).split()[-1]: line.split(" ", 1)[0] for line in section(result)[2:]}
    assert cells["test_x.py::test_within"] == f"{YELLOW}warn:flops{RESET}"


def test_marker_beats_entry_beats_command_line_beats_top_level(pytester):
    """+4.8% and +100%: the marker's 10% keeps test_within ok, the entry's 150% test_grown; the
    command line's 2% applies to the rest over the top level's 200%."""
    write_pyproject(
        pytester,
        """
        [tool.flopbudget]
        warn_on_increase = "200%"
        [tool.flopbudget.tests."test_x.py::test_grown"]
        warn_on_increase = 150
        """,
    )
    body = GROWTH_AFTER.replace(
        "@pytest.mark.flop_budget(max_gflops=1)\ndef test_within",
        '@pytest.mark.flop_budget(max_gflops=1, warn_on_increase="10%")\ndef test_within',
    )
    assert body != GROWTH_AFTER
    write_tests(pytester, TREE_MODELS, GROWTH_BEFORE)
    pytester.runpytest().assert_outcomes(passed=3)
    write_tests(pytester, TREE_MODELS, body)
    result = pytester.runpytest("--flop-warn-on-increase=50%")
    result.assert_outcomes(passed=3)
    assert statuses(result)["test_within"] == "ok"  # +4.8% < 10% (the marker)
    assert statuses(result)["test_grown"] == "ok"  # +100% < 150% (the entry)
    # without the entry and the option, the top level's 200% leaves test_grown ok too; with
    # only the option, 50% warns it
    write_pyproject(pytester, '[tool.flopbudget]\nwarn_on_increase = "200%"\n')
    write_tests(pytester, TREE_MODELS, GROWTH_BEFORE)
    pytester.runpytest().assert_outcomes(passed=3)
    write_tests(pytester, TREE_MODELS, body)
    assert statuses(pytester.runpytest("--flop-warn-on-increase=50%"))["test_grown"] == (
        "warn:flops+params"
    )


def test_bad_warn_on_increase_is_a_usage_error_naming_where(pytester):
    write_tests(pytester, TREE_MODELS, GROWTH_BEFORE)
    assert "--flop-warn-on-increase" in usage_error(
        pytester.runpytest("--flop-warn-on-increase=lots")
    )
    write_pyproject(pytester, '[tool.flopbudget]\nwarn_on_increase = "lots"\n')
    error = usage_error(pytester.runpytest())
    assert "warn_on_increase" in error and "[tool.flopbudget]" in error
    write_pyproject(pytester, "")
    write_tests(
        pytester,
        TREE_MODELS,
        """
        @pytest.mark.flop_budget(warn_on_increase=[1])
        def test_a():
            nn.Linear(10, 10)(x())
        """,
    )
    error = usage_error(pytester.runpytest())
    assert "warn_on_increase" in error and "marker on test_x.py::test_a" in error
