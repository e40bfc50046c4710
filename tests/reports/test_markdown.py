"""The Markdown report."""

from __future__ import annotations

from pytest_flopbudget.budgets.verdict import TestRow
from pytest_flopbudget.reporting.markdown import MARKDOWN_ROWS, markdown_report
from pytest_flopbudget.text import human
from tests.projects import make_baseline, module_lines, write_growing_tests
from tests.support import (
    FLOPS,
    TREE_MODELS,
    linear_flops,
    linear_params,
    pct,
    write_tests,
)

# Linear(10, 20): twice the work and the parameters.
FLOPS_20, PARAMS_20 = linear_flops(4, 10, 20), linear_params(10, 20)


assert (FLOPS_20, PARAMS_20) == (1680, 220)


def markdown_rows(text: str) -> list[dict[str, str]]:
    lines = text.splitlines()
    start = lines.index("|---|---|--:|--:|--:|--:|--:|--:|")

    def cells(line: str) -> list[str]:
        return [cell.strip() for cell in line.strip().strip("|").split("|")]

    header = cells(lines[start - 1])
    rows = []
    for line in lines[start + 1 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, cells(line), strict=True)))
    return rows


FOUR_TESTS = """
@pytest.mark.flop_budget(max_gflops=1)
def test_a_little():
    nn.Linear(10, {little})(x())

@pytest.mark.flop_budget(max_flops=500)
def test_b_over():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_gflops=1)
def test_c_same():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_gflops=1)
def test_d_lot():
    nn.Linear(10, {lot})(x())
"""


def test_markdown_report_puts_over_budget_rows_first_then_the_changed_ones(pytester):
    write_tests(pytester, TREE_MODELS, FOUR_TESTS.format(little=10, lot=10))
    pytester.runpytest().assert_outcomes(passed=3, failed=1)  # the last run, in the cache
    write_tests(pytester, TREE_MODELS, FOUR_TESTS.format(little=11, lot=20))
    result = pytester.runpytest("--flop-report=markdown:report.md")
    result.assert_outcomes(passed=3, failed=1)
    text = (pytester.path / "report.md").read_text(encoding="utf-8")
    assert text.startswith(
        "### ❌ FLOP budget: 1 budgeted test failed: 1 over budget\n\n"
        "Compared with the last run; growth not checked (no --flop-fail-on-increase).\n"
    )
    little = linear_flops(4, 10, 11)
    assert pct(little, FLOPS) == "+10.0%"
    rows = markdown_rows(text)
    assert list(rows[0]) == [
        *("status", "test", "FLOPs", "budget", "Δ budget", "Δ last", "params", "Δ params"),
    ]
    assert [(r["status"], r["test"], r["FLOPs"], r["Δ last"], r["Δ params"]) for r in rows] == [
        ("🔴 over:flops", "`test_x.py::test_b_over`", str(FLOPS), "+0.0%", "+0.0%"),
        ("✅ ok", "`test_x.py::test_d_lot`", human(FLOPS_20), pct(FLOPS_20, FLOPS), "+100.0%"),
        ("✅ ok", "`test_x.py::test_a_little`", str(little), "+10.0%", "+10.0%"),
    ]  # test_c_same is unchanged: only counted
    assert "1 unchanged test not shown." in text.splitlines()
    over = rows[0]
    assert (over["budget"], over["Δ budget"], over["params"]) == ("500", pct(FLOPS, 500), "110")


