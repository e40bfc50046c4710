"""The JSON report: its schema, exact totals, module trees, and strict JSON."""

from __future__ import annotations

import json
import platform
import re
from datetime import datetime, timedelta
from importlib.metadata import version

import pytest

from tests.projects import (
    OVER_AND_TWO,
    definition_line,
    load_json,
    make_baseline,
    make_project,
    net_flops,
    net_params,
)
from tests.support import (
    BYTES_MOVED,
    FLOPS,
    MACS,
    PARAMS,
    TREE_MODELS,
    linear_bytes,
    linear_flops,
    linear_params,
    pct,
    row_of,
    write_tests,
)

# --- 2. report files: JSON and Markdown ---------------------------------------------------------


# Two's aten.logcumsumexp reads and writes its (4, 10) float32 input
LOGCUMSUMEXP_BYTES = 2 * 4 * 10 * 4


def test_json_report_follows_the_documented_schema_with_exact_totals(pytester):
    source = write_tests(pytester, TREE_MODELS, OVER_AND_TWO)
    result = pytester.runpytest("--flop-report=json:out/report.json")
    result.assert_outcomes(passed=2, failed=1)
    report_path = pytester.path / "out" / "report.json"
    assert f"flop budget: wrote the json report to {report_path}" in result.outlines
    report = load_json(pytester, "out/report.json")

    assert list(report) == [
        *("schema", "schema_version", "created", "commit", "plugin_version", "torch_version"),
        *("python_version", "count", "compared_with", "tests", "gone"),
    ]
    assert (report["schema"], report["schema_version"]) == ("pytest-flopbudget/report", 2)
    assert report["plugin_version"] == version("pytest-flopbudget")
    assert report["torch_version"] == version("torch")
    assert report["python_version"] == platform.python_version()
    assert datetime.fromisoformat(report["created"]).utcoffset() == timedelta(0)
    # a first run: no last run to compare with
    assert (report["count"], report["compared_with"], report["gone"]) == ("all", None, [])

    over, two = report["tests"]  # sorted by node id; the unbudgeted test is not there
    entry_keys = [
        *("nodeid", "location", "outcome", "status", "totals", "hardware", "budget", "violations"),
        *("warnings", "previous", "delta", "top_modules", "modules", "modules_left_out", "ops"),
        *("uncounted", "fingerprint", "module_budgets"),
        *("statistic", "distribution", "phases", "phase_budgets"),
    ]
    assert list(over) == list(two) == entry_keys
    fingerprint = over.pop("fingerprint")
    assert re.fullmatch("[0-9a-f]{12}", fingerprint) and two.pop("fingerprint") == fingerprint
    assert over == {
        "nodeid": "test_x.py::test_over",
        "location": f"test_x.py:{definition_line(source, 'test_over')}",
        "outcome": "failed",
        "status": "over:flops",
        "totals": {
            "flops": FLOPS,
            "macs": MACS,
            "params": PARAMS,
            "nonzero_params": PARAMS,
            "sparse_flops": FLOPS,
            "param_bytes": 4 * PARAMS,  # float32
            "bytes_moved": BYTES_MOVED,
            "latency_ns": None,  # no device
        },
        "hardware": None,
        "budget": {"flops": 500},
        "violations": [f"FLOP budget exceeded: {FLOPS} FLOPs > 500 FLOPs ({pct(FLOPS, 500)})"],
        "warnings": [],
        "previous": None,
        "delta": {"budget": pytest.approx(FLOPS / 500 - 1), "flops": None, "params": None},
        "top_modules": [],  # one module holding all the work says nothing
        "modules": [
            {
                "name": "Linear",
                "type": "Linear",
                "calls": 1,
                "macs": MACS,
                "flops": FLOPS,
                "params": PARAMS,
                "bytes_moved": BYTES_MOVED,
            },
        ],
        "modules_left_out": 0,
        "ops": {
            "aten.addmm": {"calls": 1, "macs": MACS, "flops": FLOPS, "bytes_moved": BYTES_MOVED}
        },
        "uncounted": {},
        "module_budgets": {},
        "statistic": None,  # no distribution recorded
        "distribution": None,
        "phases": {},  # no phase entered
        "phase_budgets": {},
    }
    assert two == {
        "nodeid": "test_x.py::test_two",
        "location": f"test_x.py:{definition_line(source, 'test_two')}",
        "outcome": "passed",
        "status": "new",
        "totals": {
            "flops": 2 * FLOPS,
            "macs": 2 * MACS,
            "params": 2 * PARAMS,
            "nonzero_params": 2 * PARAMS,
            "sparse_flops": 2 * FLOPS,
            "param_bytes": 8 * PARAMS,
            "bytes_moved": 2 * BYTES_MOVED + LOGCUMSUMEXP_BYTES,
            "latency_ns": None,
        },
        "hardware": None,
        "budget": {"flops": 10**9},
        "violations": [],
        "warnings": [],
        "previous": None,
        "delta": {"budget": pytest.approx(2 * FLOPS / 10**9 - 1), "flops": None, "params": None},
        "top_modules": [
            {"name": "Two.a", "type": "Linear", "flops": FLOPS},
            {"name": "Two.b", "type": "Linear", "flops": FLOPS},
        ],
        "modules": [  # the costliest first, ties by name
            {
                "name": "Two",
                "type": "Two",
                "calls": 1,
                "macs": 2 * MACS,
                "flops": 2 * FLOPS,
                "params": 2 * PARAMS,
                "bytes_moved": 2 * BYTES_MOVED + LOGCUMSUMEXP_BYTES,
            },
            {
                "name": "Two.a",
                "type": "Linear",
                "calls": 1,
                "macs": MACS,
                "flops": FLOPS,
                "params": PARAMS,
                "bytes_moved": BYTES_MOVED,
            },
            {
                "name": "Two.b",
                "type": "Linear",
                "calls": 1,
                "macs": MACS,
                "flops": FLOPS,
                "params": PARAMS,
                "bytes_moved": BYTES_MOVED,
            },
        ],
        "modules_left_out": 0,
        "ops": {
            "aten.addmm": {
                "calls": 2,
                "macs": 2 * MACS,
                "flops": 2 * FLOPS,
                "bytes_moved": 2 * BYTES_MOVED,
            },
            # no FLOP formula, but its bytes are priced by rule
            "aten.logcumsumexp": {
                "calls": 1,
                "macs": 0,
                "flops": 0,
                "bytes_moved": LOGCUMSUMEXP_BYTES,
            },
        },
        "uncounted": {"aten.logcumsumexp": 1},
        "module_budgets": {},
        "statistic": None,
        "distribution": None,
        "phases": {},
        "phase_budgets": {},
    }


