"""Reading a baseline: deltas, new and gone tests, and malformed files."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_flopbudget.budgets.quantities import NULLABLE, QUANTITIES
from pytest_flopbudget.reporting import baseline
from pytest_flopbudget.text import human
from tests.projects import load_json, make_project, no_traceback
from tests.support import (
    BYTES_MOVED,
    FLOPS,
    MACS,
    PARAMS,
    TREE_MODELS,
    linear_flops,
    linear_params,
    pct,
    row_of,
    summary,
    usage_error,
    write_tests,
)

# Linear(10, 20): twice the work and the parameters.
FLOPS_20, PARAMS_20 = linear_flops(4, 10, 20), linear_params(10, 20)


assert (FLOPS_20, PARAMS_20) == (1680, 220)


# --- 5. baselines ---------------------------------------------------------------------------------

BASELINE_TESTS = """
@pytest.mark.flop_budget(max_gflops=1)
def test_grown():
    nn.Linear(10, {fan_out})(x())

@pytest.mark.flop_budget(max_gflops=1)
def test_same():
    nn.Linear(10, 10)(x())
"""


OLD_TEST = """
@pytest.mark.flop_budget(max_gflops=1)
def test_old():
    nn.Linear(10, 10)(x())
"""


NEW_TEST = """
@pytest.mark.flop_budget(max_gflops=1)
def test_new():
    nn.Linear(10, 10)(x())
"""


def test_baseline_deltas_new_tests_and_gone_tests(pytester):
    write_tests(pytester, TREE_MODELS, BASELINE_TESTS.format(fan_out=10) + OLD_TEST)
    pytester.runpytest("--flop-report=json:base.json").assert_outcomes(passed=3)
    write_tests(pytester, TREE_MODELS, BASELINE_TESTS.format(fan_out=20) + NEW_TEST)
    # a run without the baseline: the last run now holds the grown model's numbers
    assert row_of(pytester.runpytest(), "test_x.py::test_grown")["FLOPs"] == human(FLOPS_20)

    result = pytester.runpytest("--flop-baseline=base.json", "--flop-report=json:now.json")
    result.assert_outcomes(passed=3)
    rows = {row["test"]: row for row in summary(result)}
    assert (
        "Δbaseline" in rows["test_x.py::test_grown"]
        and "Δlast" not in rows["test_x.py::test_grown"]
    )
    assert pct(FLOPS_20, FLOPS) == "+100.0%"
    assert {nodeid: (r["status"], r["FLOPs"], r["Δbaseline"]) for nodeid, r in rows.items()} == {
        "test_x.py::test_grown": ("ok", human(FLOPS_20), pct(FLOPS_20, FLOPS)),
        "test_x.py::test_same": ("ok", str(FLOPS), "+0.0%"),
        "test_x.py::test_new": ("new", str(FLOPS), "-"),
    }
    assert "gone since the baseline: test_x.py::test_old" in result.outlines

    report = load_json(pytester, "now.json")
    assert report["compared_with"] == "baseline base.json"
    assert report["gone"] == ["test_x.py::test_old"]
    grown = next(t for t in report["tests"] if t["nodeid"] == "test_x.py::test_grown")
    assert grown["previous"] == {
        "flops": FLOPS,
        "macs": MACS,
        "params": PARAMS,
        "nonzero_params": PARAMS,
        "sparse_flops": FLOPS,
        "param_bytes": 4 * PARAMS,
        "bytes_moved": BYTES_MOVED,
        "latency_ns": None,
    }
    assert grown["delta"]["flops"] == pytest.approx(FLOPS_20 / FLOPS - 1)
    assert grown["delta"]["params"] == pytest.approx(PARAMS_20 / PARAMS - 1)

    # a narrowed run cannot tell a removed test from one it did not select
    narrowed = pytester.runpytest("--flop-baseline=base.json", "test_x.py::test_grown")
    narrowed.assert_outcomes(passed=1)
    assert not any("gone since" in line for line in narrowed.outlines)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "no such file"),
        ("{not json", "not JSON"),
        ('{"tests": []}', "not a pytest-flopbudget report"),
        ('{"schema": "pytest-flopbudget/report", "schema_version": 3, "tests": []}', "version 3"),
        ('{"schema": "pytest-flopbudget/report", "schema_version": 1, "tests": {}}', '"tests"'),
    ],
    ids=["missing", "not-json", "wrong-schema", "wrong-version", "bad-tests"],
)
def test_bad_baseline_file_is_a_usage_error_naming_the_path(pytester, content, problem):
    write_tests(pytester, TREE_MODELS, NEW_TEST)
    if content is not None:
        (pytester.path / "base.json").write_text(content, encoding="utf-8")
    message = usage_error(pytester.runpytest("--flop-baseline=base.json"))
    assert "--flop-baseline=base.json: " in message
    assert problem in message


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
        f"FLOPs grew {pct(FLOPS, half)} over the baseline: {half} FLOPs → {FLOPS} FLOPs "
        "(allowed +5.0%)"
    ) in result.outlines
