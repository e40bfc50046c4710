"""Budgets on a statistic over inputs and on phases, through pytest: the fixture's
profile_each, phase() in the marker's count, the failure lines, the summary, the JSON report and
--flop-budget-update. Expected numbers are closed forms written here."""

from __future__ import annotations

import json
import math

from tests.support import linear_flops, row_of, summary, write_pyproject, write_tests

# Linear(4, 3) on a (b, 4) input: 27 FLOPs per row
PER_ROW = linear_flops(1, 4, 3)
ROWS = [1, 2, 3, 4, 5]  # one input per row count: 27, 54, 81, 108, 135 FLOPs
MEAN = PER_ROW * sum(ROWS) // len(ROWS)  # 81
P95 = math.ceil(PER_ROW * (4 + 0.8))  # position 0.95 * 4 = 3.8: 108 + 0.8 * 27 = 129.6 -> 130

MODELS = """
import pytest_flopbudget
from torch import nn

def inputs():
    return [torch.ones(rows, 4) for rows in (1, 2, 3, 4, 5)]

def model():
    torch.manual_seed(0)
    return nn.Linear(4, 3)
"""


def failure_of(result, nodeid: str) -> list[str]:
    (report,) = [
        r
        for r in result.reprec.getreports("pytest_runtest_logreport")
        if r.nodeid == nodeid and r.failed
    ]
    return str(report.longrepr).splitlines()


def report_of(pytester) -> dict[str, dict]:
    tests = json.loads((pytester.path / "r.json").read_text())["tests"]
    return {t["nodeid"]: t for t in tests}


def test_a_distribution_is_gated_on_its_statistic(pytester):
    assert (MEAN, P95) == (81, 130)
    write_tests(
        pytester,
        MODELS,
        f"""
        @pytest.mark.flop_budget(max_flops={MEAN})
        def test_mean(flop_budget):
            flop_budget.profile_each(model(), inputs())

        @pytest.mark.flop_budget(max_flops=120, statistic="p95")
        def test_p95(flop_budget):
            flop_budget.profile_each(model(), inputs())
        """,
    )
    result = pytester.runpytest("--flop-report=json:r.json")
    result.assert_outcomes(passed=1, failed=1)
    assert failure_of(result, "test_x.py::test_p95")[0] == (
        f"p95 over 5 inputs: FLOP budget exceeded: {P95} FLOPs > 120 FLOPs (+8.3%)"
    )
    assert row_of(result, "test_x.py::test_p95")["FLOPs"] == f"p95:{P95}"
    assert row_of(result, "test_x.py::test_mean")["FLOPs"] == f"mean:{MEAN}"
    report = report_of(pytester)
    mean = report["test_x.py::test_mean"]
    assert mean["statistic"] == "mean" and mean["totals"]["flops"] == MEAN
    assert mean["distribution"]["count"] == 5
    assert mean["distribution"]["max"]["flops"] == 5 * PER_ROW
    assert mean["distribution"]["p50"]["flops"] == 3 * PER_ROW
    assert report["test_x.py::test_p95"]["totals"]["flops"] == P95


DECODE_TESTS = """
def generate(lin, prompt, steps):
    with pytest_flopbudget.phase("prefill"):
        lin(torch.ones(prompt, 4))
    for step in range(1, steps + 1):  # decode step t runs over t rows
        with pytest_flopbudget.phase("decode"):
            lin(torch.ones(step, 4))

@pytest.mark.flop_budget(phases={"decode": {"max_flops": 75}})
def test_decode_max():
    generate(model(), 6, 3)

@pytest.mark.flop_budget(phases={"decode": {"max_flops": 54, "statistic": "mean"}})
def test_decode_mean():
    generate(model(), 6, 3)

@pytest.mark.flop_budget(phases={"decoder": {"max_flops": 10}})
def test_misnamed():
    generate(model(), 6, 3)
"""