def test_markdown_report_appends_to_the_github_step_summary_and_overwrites_elsewhere(
    pytester, monkeypatch
):
    step_summary = pytester.path / "step_summary.md"
    earlier = "## Lint\n\nall clean\n"
    step_summary.write_text(earlier, encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    write_tests(
        pytester,
        TREE_MODELS,
        "@pytest.mark.flop_budget(max_gflops=1)\ndef test_a():\n    nn.Linear(10, 10)(x())\n",
    )
    for _ in range(2):
        args = ("--flop-report=markdown:step_summary.md", "--flop-report=markdown:pr.md")
        pytester.runpytest(*args).assert_outcomes(passed=1)

    appended = step_summary.read_text(encoding="utf-8")
    overwritten = (pytester.path / "pr.md").read_text(encoding="utf-8")
    heading = "### ✅ FLOP budget: 1 budgeted test within budget\n"
    assert overwritten.startswith(heading) and overwritten.count(heading) == 1
    assert appended.startswith(earlier)  # the earlier steps' content is kept
    assert appended.count(heading) == 2  # each run appends its table
    assert "`test_x.py::test_a`" in appended[len(earlier) :]


def test_markdown_shows_module_deltas_in_a_details_block_per_grown_test(pytester, monkeypatch):
    make_baseline(pytester, monkeypatch)
    write_growing_tests(pytester, 4)
    result = pytester.runpytest(
        "--flop-baseline=base.json", "--flop-fail-on-increase=5%", "--flop-report=markdown:pr.md"
    )
    result.assert_outcomes(passed=3, failed=2)
    text = (pytester.path / "pr.md").read_text(encoding="utf-8")
    heading, *modules = module_lines(3, 4, "the baseline")
    for name in ("test_grows", "test_over"):
        summary = f"<details><summary><code>test_x.py::{name}</code>: {heading}</summary>"
        assert summary in text
        block = text[text.index(summary) :]
        block = block[: block.index("</details>")]
        assert block.splitlines()[2:] == [f"- `{line.strip()}`" for line in modules] + [""]
    assert "<code>test_x.py::test_same</code>" not in text  # unchanged: no block


# --- 3. a Markdown report a reviewer trusts -------------------------------------------------------


def test_markdown_starts_with_the_verdict_and_names_baseline_and_threshold(pytester, monkeypatch):
    report = make_baseline(pytester, monkeypatch)
    write_growing_tests(pytester, 4)
    result = pytester.runpytest(
        "--flop-baseline=base.json", "--flop-fail-on-increase=5%", "--flop-report=markdown:pr.md"
    )
    result.assert_outcomes(passed=3, failed=2)
    lines = (pytester.path / "pr.md").read_text(encoding="utf-8").splitlines()
    # test_over is over its budget (and grew); test_grows only grew
    assert (
        lines[0] == "### ❌ FLOP budget: 2 budgeted tests failed: 1 over budget, 1 grew past +5.0%"
    )
    assert lines[2] == (
        f"Compared with the baseline `base.json` (made {report['created']}, commit "
        "`0123456789ab`); growth allowed: +5.0%."
    )
    statuses = [line.split("|")[1].strip() for line in lines if line.startswith("| ")][1:]
    # the three unchanged tests are counted, not shown; a status names what failed
    assert statuses == ["🔴 over:flops", "🟠 grew:flops+params"]
    assert "3 unchanged tests not shown." in lines
    assert "- `test_x.py::test_uncounted`: `aten::logcumsumexp` ×1" in lines


def test_markdown_verdict_when_everything_is_within_budget(pytester):
    write_growing_tests(pytester, 3)
    pytester.runpytest("--flop-report=markdown:pr.md").assert_outcomes(passed=5)
    lines = (pytester.path / "pr.md").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "### ✅ FLOP budget: 5 budgeted tests within budget"
    assert lines[2] == (  # a first run
        "No earlier run to compare with (a first run, or pytest's cache is off); "
        "growth not checked (no --flop-fail-on-increase)."
    )


def test_markdown_caps_its_rows_and_counts_the_rest():
    def row(i: int, flops: int) -> TestRow:
        return TestRow(
            f"test_{i:04d}_{'y' * 2000}",
            "t.py:1",
            "all",
            True,
            {"flops": flops, "macs": 0, "params": 1, "nonzero_params": 1, "sparse_flops": flops},
        )

    rows = [row(i, 2) for i in range(600)] + [row(600 + i, 1) for i in range(10)]
    previous = {r.nodeid: {"flops": 1, "params": 1} for r in rows}
    text = markdown_report(rows, previous, "last")
    assert len(text.encode()) < 2**20
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + MARKDOWN_ROWS  # the header, then the rows
    assert f"{600 - MARKDOWN_ROWS} more changed tests and 10 unchanged tests not shown." in text
