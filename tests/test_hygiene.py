"""Configuration hygiene and baseline validation, end to end through pytester: warnings for
`[tool.flopbudget.tests]` entries no test matched (full runs only) and for misspelled
`[tool.flopbudget]` tables; malformed baselines are usage errors naming the file and the test;
a corrupt last-run cache is dropped with a warning; the CI recipe in example_project is valid
workflow YAML that runs the pull request against the target branch's report.

nn.Linear(i, o) on a (b, i) input is b·i·o MACs; under the "all" convention 2 FLOPs per MAC plus
1 per output element for the bias add; its parameters are i·o + o.
"""

from __future__ import annotations

import json
import re
import shlex
import textwrap
from pathlib import Path

# torch and the counter (which the plugin imports lazily) are imported here, once: pytester's
# in-process runs drop the modules a run imported, and torch cannot be imported twice in a process.
import pytest
import torch  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pytest_flopbudget.engine.counter  # noqa: F401
from pytest_flopbudget.budgets.config import Config, TestEntry, near_flopbudget, unmatched_entries
from pytest_flopbudget.budgets.quantities import NULLABLE, QUANTITIES
from pytest_flopbudget.reporting import baseline

from .pytester_support import (
    isolate_inner_runs,
    linear_flops,
    linear_macs,
    linear_params,
    pct,
    row_of,
    usage_error,
)

FLOPS = linear_flops(4, 10, 10)  # 840
PARAMS = linear_params(10, 10)  # 110

TESTS = """
import pytest
import torch
from torch import nn


@pytest.mark.flop_budget(max_gflops=1)
def test_linear():
    nn.Linear(10, 10)(torch.randn(4, 10))


@pytest.mark.slow
def test_configured():
    nn.Linear(10, 10)(torch.randn(4, 10))
"""

PYPROJECT = """
[tool.flopbudget]
max_gflops = 1

[tool.flopbudget.tests."test_x.py::test_configured"]
[tool.flopbudget.tests."test_x.py::test_renamed"]
[tool.flopbudget.tests."test_x.py::test_conf*"]
[tool.flopbudget.tests."test_gone_*.py::*"]

[tool.pytest.ini_options]
markers = ["slow"]
"""

UNMATCHED = ('"test_x.py::test_renamed"', '"test_gone_*.py::*"')


@pytest.fixture(autouse=True)
def _inner_run_environment(pytester, monkeypatch):
    isolate_inner_runs(monkeypatch)


def make_project(pytester: pytest.Pytester, pyproject: str = PYPROJECT) -> None:
    pytester.makepyfile(test_x=TESTS)
    (pytester.path / "pyproject.toml").write_text(textwrap.dedent(pyproject), encoding="utf-8")


def budget_warnings(result: pytest.RunResult) -> list[str]:
    """The FlopBudgetWarning messages of the warnings summary."""
    return [
        line.split(": FlopBudgetWarning: ", 1)[1]
        for line in result.outlines
        if re.match(r"\s*\S+: FlopBudgetWarning: ", line)
    ]


def no_traceback(result: pytest.RunResult) -> None:
    output = str(result.stdout) + str(result.stderr)
    assert "Traceback" not in output and "INTERNALERROR" not in output


# --- unmatched tests entries ---------------------------------------------------------------------


def test_unmatched_entries_detection_is_exact_or_glob():
    def entry(pattern):
        return TestEntry(pattern=pattern, limits={}, is_glob="*" in pattern or "?" in pattern)

    entries = tuple(entry(p) for p in ("a.py::t1", "a.py::t9", "a.py::t?", "b.py::*", "a.py::*"))
    config = Config(tests=entries)
    assert [e.pattern for e in unmatched_entries(config, ["a.py::t1"])] == ["a.py::t9", "b.py::*"]
    assert unmatched_entries(config, ["a.py::t1", "a.py::t9", "b.py::x"]) == []
    assert [e.pattern for e in unmatched_entries(config, [])] == [e.pattern for e in entries]


def test_a_full_run_warns_about_each_entry_that_matched_no_collected_test(pytester):
    make_project(pytester)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    pyproject = pytester.path / "pyproject.toml"
    warned = budget_warnings(result)
    assert len(warned) == 2
    for message, pattern in zip(warned, UNMATCHED, strict=True):
        assert message.startswith(f"{pyproject}: [tool.flopbudget.tests.{pattern}] matched no ")
    assert "warnings summary" in str(result.stdout)


