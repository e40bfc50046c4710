"""The HTML report in a real browser: Debian's chromium driven by Playwright for Python (the
package only; the browser is the system's). Skipped, saying why, without either."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_flopbudget.reporting.html import html_report
from pytest_flopbudget.text import format_delta, human
from tests.reports.test_html import ONE_TEST, history_of
from tests.support import LINEAR_MODELS, write_tests

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def module(name: str, kind: str, flops: int, params: int) -> dict[str, Any]:
    return {
        "name": name,
        "type": kind,
        "calls": 1,
        "macs": flops // 2,
        "flops": flops,
        "params": params,
        "bytes_moved": 4 * flops,
    }


# Net (1000 FLOPs) = enc (600: a 200, b 400) + head (300) + 100 of its own
NET = [
    module("Net", "Net", 1000, 90),
    module("Net.enc", "Sequential", 600, 60),
    module("Net.enc.b", "Linear", 400, 20),
    module("Net.head", "Linear", 300, 30),
    module("Net.enc.a", "Linear", 200, 40),
]


def entry(
    nodeid: str,
    status: str,
    flops: int,
    limit: int,
    before: int | None,
    modules: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    params = 90
    totals = {
        "flops": flops,
        "macs": flops // 2,
        "params": params,
        "nonzero_params": params,
        "sparse_flops": flops,
        "param_bytes": 4 * params,
        "bytes_moved": 4 * flops,
        "latency_ns": None,
    }
    return {
        "nodeid": nodeid,
        "location": nodeid.replace("::", ":1 "),
        "outcome": "failed" if status.startswith(("over", "grew")) else "passed",
        "status": status,
        "totals": totals,
        "hardware": None,
        "budget": {"flops": limit},
        "violations": [],
        "previous": None if before is None else {"flops": before, "params": params},
        "delta": {
            "budget": flops / limit - 1,
            "flops": None if before is None else flops / before - 1,
            "params": None if before is None else 0.0,
        },
        "top_modules": [],
        "modules": modules or [module("M", "Linear", flops, params)],
        "modules_left_out": 0,
        "ops": {},
        "uncounted": {},
        "fingerprint": "f",
        "module_budgets": {},
        "statistic": None,
        "distribution": None,
        "phases": {},
        "phase_budgets": {},
        **extra,
    }


def three(flops: int) -> dict[str, int]:
    return {"flops": flops, "macs": flops // 2, "bytes_moved": 4 * flops}


REPORT = {
    "schema": "pytest-flopbudget/report",
    "schema_version": 2,
    "created": "2026-12-07T12:00:00+00:00",
    "commit": "a" * 40,
    "plugin_version": "0.1.0",
    "torch_version": "2.13.0",
    "python_version": "3.11.7",
    "count": "all",
    "compared_with": "baseline base.json",
    "tests": [
        entry(
            "tests/test_m.py::test_big",
            "over:flops",
            1000,
            800,
            800,
            NET,
            phases={
                "prefill": {
                    "entries": 1,
                    "total": three(700),
                    "mean": three(700),
                    "max": three(700),
                    "last": three(700),
                },
                "decode": {
                    "entries": 3,
                    "total": three(300),
                    "mean": three(100),
                    "max": three(100),
                    "last": three(100),
                },
            },
        ),
        entry("tests/test_m.py::test_grown", "grew:flops", 5_500, 10_000, 5_000),
        entry(
            "tests/test_m.py::test_small",
            "ok",
            12_345_678,
            20_000_000,
            12_345_678,
            statistic="p95",
            distribution={
                "count": 10,
                "statistic": "p95",
                "mean": three(10_000_000),
                "std": None,
                "min": three(8_000_000),
                "p50": three(9_000_000),
                "p95": three(12_345_678),
                "max": three(13_000_000),
            },
        ),
    ],
    "gone": [],
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


def opened(browser: Any, path: Path, report: dict[str, Any], **more: Any) -> tuple[Any, list]:
    """The page of `report` (`more`: html_report's other arguments) written to `path` and
    opened from disk, and the console errors it logs (as they come)."""
    path.write_text(html_report(report, **more), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    return page, errors


@pytest.fixture
def page(browser: Any, tmp_path: Path) -> Iterator[Any]:
    """The report of REPORT (with a four-run history); after the test, no console errors."""
    shown, errors = opened(browser, tmp_path / "report.html", REPORT, history=history_of(REPORT, 4))
    yield shown
    shown.close()
    assert errors == []


def nodeids(page: Any) -> list[str]:
    return page.eval_on_selector_all("#tests tbody tr", "rows => rows.map(r => r.dataset.nodeid)")


def cells(page: Any, key: str) -> list[tuple[str, str]]:
    """Each row's cell of column `key`: (its text, its exact value)."""
    return [
        (text.strip(), value)
        for text, value in page.eval_on_selector_all(
            f"#tests tbody td[data-key='{key}']",
            "tds => tds.map(td => [td.textContent, td.dataset.value || ''])",
        )
    ]


def test_the_table_holds_the_reports_tests_and_numbers(page):
    tests = REPORT["tests"]
    assert page.text_content("#verdict") == "✗ 2 budgeted tests failed: 1 over budget, 1 grew"
    assert nodeids(page) == [t["nodeid"] for t in tests]
    assert [text for text, _ in cells(page, "status")] == [t["status"] for t in tests]
    for key, of in (("flops", "flops"), ("macs", "macs"), ("params", "params")):
        assert cells(page, key) == [(human(t["totals"][of]), str(t["totals"][of])) for t in tests]
    assert cells(page, "budget") == [
        (human(t["budget"]["flops"]), str(t["budget"]["flops"])) for t in tests
    ]
    assert [text for text, _ in cells(page, "dbudget")] == [
        format_delta(t["delta"]["budget"]) for t in tests
    ]
    assert [text for text, _ in cells(page, "dflops")] == ["+25.0%", "+10.0%", "+0.0%"]
    colours = page.eval_on_selector_all(
        "#tests td[data-key='status'] span", "s => s.map(e => getComputedStyle(e).color)"
    )
    assert colours == ["rgb(207, 34, 46)", "rgb(154, 103, 0)", "rgb(26, 127, 55)"]


def test_a_column_sorts_both_ways_and_the_filters_pick_rows(page):
    page.click("#tests th[data-key='flops']")
    assert nodeids(page) == [
        "tests/test_m.py::test_big",
        "tests/test_m.py::test_grown",
        "tests/test_m.py::test_small",
    ]
    page.click("#tests th[data-key='flops']")
    assert nodeids(page)[0] == "tests/test_m.py::test_small"
    page.click("#tests th[data-key='dbudget']")  # -38.3%, -45.0%, +25.0%
    assert nodeids(page) == [
        "tests/test_m.py::test_grown",
        "tests/test_m.py::test_small",
        "tests/test_m.py::test_big",
    ]
    page.click("#filters button[data-filter='failing']")
    assert nodeids(page) == ["tests/test_m.py::test_grown", "tests/test_m.py::test_big"]
    page.click("#filters button[data-filter='grown']")
    assert nodeids(page) == ["tests/test_m.py::test_grown", "tests/test_m.py::test_big"]
    page.click("#filters button[data-filter='all']")
    assert len(nodeids(page)) == 3


def widths(page: Any) -> dict[str, float]:
    """The icicle's bars by module name ("(test)" the test's bar): their widths in pixels."""
    return page.eval_on_selector_all(
        "#icicle .node",
        """ns => Object.fromEntries(ns.map(n => [
            n.classList.contains("root") ? "(test)" : n.dataset.name,
            n.getBoundingClientRect().width]))""",
    )


def test_clicking_a_module_zooms_into_it_and_the_top_bar_zooms_out(page, tmp_path):
    page.click("#tests tbody tr[data-nodeid='tests/test_m.py::test_big']")
    full = page.eval_on_selector("#icicle", "e => e.clientWidth")
    bars = widths(page)
    assert set(bars) == {"(test)", "Net", "Net.enc", "Net.enc.a", "Net.enc.b", "Net.head"}
    for name, flops in [("(test)", 1000)] + [(m["name"], m["flops"]) for m in NET]:
        assert bars[name] == pytest.approx(full * flops / 1000, abs=1.5)
    page.click("#icicle .node[data-name='Net.enc']")
    zoomed = widths(page)
    assert set(zoomed) == {"Net.enc", "Net.enc.a", "Net.enc.b"}
    assert zoomed["Net.enc"] == pytest.approx(full, abs=1.5)
    assert zoomed["Net.enc.a"] == pytest.approx(full * 200 / 600, abs=1.5)
    assert zoomed["Net.enc.b"] == pytest.approx(full * 400 / 600, abs=1.5)
    page.hover("#icicle .node[data-name='Net.enc.b']")
    tip = page.text_content("#tip")
    assert tip.splitlines()[:3] == ["Net.enc.b", "type: Linear", "calls: 1"]
    assert "FLOPs: 400 (400)" in tip
    page.screenshot(path=str(tmp_path / "zoomed.png"), full_page=True)
    page.click("#icicle .node[data-name='Net.enc']")  # the top bar: out to its parent
    assert set(widths(page)) == {"Net", "Net.enc", "Net.enc.a", "Net.enc.b", "Net.head"}
    page.click("#icicle .node[data-name='Net']")
    assert "(test)" in widths(page)
    page.click("#metrics button[data-metric='params']")  # Net 90 = enc 60 (a 40, b 20) + head 30
    by_params = widths(page)
    assert by_params["Net.enc.a"] == pytest.approx(full * 40 / 90, abs=1.5)
    assert by_params["Net.head"] == pytest.approx(full * 30 / 90, abs=1.5)
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_phases_distribution_and_trend_get_their_charts(page):
    page.click("#tests tbody tr[data-nodeid='tests/test_m.py::test_big']")
    assert page.eval_on_selector_all("#charts figure", "f => f.map(e => e.dataset.chart)") == [
        "phases: FLOPs in total",
        "trend",
    ]
    assert page.locator("#charts svg circle").count() == 4  # one per history entry
    page.click("#tests tbody tr[data-nodeid='tests/test_m.py::test_small']")
    caption = "FLOPs over 10 inputs (gated: p95)"
    assert page.eval_on_selector_all("#charts figure", "f => f.map(e => e.dataset.chart)") == [
        caption,
        "trend",
    ]
    labels = page.eval_on_selector_all(
        f"#charts figure[data-chart='{caption}'] .hbar > span:nth-child(3n+1)",
        "s => s.map(e => e.textContent)",
    )
    assert labels == ["min", "mean", "p50", "p95", "max"]


def test_the_model_named_empty_is_the_parent_of_the_top_modules(browser, tmp_path):
    """``flopbudget MODEL --html`` names the model itself "" and its children "a", "b"."""
    modules = [
        module("", "MLP", 1000, 9),
        module("a", "Linear", 600, 6),
        module("b", "Linear", 300, 3),
    ]
    report = {**REPORT, "tests": [{**entry("m:mlp", "new", 1000, 1, None, modules), "budget": {}}]}
    page, errors = opened(browser, tmp_path / "cli.html", report)
    assert page.text_content("#verdict") == "1 measured, no budget set"
    depths = page.eval_on_selector_all(
        "#icicle .node:not(.root)", "ns => ns.map(n => [n.dataset.name, n.textContent])"
    )
    assert depths == [["", "MLP 1.00K"], ["a", "a 600"], ["b", "b 300"]]
    levels = page.eval_on_selector_all("#icicle .node", "ns => ns.map(n => +n.dataset.depth)")
    assert levels == [0, 1, 2, 2]
    page.click("#icicle .node[data-name='a']")
    page.click("#icicle .node[data-name='a']")  # out: to the model
    assert page.eval_on_selector("#icicle .node", "n => n.dataset.name") == ""
    page.close()
    assert errors == []


def test_with_the_earlier_runs_modules_each_module_is_coloured_by_its_own_growth(browser, tmp_path):
    big = REPORT["tests"][0]
    earlier = {
        big["nodeid"]: {
            "modules": [
                {**m, "flops": m["flops"] // 2} if m["name"] == "Net.head" else m for m in NET
            ]
        }
    }
    page, errors = opened(browser, tmp_path / "deltas.html", REPORT, earlier=earlier)
    colours = page.eval_on_selector_all(
        "#icicle .node:not(.root)",
        "ns => Object.fromEntries(ns.map(n => [n.dataset.name, n.style.background]))",
    )
    assert colours["Net.head"] != colours["Net.enc.a"]  # head doubled, the rest the same
    assert colours["Net.enc.a"] == colours["Net.enc.b"]
    assert page.text_content("#legend").startswith("colour: each module's FLOP change")
    page.close()
    assert errors == []


def test_a_runs_page_shows_the_numbers_of_its_json_report(browser, pytester):
    write_tests(pytester, LINEAR_MODELS, ONE_TEST + ONE_TEST.replace("test_two", "test_twice"))
    result = pytester.runpytest("--flop-report=html:r.html", "--flop-report=json:r.json")
    result.assert_outcomes(passed=2)
    report = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    page = browser.new_page()
    page.goto((pytester.path / "r.html").as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    assert nodeids(page) == [t["nodeid"] for t in report["tests"]]
    for key in ("flops", "macs", "params", "bytes_moved"):
        assert [int(value) for _, value in cells(page, key)] == [
            t["totals"][key] for t in report["tests"]
        ]
    assert page.text_content("#verdict") == "✓ 2 budgeted tests within budget"
    page.close()
