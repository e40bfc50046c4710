"""strict: uncounted ops fail a budgeted test, from pyproject, the marker or --flop-strict."""

from __future__ import annotations

import json

import pytest

from tests.custom_ops import NOCOST, NOCOST_OP
from tests.support import (
    FLOPS,
    UNCOUNTED_MODELS,
    row_of,
    usage_error,
    write_pyproject,
    write_tests,
)

# ---- the pytester suites ----------------------------------------------------------------------

# Linear(10, 10) on a (4, 10) input.


# test_a runs the uncounted op (2 calls), test_b does not.
TWO_TESTS = """
@pytest.mark.flop_budget({marker})
def test_a():
    Uncounted()(x())

@pytest.mark.flop_budget({marker})
def test_b():
    nn.Linear(10, 10)(x())
"""


# the op named as a formula is registered, and how to teach it (the conftest hook)
HINT = "teach {} in conftest.py: def pytest_flopbudget_formulas(): return {}"
STRICT_LINE = f"strict: 1 op has no cost formula: {NOCOST_OP} (2 calls); " + HINT.format(
    "it", f'{{"{NOCOST_OP}": formula}}'
)


def call_outcomes(pytester: pytest.Pytester, *args: str) -> dict[str, tuple[str, str]]:
    """{test name: (phase, outcome)} of each test's failing phase, or its call phase."""
    reports = pytester.inline_run(*args).getreports("pytest_runtest_logreport")
    outcomes = {}
    for report in reports:
        name = report.nodeid.split("::")[-1]
        if report.when == "call" or not report.passed:
            outcomes.setdefault(name, (report.when, report.outcome))
    return outcomes


def test_strict_at_the_top_of_pyproject_fails_uncounted_tests_in_their_call_phase(pytester):
    write_pyproject(pytester, "[tool.flopbudget]\nstrict = true\n")
    write_tests(pytester, UNCOUNTED_MODELS, TWO_TESTS.format(marker="max_gflops=1"))
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*_ test_a _*", STRICT_LINE])
    assert row_of(result, "test_x.py::test_a")["status"] == "uncounted"
    assert call_outcomes(pytester) == {"test_a": ("call", "failed"), "test_b": ("call", "passed")}