# --- issue 17, 23: compared_with says what there was to compare with -----------------------------


def test_compared_with_is_null_without_a_last_run_and_last_run_with_one(pytester):
    make_project(pytester, "")
    runs = [
        ("-p", "no:cacheprovider"),  # no cache: nothing to compare with
        (),  # a first run: nothing in the cache yet
        (),  # the cache holds the run before
        ("-p", "no:cacheprovider"),
    ]
    seen = []
    for options in runs:
        pytester.runpytest("--flop-report=json:r.json", *options).assert_outcomes(passed=2)
        seen.append(load_json(pytester, "r.json")["compared_with"])
    assert seen == [None, None, "last run", None]


# --- malformed baselines -------------------------------------------------------------------------

NODE = "test_x.py::test_linear"


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


B, D = 4, 10


BLOCK = linear_flops(B, D, D) + B * D  # the Linear, then ReLU: 1 per element


BLOCK_PARAMS = linear_params(D, D)


# --- 1. why it grew -------------------------------------------------------------------------------


# a block's Linear(D, D) and its ReLU, which reads and writes B·D float32 elements
RELU_BYTES = 2 * B * D * 4
BLOCK_BYTES = linear_bytes(B, D, D) + RELU_BYTES


def test_json_report_v2_keeps_each_tests_module_tree_and_op_totals(pytester, monkeypatch):
    report = make_baseline(pytester, monkeypatch)
    assert report["schema_version"] == 2
    assert report["commit"] == "0123456789abcdef0123456789abcdef01234567"
    grows = next(t for t in report["tests"] if t["nodeid"] == "test_x.py::test_grows")
    modules = {m["name"]: m for m in grows["modules"]}
    assert modules["Net"]["flops"] == net_flops(3) and modules["Net"]["params"] == net_params(3)
    assert modules["Net.blocks"] == {
        "name": "Net.blocks",
        "type": "Sequential",
        "calls": 1,
        "macs": 3 * B * D * D,
        "flops": 3 * BLOCK,
        "params": 3 * BLOCK_PARAMS,
        "bytes_moved": 3 * BLOCK_BYTES,
    }
    assert modules["Net.blocks.2.fc"]["flops"] == linear_flops(B, D, D)
    assert len(grows["modules"]) == 1 + 1 + 1 + 3 * 2 and grows["modules_left_out"] == 0
    flops = [m["flops"] for m in grows["modules"]]
    assert flops == sorted(flops, reverse=True)  # the costliest first
    assert grows["ops"] == {
        "aten.addmm": {
            "calls": 4,
            "macs": 4 * B * D * D,
            "flops": 4 * linear_flops(B, D, D),
            "bytes_moved": 4 * linear_bytes(B, D, D),
        },
        "aten.relu": {"calls": 3, "macs": 0, "flops": 3 * B * D, "bytes_moved": 3 * RELU_BYTES},
    }