def test_phase_budgets_through_the_marker(pytester):
    write_tests(pytester, MODELS, DECODE_TESTS)
    result = pytester.runpytest("--flop-report=json:r.json")
    result.assert_outcomes(passed=1, failed=2)
    # entries 27, 54, 81: the costliest is 81 > 75 (+8.0%); the mean 54 passes at 54
    assert failure_of(result, "test_x.py::test_decode_max")[0] == (
        f"decode (max per entry): {3 * PER_ROW} FLOPs > 75 FLOPs (+8.0%)"
    )
    assert failure_of(result, "test_x.py::test_misnamed")[0] == (
        "phase budget 'decoder': the test never entered that phase (it entered: prefill, "
        "decode (did you mean 'decode'?))"
    )
    statuses = {row["test"]: row["status"] for row in summary(result)}
    assert statuses["test_x.py::test_decode_max"] == "over:phase"
    assert statuses["test_x.py::test_misnamed"] == "error:phase"
    report = report_of(pytester)
    decode = report["test_x.py::test_decode_mean"]["phases"]["decode"]
    assert decode["entries"] == 3
    assert decode["total"]["flops"] == PER_ROW * (1 + 2 + 3)
    assert decode["mean"]["flops"] == 2 * PER_ROW
    assert decode["max"]["flops"] == decode["last"]["flops"] == 3 * PER_ROW
    assert report["test_x.py::test_decode_mean"]["phases"]["prefill"]["entries"] == 1
    budgets = report["test_x.py::test_decode_max"]["phase_budgets"]["decode"]
    assert budgets["statistic"] == "max" and budgets["over"] == ["flops"]
    assert report["test_x.py::test_decode_max"]["status"] == "over:phase"


