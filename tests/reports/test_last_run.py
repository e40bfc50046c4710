"""The last-run cache: what it keeps, what it prunes, and bad entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch  # noqa: F401  (imported once: pytester's in-process runs drop what a run imported)

from pytest_flopbudget.reporting.lastrun import (
    KEEP_RUNS,
    LAST_RUN_KEY,
    SEEN_KEY,
    read_last_run,
    read_seen,
    remember,
)
from tests.projects import make_project, no_traceback, warning_messages
from tests.support import (
    linear_bytes,
    linear_flops,
    linear_macs,
    linear_params,
    pct,
    row_of,
)

TOTALS = {"flops": 840, "macs": 400, "params": 110}


TEST_WITH_MARKER = """
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

@pytest.mark.flop_budget({arguments})
def test_a():
    nn.Linear(10, 10)(torch.randn(4, 10))
"""


# --- the last-run cache: pruned ----------------------------------------------------------------


def test_an_entry_not_seen_in_the_last_keep_runs_runs_is_dropped():
    last_run, seen = {}, (0, {})
    state = remember(last_run, seen, {"t::a": TOTALS, "t::b": TOTALS}, ["t::a", "t::b"], False)
    for _ in range(KEEP_RUNS - 1):  # partial runs of t::a alone
        state = remember(state.last_run, (state.run, state.seen), {"t::a": TOTALS}, ["t::a"], False)
        assert set(state.last_run) == {"t::a", "t::b"}  # t::b seen in one of the last KEEP_RUNS
    state = remember(state.last_run, (state.run, state.seen), {"t::a": TOTALS}, ["t::a"], False)
    assert set(state.last_run) == {"t::a"}
    assert state.seen == {"t::a": KEEP_RUNS + 1}
    assert state.seen_value() == {"run": KEEP_RUNS + 1, "tests": {"t::a": KEEP_RUNS + 1}}


def test_a_test_collected_but_not_measured_keeps_its_entry():
    state = remember({"t::b": TOTALS}, (5, {"t::b": 5 - KEEP_RUNS + 1}), {}, ["t::b"], False)
    assert state.last_run == {"t::b": TOTALS}
    assert state.seen == {"t::b": 6}


def test_a_full_run_drops_every_test_it_did_not_collect():
    state = remember(
        {"t::a": TOTALS, "t::gone": TOTALS}, (3, {"t::a": 3, "t::gone": 3}), {}, ["t::a"], True
    )
    assert set(state.last_run) == {"t::a"}


def test_entries_from_before_the_counter_count_as_seen_now():
    state = remember({"t::old": TOTALS}, (0, {}), {}, [], False)
    assert state.last_run == {"t::old": TOTALS}
    assert state.seen == {"t::old": 1}


@pytest.mark.parametrize(
    "value",
    [
        None,
        [],
        "x",
        {"t::a": "840"},
        {"t::a": {"flops": "840"}},
        {"t::a": {"flops": True}},
        {"t::a": {"flops": -1}},
        {"t::a": {"flops": 10**400}},
        {"t::a": {"flops": 8.4}},
    ],
)
def test_a_malformed_last_run_entry_is_ignored(value):
    assert read_last_run(value) == {}


def test_a_wellformed_last_run_is_read_back():
    assert read_last_run({"t::a": {**TOTALS, "nonzero_params": None}}) == {
        "t::a": {**TOTALS, "nonzero_params": None}
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, (0, {})),
        ({"run": "3"}, (0, {})),
        ({"run": True, "tests": {}}, (0, {})),
        ({"run": 3, "tests": []}, (3, {})),
        ({"run": 3, "tests": {"t::a": 2, "t::b": "2"}}, (3, {"t::a": 2})),
    ],
)
def test_a_malformed_seen_record_is_ignored(value, expected):
    assert read_seen(value) == expected


def cached(pytester: pytest.Pytester, key: str) -> object:
    return json.loads((pytester.path / ".pytest_cache" / "v" / key).read_text(encoding="utf-8"))


def test_the_cache_forgets_a_deleted_test_in_a_full_run_and_keeps_it_in_a_partial_one(inner):
    body = TEST_WITH_MARKER.format(arguments="max_gflops=1")
    inner.makepyfile(test_a=body, test_b=body)
    inner.runpytest().assert_outcomes(passed=2)
    assert set(cached(inner, LAST_RUN_KEY)) == {"test_a.py::test_a", "test_b.py::test_a"}
    assert cached(inner, LAST_RUN_KEY)["test_a.py::test_a"]["flops"] == linear_flops(4, 10, 10)

    inner.runpytest("test_a.py").assert_outcomes(passed=1)  # partial: test_b stays
    assert set(cached(inner, LAST_RUN_KEY)) == {"test_a.py::test_a", "test_b.py::test_a"}
    assert cached(inner, SEEN_KEY) == {
        "run": 2,
        "tests": {"test_a.py::test_a": 2, "test_b.py::test_a": 1},
    }

    (inner.path / "test_b.py").unlink()
    inner.runpytest().assert_outcomes(passed=1)  # full: test_b is gone
    assert set(cached(inner, LAST_RUN_KEY)) == {"test_a.py::test_a"}
    assert cached(inner, SEEN_KEY) == {"run": 3, "tests": {"test_a.py::test_a": 3}}


FLOPS = linear_flops(4, 10, 10)  # 840


PARAMS = linear_params(10, 10)  # 110


# --- malformed baselines -------------------------------------------------------------------------

NODE = "test_x.py::test_linear"


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


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
    (warned,) = warning_messages(result)
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
            "bytes_moved": linear_bytes(4, 10, 10),
            "latency_ns": None,
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
    assert len(warning_messages(result)) == int(warns)
    assert warning_messages(pytester.runpytest()) == []  # the run rewrote the cache