@pytest.mark.parametrize(
    "narrowing",
    [
        ["-k", "linear"],
        ["-m", "slow"],
        ["--deselect", "test_x.py::test_linear"],
        ["test_x.py"],
        ["test_x.py::test_linear"],
    ],
    ids=["-k", "-m", "--deselect", "explicit-file", "explicit-node-id"],
)
def test_a_partial_run_warns_about_no_entry(pytester, narrowing):
    make_project(pytester)
    result = pytester.runpytest(*narrowing)
    assert result.ret == pytest.ExitCode.OK
    assert budget_warnings(result) == []


def test_a_sharding_plugin_that_deselects_tests_silences_the_warning(pytester):
    make_project(pytester)
    pytester.makeconftest(
        """
        def pytest_collection_modifyitems(config, items):
            kept = [item for item in items if item.name == "test_linear"]
            config.hook.pytest_deselected(items=[i for i in items if i not in kept])
            items[:] = kept
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert budget_warnings(result) == []


def test_a_collection_error_hides_tests_so_nothing_is_called_unmatched(pytester):
    make_project(pytester)
    pytester.makepyfile(test_broken="import no_such_module_anywhere\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert budget_warnings(result) == []


def test_under_xdist_the_controller_warns_once_and_the_workers_not_at_all(pytester):
    pytest.importorskip("xdist")
    make_project(pytester)
    result = pytester.runpytest("-n", "2")
    result.assert_outcomes(passed=2)
    warned = budget_warnings(result)
    assert len(warned) == 2
    for message, pattern in zip(warned, UNMATCHED, strict=True):
        assert f"[tool.flopbudget.tests.{pattern}] matched no collected test" in message
    assert budget_warnings(pytester.runpytest("-n", "2", "-k", "linear")) == []


def test_an_unmatched_entry_fails_nothing_even_when_all_entries_are_unmatched(pytester):
    make_project(pytester, '[tool.flopbudget.tests."test_x.py::test_nothing_like_it"]\n')
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    assert len(budget_warnings(result)) == 1


def test_warnings_made_errors_by_a_filter_are_a_usage_error_not_an_internal_error(pytester):
    make_project(pytester)
    result = pytester.runpytest("-W", "error::pytest_flopbudget.plugin.FlopBudgetWarning")
    message = usage_error(result)
    no_traceback(result)
    assert f"[tool.flopbudget.tests.{UNMATCHED[0]}] matched no collected test" in message


# --- misspelled [tool.flopbudget] tables ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "near"),
    [
        ("flopbudgets", True),
        ("flop_budget", True),
        ("flop-budget", True),
        ("flopbuget", True),
        ("FlopBudget", True),
        ("flop_budgets", True),
        ("flopbudget", False),
        ("flop", False),
        ("budget", False),
        ("pytest", False),
        ("ruff", False),
        ("fvcore", False),
    ],
)
def test_near_flopbudget_recognises_misspellings_only(name, near):
    assert near_flopbudget(name) is near


@pytest.mark.parametrize("table", ["flopbudgets", "flop_budget", "flop-budget", "flopbuget"])
def test_a_table_named_close_to_flopbudget_is_a_warning_naming_file_and_table(pytester, table):
    make_project(pytester, f"[tool.{table}]\nmax_gflops = 1\n")
    result = pytester.runpytest("-k", "linear")  # a config warning: partial runs too
    assert result.ret == pytest.ExitCode.OK
    assert budget_warnings(result) == [
        f"{pytester.path / 'pyproject.toml'}: [tool.{table}] is not read by pytest-flopbudget; "
        "did you mean [tool.flopbudget]?"
    ]


def test_the_right_table_and_unrelated_tables_are_not_warned_about(pytester):
    make_project(pytester, "[tool.flopbudget]\nmax_gflops = 1\n\n[tool.ruff]\nline-length = 99\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.OK
    assert budget_warnings(result) == []


# --- malformed baselines -------------------------------------------------------------------------

NODE = "test_x.py::test_linear"


def report(*tests: object, **top: object) -> str:
    return json.dumps(
        {"schema": "pytest-flopbudget/report", "schema_version": 1, "tests": list(tests), **top}
    )


def entry(**totals: object) -> dict:
    return {"nodeid": NODE, "totals": {"flops": FLOPS, "params": PARAMS, **totals}}


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


NOT_AN_INTEGER = 'totals "flops" must be a non-negative integer, got '
BAD_BASELINES = {
    # (file text, the problem named, whether the test is named)
    "flops-string": (report(entry(flops="abc")), NOT_AN_INTEGER + '"abc"', True),
    "flops-list": (report(entry(flops=[1])), NOT_AN_INTEGER + "[1]", True),
    "flops-true": (report(entry(flops=True)), NOT_AN_INTEGER + "true", True),
    "flops-float": (report(entry(flops=1.5)), NOT_AN_INTEGER + "1.5", True),
    "flops-negative": (report(entry(flops=-1)), NOT_AN_INTEGER + "-1", True),
    "flops-null": (report(entry(flops=None)), NOT_AN_INTEGER + "null", True),
    "flops-1e400": (report(entry()).replace(f'"flops": {FLOPS}', '"flops": 1e400'), "inf", True),
    "flops-NaN": (report(entry()).replace(f'"flops": {FLOPS}', '"flops": NaN'), "NaN", False),
    "params-Infinity": (
        report(entry()).replace(f'"params": {PARAMS}', '"params": -Infinity'),
        "-Infinity",
        False,
    ),
    "nonzero-string": (
        report(entry(nonzero_params="110")),
        'totals "nonzero_params" must be a non-negative integer or null, got "110"',
        True,
    ),
    "missing-totals": (report({"nodeid": NODE}), f'test {NODE}: no "totals"', True),
    "totals-list": (
        report({"nodeid": NODE, "totals": [FLOPS]}),
        '"totals" must be an object, got [840]',
        True,
    ),
    "missing-flops": (
        report({"nodeid": NODE, "totals": {"params": PARAMS}}),
        '"totals" has no "flops"',
        True,
    ),
    "entry-string": (report(NODE), 'tests[0] must be an object with a "nodeid" string', False),
    "entry-no-nodeid": (
        report({"totals": {"flops": 1, "params": 1}}),
        "tests[0] must be an object",
        False,
    ),
    "nodeid-number": (report({"nodeid": 3, "totals": {}}), "tests[0] must be an object", False),
    "duplicate-ids": (report(entry(), entry()), f"test {NODE} is listed twice", True),
    "deep-nesting": (
        report({**entry(), "extra": json.loads(deep(100))}),
        "nested deeper than 64 levels",
        False,
    ),
    "very-deep-nesting": (
        report(entry()).replace('"tests": [', f'"x": {deep(100_000)}, "tests": ['),
        "nested deeper than 64 levels",
        False,
    ),
    "invalid-json": ('{"schema": "pytest-flopbudget/report", ', "not JSON", False),
    "top-level-list": (f"[{report(entry())}]", "not a pytest-flopbudget report", False),
    "wrong-schema": (
        report(entry()).replace("pytest-flopbudget/report", "other/report"),
        "not a pytest-flopbudget report",
        False,
    ),
    "schema-version-true": (
        report(entry()).replace('"schema_version": 1', '"schema_version": true'),
        "report schema version True",
        False,
    ),
    "schema-version-string": (
        report(entry()).replace('"schema_version": 1', '"schema_version": "1"'),
        "report schema version '1'",
        False,
    ),
    "tests-object": (
        report().replace('"tests": []', '"tests": {}'),
        '"tests" must be a list',
        False,
    ),
}


@pytest.mark.parametrize(
    ("text", "problem", "names_test"), BAD_BASELINES.values(), ids=BAD_BASELINES
)
@pytest.mark.parametrize("gate", [[], ["--flop-fail-on-increase=5%"]], ids=["report", "gate"])
def test_a_malformed_baseline_is_a_usage_error_naming_file_and_test(
    pytester, text, problem, names_test, gate
):
    make_project(pytester, "")
    (pytester.path / "base.json").write_text(text, encoding="utf-8")
    result = pytester.runpytest("--flop-baseline=base.json", *gate)
    message = usage_error(result)
    no_traceback(result)
    assert "--flop-baseline=base.json: " in message
    assert problem in message
    assert (f"test {NODE}" in message) is names_test


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
COUNTS = st.integers(min_value=-2, max_value=10**31) | JSON_VALUES
TOTALS = (
    st.fixed_dictionaries(
        {"flops": COUNTS, "params": COUNTS},
        optional={k: COUNTS for k in [*QUANTITIES, "other"] if k not in baseline.REQUIRED},
    )
    | JSON_VALUES
)
ENTRIES = st.lists(
    st.fixed_dictionaries({"nodeid": st.sampled_from([NODE, "b", "c"]), "totals": TOTALS})
    | st.fixed_dictionaries({}, optional={"nodeid": st.sampled_from([NODE, 1]), "totals": TOTALS})
    | JSON_VALUES,
    max_size=4,
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tests=ENTRIES, version=st.sampled_from([1] * 6 + [True, 1.0, "1", None]))
def test_any_json_baseline_loads_or_is_a_baseline_error(tmp_path, tests, version):
    path = tmp_path / "base.json"
    data = {"schema": baseline.SCHEMA, "schema_version": version, "tests": tests}
    path.write_text(json.dumps(data), encoding="utf-8")  # NaN and Infinity included
    try:
        loaded = baseline.load_baseline(path)
    except baseline.BaselineError as error:
        assert str(error).startswith(f"--flop-baseline={path}: ")
        return
    for totals in loaded.values():  # what the plugin then reads: counts, or null where allowed
        assert baseline.totals_problem(totals) is None
        assert all(
            type(totals[k]) is int or (totals[k] is None and k in NULLABLE)
            for k in QUANTITIES
            if k in totals
        )


def test_an_oversized_baseline_is_refused_before_it_is_read(pytester, monkeypatch):
    make_project(pytester, "")
    text = report(entry())
    (pytester.path / "base.json").write_text(text, encoding="utf-8")
    monkeypatch.setattr(baseline, "MAX_BASELINE_BYTES", len(text) - 1)
    message = usage_error(pytester.runpytest("--flop-baseline=base.json"))
    assert f"--flop-baseline=base.json: {len(text)} bytes, more than a report can be" in message


def test_a_valid_v1_baseline_with_nulls_and_unknown_keys_still_gates_growth(pytester):
    make_project(pytester, "")
    half = FLOPS // 2
    baseline = report(
        {
            "nodeid": NODE,
            "outcome": "passed",
            "totals": {
                "flops": half,
                "macs": 1,
                "params": PARAMS,
                "nonzero_params": None,
                "sparse_flops": None,
                "param_bytes": 4 * PARAMS,
                "a_later_schemas_key": {"anything": [1, 2]},
            },
            "modules": [{"name": "", "flops": half}],
        },
        gone=[],
        created="2026-01-01T00:00:00+00:00",
    )
    (pytester.path / "base.json").write_text(baseline, encoding="utf-8")
    result = pytester.runpytest("--flop-baseline=base.json", "--flop-fail-on-increase=5%")
    result.assert_outcomes(passed=1, failed=1)
    assert row_of(result, NODE)["Δbaseline"] == pct(FLOPS, half)
    assert (
        f"FLOPs grew {pct(FLOPS, half)} over the baseline: {half} FLOPs -> {FLOPS} FLOPs "
        "(allowed +5.0%)"
    ) in result.outlines


def test_the_json_report_is_strict_json_and_reads_back_as_a_baseline(pytester):
    make_project(pytester, "")
    pytester.runpytest("--flop-report=json:base.json").assert_outcomes(passed=2)
    text = (pytester.path / "base.json").read_text(encoding="utf-8")

    def refuse(name):
        raise AssertionError(f"{name} in the report")

    json.loads(text, parse_constant=refuse)
    result = pytester.runpytest("--flop-baseline=base.json", "--flop-fail-on-increase=0%")
    result.assert_outcomes(passed=2)
    assert row_of(result, NODE)["Δbaseline"] == "+0.0%"


# --- a corrupt last-run cache --------------------------------------------------------------------

LAST_RUN = Path(".pytest_cache", "v", "flopbudget", "last-run")


def write_cache(pytester: pytest.Pytester, text: str) -> Path:
    path = pytester.path / LAST_RUN
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_cache_entries_are_dropped_with_a_warning_and_the_good_one_kept(pytester):
    make_project(pytester, "")
    half = FLOPS // 2
    cache = write_cache(
        pytester,
        json.dumps({NODE: {"flops": half, "params": PARAMS}})[:-1]
        + ', "test_x.py::test_a": {"flops": "abc", "params": 1},'
        ' "test_x.py::test_b": {"flops": NaN, "params": 1},'
        ' "test_x.py::test_c": [1, 2]}',
    )
    result = pytester.runpytest("--flop-fail-on-increase=200%")
    result.assert_outcomes(passed=2)
    no_traceback(result)
    assert row_of(result, NODE)["Δlast"] == pct(FLOPS, half)
    (warned,) = budget_warnings(result)
    assert warned.startswith("pytest's cache flopbudget/last-run is corrupt, ignored what is wrong")
    assert 'test_x.py::test_a: totals "flops" must be a non-negative integer, got "abc"' in warned
    assert "test_x.py::test_b: " in warned and "test_x.py::test_c: " in warned
    assert json.loads(cache.read_text(encoding="utf-8")) == {
        NODE: {
            "flops": FLOPS,
            "macs": linear_macs(4, 10, 10),
            "params": PARAMS,
            "nonzero_params": PARAMS,
            "sparse_flops": FLOPS,
            "param_bytes": 4 * PARAMS,
        }
    }


@pytest.mark.parametrize(
    ("text", "warns"),
    [
        ("{not json", False),  # pytest's cache reads it as absent
        ("[1, 2, 3]", True),
        ('"a string"', True),
        (deep(100_000), True),  # json.load would raise RecursionError
    ],
    ids=["invalid-json", "list", "string", "very-deep"],
)
def test_a_corrupt_cache_file_never_crashes_a_run(pytester, text, warns):
    make_project(pytester, "")
    write_cache(pytester, text)
    result = pytester.runpytest("--flop-fail-on-increase=5%")
    result.assert_outcomes(passed=2)
    no_traceback(result)
    assert row_of(result, NODE)["status"] == "new"
    assert len(budget_warnings(result)) == int(warns)
    assert budget_warnings(pytester.runpytest()) == []  # the run rewrote the cache


# --- the CI recipe -------------------------------------------------------------------------------

WORKFLOW = Path(__file__).parent.parent / "example_project" / ".github" / "workflows"


def commands(step: dict) -> list[list[str]]:
    """The pytest command lines of a `run:` step, as argument lists (continuations joined)."""
    script = step.get("run", "").replace("\\\n", " ")
    return [
        shlex.split(line.split("||")[0])
        for line in script.splitlines()
        if line.strip().startswith("pytest ")
    ]


def option(argv: list[str], name: str) -> list[str]:
    return [arg.split("=", 1)[1] for arg in argv if arg.startswith(f"{name}=")]


def test_the_ci_recipe_is_a_workflow_that_gates_the_pull_request_on_the_base_branch():
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((WORKFLOW / "flop-budget.yml").read_text(encoding="utf-8"))
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    assert all(isinstance(step, dict) and ("run" in step or "uses" in step) for step in steps)

    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    assert any("git worktree add" in s.get("run", "") for s in steps)
    assert any("github.event.pull_request.base.sha" in json.dumps(s) for s in steps)

    runs = [(step, argv) for step in steps for argv in commands(step)]
    (base_step, base), (pr_step, pr) = [(s, a) for s, a in runs if a[0] == "pytest"]
    assert "--flop-budget-disable" in base and "|| true" in base_step["run"]
    (base_report,) = option(base, "--flop-report")
    assert base_report.startswith("json:")
    assert option(pr, "--flop-baseline") == [base_report.removeprefix("json:")]
    assert option(pr, "--flop-fail-on-increase") == ["5%"]
    reports = option(pr, "--flop-report")
    assert "markdown:$GITHUB_STEP_SUMMARY" in reports
    (pr_report,) = [r.removeprefix("json:") for r in reports if r.startswith("json:")]

    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == pr_report
    assert upload.get("if") == "always()"
    assert steps.index(base_step) < steps.index(pr_step) < steps.index(upload)