def test_phase_and_statistic_in_pyproject(pytester):
    write_tests(
        pytester,
        MODELS,
        """
        def test_each(flop_budget):
            flop_budget.profile_each(model(), inputs())
        """,
    )
    write_pyproject(
        pytester,
        f"""
        [tool.flopbudget]
        statistic = "max"

        [tool.flopbudget.tests."test_x.py::test_each"]
        max_flops = {5 * PER_ROW - 1}
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    assert failure_of(result, "test_x.py::test_each")[0].startswith(
        f"max over 5 inputs: FLOP budget exceeded: {5 * PER_ROW} FLOPs > {5 * PER_ROW - 1} FLOPs"
    )


def test_the_update_writes_the_statistics_value(pytester):
    write_tests(
        pytester,
        MODELS,
        """
        def test_each(flop_budget):
            flop_budget.profile_each(model(), inputs())
        """,
    )
    write_pyproject(
        pytester,
        """
        [tool.flopbudget.tests."test_x.py::test_each"]
        max_flops = 1
        statistic = "p95"
        """,
    )
    result = pytester.runpytest("--flop-budget-update")
    result.assert_outcomes(passed=1)
    text = (pytester.path / "pyproject.toml").read_text()
    assert f"max_flops = {P95}\n" in text


def test_the_update_writes_phase_budgets_on_their_statistic(pytester):
    write_tests(
        pytester,
        MODELS,
        DECODE_TESTS.split("@pytest.mark")[0]
        + """
def test_generate():
    generate(model(), 6, 3)
""",
    )
    write_pyproject(
        pytester,
        """
        [tool.flopbudget.tests."test_x.py::test_generate"]
        max_flops = 1000

        [tool.flopbudget.tests."test_x.py::test_generate".phases."decode"]
        max_flops = 10
        statistic = "mean"

        [tool.flopbudget.tests."test_x.py::test_generate".phases."prefill"]
        max_flops = 10000  # far above: tightened
        """,
    )
    result = pytester.runpytest("--flop-budget-update")
    result.assert_outcomes(passed=1)
    text = (pytester.path / "pyproject.toml").read_text()
    # decode entries over 1, 2, 3 rows: the mean is 2 rows' FLOPs; prefill runs over 6 rows
    assert f'.phases."decode"]\nmax_flops = {2 * PER_ROW}\nstatistic = "mean"\n' in text
    assert f"max_flops = {6 * PER_ROW}  # far above: tightened\n" in text
    assert f"max_flops = {PER_ROW * (6 + 1 + 2 + 3)}\n" in text  # the whole test


def test_a_failed_phase_budget_names_its_source(pytester):
    write_tests(pytester, MODELS, DECODE_TESTS)
    result = pytester.runpytest("test_x.py::test_decode_max")
    assert failure_of(result, "test_x.py::test_decode_max")[1] == (
        "(max_flops from marker on test_x.py::test_decode_max, phase 'decode')"
    )


GROWING = """
def generate(lin, prompt, steps):
    with pytest_flopbudget.phase("prefill"):
        lin(torch.ones(prompt, 4))
    for step in range(1, steps + 1):
        with pytest_flopbudget.phase("decode"):
            lin(torch.ones(step, 4))

@pytest.mark.flop_budget(max_flops=10**6)
def test_generate():
    generate(model(), 6, STEPS)
"""


def test_growth_against_the_baseline_names_the_phases_that_changed(pytester):
    write_tests(pytester, MODELS, "STEPS = 3\n" + GROWING)
    pytester.runpytest("--flop-report=json:base.json").assert_outcomes(passed=1)
    write_tests(pytester, MODELS, "STEPS = 4\n" + GROWING)
    result = pytester.runpytest(
        "--flop-baseline=base.json", "--flop-fail-on-increase=5%", "--flop-report=markdown:r.md"
    )
    result.assert_outcomes(failed=1)
    before, after = PER_ROW * (1 + 2 + 3), PER_ROW * (1 + 2 + 3 + 4)  # 162 -> 270: +66.7%
    lines = failure_of(result, "test_x.py::test_generate")
    start = lines.index("FLOPs by phase against the baseline:")
    assert lines[start + 1] == f"  phase decode: {before} → {after} FLOPs (+66.7%), 3 → 4 entries"
    assert len(lines) == start + 2 or not lines[start + 2].startswith("  phase")  # prefill same
    markdown = (pytester.path / "r.md").read_text()
    assert f"- `phase decode: {before} → {after} FLOPs (+66.7%), 3 → 4 entries`" in markdown
    assert (
        f"- `test_x.py::test_generate`: phase decode ×4: {4 * PER_ROW} FLOPs per entry at most, "
        f"{math.ceil(after / 4)} mean, {4 * PER_ROW} last"
    ) in markdown


EXIT_MODEL = """
class Exit(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(4, 4)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        x = self.stem(x)
        return self.head(x) if x.shape[0] > 2 else x  # small inputs exit before the head
"""


def test_a_module_budget_over_a_distribution_is_checked_on_the_statistic(pytester):
    # the head runs on the inputs of 3, 4 and 5 rows: 0, 0, 81, 108, 135 FLOPs
    head = [0, 0, 3 * PER_ROW, 4 * PER_ROW, 5 * PER_ROW]
    mean = math.ceil(sum(head) / 5)  # 64.8 -> 65
    write_tests(
        pytester,
        MODELS + EXIT_MODEL,
        f"""
        @pytest.mark.flop_budget(modules={{"head": {{"max_flops": {mean}}}}})
        def test_mean(flop_budget):
            flop_budget.profile_each(Exit(), inputs())

        @pytest.mark.flop_budget(statistic="p95", modules={{"head": {{"max_flops": 120}}}})
        def test_p95(flop_budget):
            flop_budget.profile_each(Exit(), inputs())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    assert failure_of(result, "test_x.py::test_p95")[0] == (
        f"p95 over 5 inputs: module head: {P95} FLOPs > 120 FLOPs (+8.3%)"
    )
