"""``--flop-report=html:PATH``: one self-contained page holding the run's JSON report."""

from __future__ import annotations

import base64
import gzip
import json
import re
from pathlib import Path
from typing import Any

from pytest_flopbudget.reporting.formats import FORMATS, parse_targets
from pytest_flopbudget.reporting.html import (
    DATA_ID,
    html_report,
    module_deltas,
    trends,
    verdict_line,
)
from tests.support import FLOPS, LINEAR_MODELS, write_tests

MB = 2**20


def page_data(page: str) -> dict[str, Any]:
    """What the page holds: its embedded data, unpacked as the browser does."""
    found = re.search(rf'<script type="application/gzip\+base64" id="{DATA_ID}">([^<]*)<', page)
    assert found is not None
    return json.loads(gzip.decompress(base64.b64decode(found.group(1))))


def synthetic_report(tests: int, modules: int, previous: bool = True) -> dict[str, Any]:
    """A JSON report of `tests` tests of `modules` modules each: a root `Net`, `blocks`, and
    under it blocks `blocks.i` each with an `attn` child; numbers in the billions, as a large
    model's."""
    entries = []
    for t in range(tests):
        names = ["Net", "Net.blocks"]
        i = 0
        while len(names) < modules:
            names.append(f"Net.blocks.{i}")
            if len(names) < modules:
                names.append(f"Net.blocks.{i}.attn")
            i += 1
        mods = [
            {
                "name": name,
                "type": "Linear" if name.endswith("attn") else "Block",
                "calls": 1,
                "macs": 1_234_567_891 + 7 * k + t,
                "flops": 2 * (1_234_567_891 + 7 * k + t),
                "params": 12_345_678 + k,
                "bytes_moved": 98_765_432 + k,
                "latency_ns": 1_234_567 + k,
            }
            for k, name in enumerate(names)
        ]
        totals = {
            "flops": mods[0]["flops"],
            "macs": mods[0]["macs"],
            "params": mods[0]["params"],
            "nonzero_params": mods[0]["params"],
            "sparse_flops": mods[0]["flops"],
            "param_bytes": 4 * mods[0]["params"],
            "bytes_moved": mods[0]["bytes_moved"],
            "latency_ns": mods[0]["latency_ns"],
        }
        entries.append(
            {
                "nodeid": f"tests/models/test_model_{t:03}.py::test_forward[config-{t}]",
                "location": f"tests/models/test_model_{t:03}.py:12",
                "outcome": "passed",
                "status": "ok",
                "totals": totals,
                "hardware": "h100",
                "budget": {"flops": 3 * totals["flops"], "params": 2 * totals["params"]},
                "violations": [],
                "previous": dict(totals) if previous else None,
                "delta": {
                    "budget": -2 / 3,
                    "flops": 0.0 if previous else None,
                    "params": 0.0 if previous else None,
                },
                "top_modules": [{k: m[k] for k in ("name", "type", "flops")} for m in mods[:5]],
                "modules": mods,
                "modules_left_out": 0,
                "ops": {
                    f"aten.op{k}": {
                        "calls": 3,
                        "macs": 10**9,
                        "flops": 2 * 10**9,
                        "bytes_moved": 10**8,
                    }
                    for k in range(12)
                },
                "uncounted": {},
                "fingerprint": "4abaddb81721",
                "module_budgets": {},
                "statistic": None,
                "distribution": None,
                "phases": {},
                "phase_budgets": {},
            }
        )
    return {
        "schema": "pytest-flopbudget/report",
        "schema_version": 2,
        "created": "2026-12-07T12:00:00+00:00",
        "commit": "3f2a9c" * 6 + "abcd",
        "plugin_version": "0.1.0",
        "torch_version": "2.13.0",
        "python_version": "3.11.7",
        "count": "all",
        "compared_with": "baseline base.json" if previous else None,
        "tests": entries,
        "gone": [],
    }