def test_strict_names_every_op_and_its_calls(pytester):
    write_tests(
        pytester,
        UNCOUNTED_MODELS,
        """
        class Both(nn.Module):
            def forward(self, x):
                return torch.ops.fbtest.nocost_too(torch.ops.fbtest.nocost(x))

        @pytest.mark.flop_budget(strict=True)
        def test_a():
            Both()(x())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"strict: 2 ops have no cost formula: {NOCOST_OP} (1 call), {NOCOST_OP}_too (1 call); "
            + HINT.format("them", f'{{"{NOCOST_OP}": formula, ...}}')
        ]
    )


def test_the_name_strict_prints_is_the_name_that_teaches_the_counter(pytester):
    """The strict line names the op as a formula is registered (`fbtest::nocost`, not the
    op table's `fbtest.nocost`): put that name in the conftest hook it suggests and the test
    passes."""
    write_tests(pytester, UNCOUNTED_MODELS, TWO_TESTS.format(marker="strict=True"))
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([STRICT_LINE])
    pytester.makeconftest(
        "from pytest_flopbudget import Cost\n\n"
        "def pytest_flopbudget_formulas():\n"
        f"    return {{{NOCOST_OP!r}: lambda args, kwargs, out: Cost(other_flops=out.numel())}}\n"
    )
    pytester.runpytest().assert_outcomes(passed=2)


@pytest.mark.parametrize(
    ("toml", "failing"),
    [
        pytest.param(
            '[tool.flopbudget.tests."test_x.py::test_a"]\nstrict = true\n', {"test_a"}, id="exact"
        ),
        pytest.param(
            '[tool.flopbudget.tests."test_x.py::*"]\nstrict = true\n', {"test_a"}, id="glob"
        ),
        pytest.param(
            '[tool.flopbudget]\nstrict = true\n[tool.flopbudget.tests."test_x.py::test_a"]\n'
            "strict = false\n",
            set(),
            id="exact-entry-over-top-level",
        ),
        pytest.param(
            '[tool.flopbudget.tests."test_x.py::test_a"]\nstrict = false\n'
            '[tool.flopbudget.tests."test_x.py::*"]\nstrict = true\n',
            set(),
            id="exact-entry-over-glob",
        ),
        pytest.param(
            '[tool.flopbudget.tests."test_x.py::*"]\nstrict = false\n'
            '[tool.flopbudget.tests."test_x.py::test_*"]\nstrict = true\n',
            {"test_a"},
            id="longer-glob-first",
        ),
    ],
)
def test_strict_in_a_tests_entry_resolves_as_every_key(pytester, toml, failing):
    write_pyproject(pytester, toml)
    write_tests(
        pytester,
        UNCOUNTED_MODELS,
        "def test_a():\n    Uncounted()(x())\n\ndef test_b():\n    pass\n",
    )
    outcomes = call_outcomes(pytester)
    assert {name for name, (_, outcome) in outcomes.items() if outcome == "failed"} == failing


def test_strict_in_the_marker_wins_over_pyproject(pytester):
    write_pyproject(
        pytester,
        '[tool.flopbudget]\nstrict = true\n[tool.flopbudget.tests."test_x.py::test_entry"]\n',
    )
    write_tests(
        pytester,
        UNCOUNTED_MODELS,
        """
        @pytest.mark.flop_budget(strict=True)
        def test_marked():
            Uncounted()(x())

        @pytest.mark.flop_budget(strict=False)
        def test_marked_off():
            Uncounted()(x())

        def test_entry():
            Uncounted()(x())
        """,
    )
    outcomes = call_outcomes(pytester)
    assert outcomes == {
        "test_marked": ("call", "failed"),
        "test_marked_off": ("call", "passed"),
        "test_entry": ("call", "failed"),
    }


def test_flop_strict_turns_strict_on_for_every_budgeted_test(pytester):
    write_pyproject(
        pytester, '[tool.flopbudget]\nstrict = false\n[tool.flopbudget.tests."test_x.py::test_c"]\n'
    )
    write_tests(
        pytester,
        UNCOUNTED_MODELS,
        TWO_TESTS.format(marker="max_gflops=1")
        + "\ndef test_c():\n    Uncounted()(x())\n\ndef test_unbudgeted():\n    Uncounted()(x())\n",
    )
    assert call_outcomes(pytester) == {
        "test_a": ("call", "passed"),
        "test_b": ("call", "passed"),
        "test_c": ("call", "passed"),
        "test_unbudgeted": ("call", "passed"),
    }
    result = pytester.runpytest("--flop-strict")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*_ test_a _*", STRICT_LINE, "*_ test_c _*", STRICT_LINE])
    assert call_outcomes(pytester, "--flop-strict")["test_c"] == ("call", "failed")
    # an updating run still fails for it: rewriting budgets gives those ops no formula
    pytester.runpytest("--flop-strict", "--flop-budget-update").assert_outcomes(passed=2, failed=2)
    pytester.runpytest("--flop-strict", "--flop-budget-disable").assert_outcomes(passed=4)


def test_strict_and_over_budget_name_both(pytester):
    write_tests(
        pytester,
        UNCOUNTED_MODELS,
        f"@pytest.mark.flop_budget(max_flops={FLOPS - 1}, strict=True)\n"
        "def test_a():\n    Uncounted()(x())\n",
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [f"FLOP budget exceeded: {FLOPS} FLOPs > {FLOPS - 1} FLOPs *", STRICT_LINE]
    )
    assert row_of(result, "test_x.py::test_a")["status"] == "over:flops"


def test_github_actions_annotates_a_strict_failure(pytester, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    write_tests(pytester, UNCOUNTED_MODELS, TWO_TESTS.format(marker="strict=True"))
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    annotations = [line for line in result.outlines if line.startswith("::error ")]
    assert len(annotations) == 1
    assert "title=FLOP budget (test_x.py%3A%3Atest_a)" in annotations[0]
    assert annotations[0].endswith(f"::{STRICT_LINE}")


@pytest.mark.parametrize(
    ("toml", "marker", "message"),
    [
        pytest.param(
            '[tool.flopbudget]\nstrict = "yes"\n',
            "",
            "{pyproject}: invalid value 'yes' for 'strict' in [tool.flopbudget]: "
            "must be true or false",
            id="top-level",
        ),
        pytest.param(
            '[tool.flopbudget.tests."test_x.py::test_a"]\nstrict = 1\n',
            "",
            "{pyproject}: invalid value 1 for 'strict' in "
            '[tool.flopbudget.tests."test_x.py::test_a"]: must be true or false',
            id="tests-entry",
        ),
        pytest.param(
            "",
            '@pytest.mark.flop_budget(strict="true")\n',
            "invalid value 'true' for 'strict' in marker on test_x.py::test_a: "
            "must be true or false",
            id="marker",
        ),
    ],
)
def test_a_bad_strict_value_is_a_usage_error_naming_the_key_and_source(
    pytester, toml, marker, message
):
    if toml:
        write_pyproject(pytester, toml)
    write_tests(pytester, UNCOUNTED_MODELS, f"{marker}def test_a():\n    Uncounted()(x())\n")
    stderr = usage_error(pytester.runpytest())
    assert message.format(pyproject=pytester.path / "pyproject.toml") in stderr


def test_json_and_markdown_reports_carry_the_uncounted_ops_and_the_strict_failure(pytester):
    write_tests(
        pytester,
        UNCOUNTED_MODELS,
        TWO_TESTS.format(marker="max_gflops=1")
        + "\n@pytest.mark.flop_budget(strict=True)\ndef test_c():\n    Uncounted()(x())\n",
    )
    result = pytester.runpytest("--flop-report=json:r.json", "--flop-report=markdown:r.md")
    result.assert_outcomes(passed=2, failed=1)
    report = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    tests = {entry["nodeid"].split("::")[-1]: entry for entry in report["tests"]}
    assert tests["test_a"]["uncounted"] == tests["test_c"]["uncounted"] == {NOCOST: 2}
    assert tests["test_b"]["uncounted"] == {}
    assert (tests["test_a"]["status"], tests["test_a"]["violations"]) == ("new", [])
    assert (tests["test_c"]["status"], tests["test_c"]["violations"]) == (
        "uncounted",
        [STRICT_LINE],
    )
    assert tests["test_c"]["outcome"] == "failed"

    markdown = (pytester.path / "r.md").read_text(encoding="utf-8").splitlines()
    rows = {
        line.split("`")[1].split("::")[-1]: line
        for line in markdown
        if line.startswith("| ") and "`" in line
    }
    assert rows["test_c"].startswith("| 🟣 uncounted | `test_x.py::test_c` | ")
    assert f"| ≥{FLOPS} |" in rows["test_a"] and f"| {FLOPS} |" in rows["test_b"]
    listed = markdown[
        markdown.index("Ops with no cost formula (these FLOPs, marked ≥, are a lower bound):") + 1 :
    ]
    assert listed[:2] == [
        f"- `test_x.py::test_c`: `{NOCOST_OP}` ×2",  # in the table's order: the failing first
        f"- `test_x.py::test_a`: `{NOCOST_OP}` ×2",
    ]


def test_a_marker_with_only_strict_does_not_pin_the_budget(pytester):
    write_pyproject(pytester, "[tool.flopbudget]\n")
    write_tests(
        pytester, UNCOUNTED_MODELS, TWO_TESTS.format(marker="strict=True").split("\n\n")[1]
    )  # test_b
    result = pytester.runpytest("--flop-budget-update")
    result.assert_outcomes(passed=1)
    assert "pinned" not in "\n".join(line for line in result.outlines if "test_b" in line)
    written = (pytester.path / "pyproject.toml").read_text(encoding="utf-8")
    assert '[tool.flopbudget.tests."test_x.py::test_b"]' in written