def history_of(report: dict[str, Any], runs: int) -> list[dict[str, Any]]:
    """`runs` history entries, the FLOPs of each test k% larger in the k-th."""
    return [
        {
            "commit": f"{k:040x}",
            "date": f"2026-12-0{k + 1}T00:00:00+00:00",
            "torch_version": "2.13.0",
            "plugin_version": "0.1.0",
            "count": "all",
            "tests": {
                t["nodeid"]: {**t["totals"], "flops": t["totals"]["flops"] * (100 + k) // 100}
                for t in report["tests"]
            },
        }
        for k in range(runs)
    ]


def test_html_is_a_report_format_with_a_path():
    assert FORMATS["html"].render is not None
    assert parse_targets(["html:out.html"]) == (False, [("html", Path("out.html"))])


def test_the_page_holds_the_report_as_it_is_and_loads_nothing():
    report = synthetic_report(3, 7)
    page = html_report(report)
    assert page_data(page)["report"] == report
    # scripts and styles inline: nothing fetched from anywhere
    for fetching in ("<link", "src=", "@import", "url(", "fetch(", "XMLHttpRequest"):
        assert fetching not in page, fetching
    assert re.findall(r"https?://[^\s\"'<]+", page) == ["http://www.w3.org/2000/svg"]  # a name


def test_200_tests_of_200_modules_with_history_stay_under_2_mb():
    report = synthetic_report(200, 200)
    assert sum(len(t["modules"]) for t in report["tests"]) == 200 * 200
    page = html_report(report, history_of(report, 30), {t["nodeid"]: t for t in report["tests"]})
    assert len(page.encode()) < 2 * MB
    assert page_data(page)["report"] == report


def test_trends_are_each_tests_flops_over_the_history_entries_that_have_it():
    history = [
        {"commit": "a", "date": "d1", "tests": {"t::a": {"flops": 10}, "t::b": {"flops": 5}}},
        {"commit": None, "date": "d2", "tests": {"t::a": {"flops": 12}}},
        {"commit": "c", "date": "d3", "tests": {"t::a": {"flops": None}}},  # unknown: no point
    ]
    assert trends(history, ["t::a", "t::b", "t::c"]) == {
        "t::a": [
            {"commit": "a", "date": "d1", "flops": 10},
            {"commit": None, "date": "d2", "flops": 12},
        ],
        "t::b": [{"commit": "a", "date": "d1", "flops": 5}],
    }


def test_module_deltas_compare_each_module_with_its_namesake_of_the_earlier_run():
    now = [
        {
            "nodeid": "t::a",
            "modules": [{"name": "Net", "flops": 150}, {"name": "Net.new", "flops": 50}],
        },
        {"nodeid": "t::b", "modules": [{"name": "Net", "flops": 1}]},
    ]
    earlier = {"t::a": {"modules": [{"name": "Net", "flops": 100}]}}
    assert module_deltas(now, earlier) == {"t::a": {"Net": 150 / 100 - 1, "Net.new": None}}


ONE_TEST = """
@pytest.mark.flop_budget(max_gflops=1)
def test_two():
    Two()(x())
"""


def test_flop_report_html_writes_the_page_of_the_runs_json_report(pytester):
    write_tests(pytester, LINEAR_MODELS, ONE_TEST)
    result = pytester.runpytest("--flop-report=html:out/r.html", "--flop-report=json:r.json")
    result.assert_outcomes(passed=1)
    page = (pytester.path / "out" / "r.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    held = page_data(page)["report"]
    written = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    held.pop("created"), written.pop("created")  # each stamped when written
    assert held == written
    (test,) = held["tests"]
    assert test["totals"]["flops"] == 2 * FLOPS
    assert [m["name"] for m in test["modules"]] == ["Two", "Two.a", "Two.b"]


def test_against_a_baseline_the_page_holds_each_modules_flop_change(pytester):
    write_tests(pytester, LINEAR_MODELS, ONE_TEST)
    pytester.runpytest("--flop-report=json:base.json").assert_outcomes(passed=1)
    write_tests(
        pytester, LINEAR_MODELS, ONE_TEST.replace("Two()(x())", "m = Two()\n    m(x())\n    m(x())")
    )
    result = pytester.runpytest("--flop-baseline=base.json", "--flop-report=html:r.html")
    result.assert_outcomes(passed=1)
    data = page_data((pytester.path / "r.html").read_text(encoding="utf-8"))
    # the model called twice: each module twice its baseline's FLOPs
    assert data["module_deltas"] == {
        "test_x.py::test_two": {"Two": 1.0, "Two.a": 1.0, "Two.b": 1.0}
    }
    assert data["report"]["tests"][0]["delta"]["flops"] == 1.0


def test_the_verdict_is_the_markdown_reports_with_a_text_mark_and_a_colour():
    over = {"status": "over:flops", "budget": {"flops": 1}}
    grew = {"status": "grew:flops", "budget": {"flops": 1}}
    ok = {"status": "ok", "budget": {"flops": 1}}
    assert verdict_line([over, grew, ok], 0.05) == {
        "text": "✗ 2 budgeted tests failed: 1 over budget, 1 grew past +5.0%",
        "tone": "red",
    }
    assert verdict_line([ok], None) == {"text": "✓ 1 budgeted test within budget", "tone": "green"}
    unbudgeted = {"status": "new", "budget": {}}
    assert verdict_line([unbudgeted], None) == {"text": "1 measured, no budget set", "tone": ""}
