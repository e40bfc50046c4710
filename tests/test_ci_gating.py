"""CI gating (pytest_flopbudget.plugin, report, exports, update), end to end through pytester:
the detailed terminal report, the JSON and Markdown reports, GitHub annotations, junit
properties, baselines, --flop-fail-on-increase, --flop-budget-update and pytest-xdist.

Every expected number is computed here from a closed form, never copied from the plugin's output:
nn.Linear(i, o) on a (b, i) input is b·i·o MACs; under the "all" convention that is 2 FLOPs per
MAC plus 1 per output element for the bias add (ReLU: 1 per element); its parameters are i·o + o.
"""

from __future__ import annotations

import json
import platform
import re
import sys
import textwrap
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from importlib.metadata import version

# torch and the counter (which the plugin imports lazily) are imported here, once: pytester's
# in-process runs drop the modules a run imported, and torch cannot be imported twice in a process.
import pytest
import torch  # noqa: F401

import pytest_flopbudget.engine.counter  # noqa: F401
from pytest_flopbudget.text import human

from .pytester_support import (
    isolate_inner_runs,
    linear_flops,
    linear_macs,
    linear_params,
    pct,
    row_of,
    summary,
    usage_error,
)

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

# --- closed forms ------------------------------------------------------------------------------


def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%"


def budget_value(measured: int, headroom_percent: int = 0) -> int:
    """What --flop-budget-update writes: measured + headroom, rounded UP to 3 significant
    figures (integer arithmetic)."""
    raised = -(-measured * (100 + headroom_percent) // 100)
    step = 10 ** max(len(str(raised)) - 3, 0)
    return -(-raised // step) * step


# Linear(10, 10) on a (4, 10) input: 400 MACs, 840 FLOPs, 110 params, 440 bytes of float32.
MACS = linear_macs(4, 10, 10)
FLOPS = linear_flops(4, 10, 10)
PARAMS = linear_params(10, 10)
assert (MACS, FLOPS, PARAMS) == (400, 840, 110)
# Linear(10, 20): twice the work and the parameters.
FLOPS_20, PARAMS_20 = linear_flops(4, 10, 20), linear_params(10, 20)
assert (FLOPS_20, PARAMS_20) == (1680, 220)

# Prepended to every generated test module.
HEADER = """
import pytest
import torch
from torch import nn


class Two(nn.Module):
    '''Two Linear(10, 10) children, one after the other, then aten.logcumsumexp (no formula).'''

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(10, 10)
        self.b = nn.Linear(10, 10)

    def forward(self, x):
        return torch.logcumsumexp(self.b(self.a(x)), -1)


class Tree(nn.Module):
    '''enc (a Two without the logcumsumexp: grandchildren a and b), then head = Linear(10, 30).'''

    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential()
        self.enc.add_module("a", nn.Linear(10, 10))
        self.enc.add_module("b", nn.Linear(10, 10))
        self.head = nn.Linear(10, 30)

    def forward(self, x):
        return torch.logcumsumexp(self.head(self.enc(x)), -1)


class Fan(nn.Module):
    '''Ten children l1..l10 = Linear(10, k), each applied to the input.'''

    def __init__(self):
        super().__init__()
        for k in range(1, 11):
            self.add_module(f"l{k}", nn.Linear(10, k))

    def forward(self, x):
        return [getattr(self, f"l{k}")(x) for k in range(1, 11)]


def x():
    return torch.randn(4, 10)
"""


@pytest.fixture(autouse=True)
def _inner_run_environment(pytester, monkeypatch):
    isolate_inner_runs(monkeypatch)


def make_tests(pytester: pytest.Pytester, body: str) -> str:
    """Write test_x.py; return its text as written."""
    path = pytester.makepyfile(test_x=HEADER + textwrap.dedent(body))
    return path.read_text(encoding="utf-8")


def make_pyproject(pytester: pytest.Pytester, text: str) -> str:
    text = textwrap.dedent(text).lstrip("\n")
    (pytester.path / "pyproject.toml").write_text(text, encoding="utf-8")
    return text


def pyproject_text(pytester: pytest.Pytester) -> str:
    return (pytester.path / "pyproject.toml").read_text(encoding="utf-8")


def definition_line(source: str, name: str) -> int:
    """The 1-based line where test `name` is defined: its first decorator, as pytest's
    item.location (and so every location the plugin writes) gives it."""
    lines = source.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(f"def {name}("))
    while lines[index - 1].startswith("@"):
        index -= 1
    return index + 1


def failures(result: pytest.RunResult) -> list[tuple[str, str]]:
    """(node id, phase) of every failed report of an in-process run."""
    reports = result.reprec.getreports("pytest_runtest_logreport")
    return [(r.nodeid, r.when) for r in reports if r.failed]


def load_json(pytester: pytest.Pytester, name: str) -> dict:
    return json.loads((pytester.path / name).read_text(encoding="utf-8"))


# --- 1. --flop-report: the detailed terminal report ---------------------------------------------


def detail_section(result: pytest.RunResult, nodeid: str) -> list[str]:
    """The lines of one test's `flop report` section, from its title line on."""
    lines = result.outlines
    separator = re.compile(r"[-=]+ .+ [-=]+")
    for i, line in enumerate(lines):
        if re.fullmatch(r"-+ flop report -+", line) and lines[i + 1].startswith(f"{nodeid}: "):
            end = next(
                (j for j in range(i + 1, len(lines)) if separator.fullmatch(lines[j])),
                len(lines),
            )
            return lines[i + 1 : end]
    raise AssertionError(f"no flop report for {nodeid}")


def detail_tables(section: list[str]) -> dict[str, list[tuple[str, ...]]]:
    """{"module": rows, "op": rows}: each row its cells, the first keeping its indentation."""
    tables: dict[str, list[tuple[str, ...]]] = {}
    current = None
    for line in section[1:]:
        if not line.strip() or line.startswith("uncounted ops"):
            current = None
        elif set(line) == {"-"}:
            continue
        elif current is None:
            current = tables.setdefault(line.split()[0], [])
        else:
            indent = " " * (len(line) - len(line.lstrip(" ")))
            first, *rest = re.split(r"\s{2,}", line.strip())
            current.append((indent + first, *rest))
    return tables


TREE_TEST = """
@pytest.mark.flop_budget(max_gflops=1)
def test_tree():
    Tree()(x())
"""
# Tree: enc = a, b (Linear(10, 10) each), head = Linear(10, 30).
HEAD_MACS, HEAD_FLOPS, HEAD_PARAMS = linear_macs(4, 10, 30), linear_flops(4, 10, 30), 330
TREE_MACS, TREE_FLOPS = 2 * MACS + HEAD_MACS, 2 * FLOPS + HEAD_FLOPS
TREE_PARAMS = 2 * PARAMS + HEAD_PARAMS
assert (TREE_MACS, TREE_FLOPS, TREE_PARAMS) == (2000, 4200, 550)


def test_flop_report_prints_module_tree_op_table_and_uncounted_ops_after_the_summary(pytester):
    make_tests(pytester, TREE_TEST)
    result = pytester.runpytest("--flop-report")
    result.assert_outcomes(passed=1)
    separators = [i for i, line in enumerate(result.outlines) if re.fullmatch(r"[-=]+ .+", line)]
    titles = [result.outlines[i].strip("-= ") for i in separators]
    assert titles.index("flop report") == titles.index("flop budget") + 1

    section = detail_section(result, "test_x.py::test_tree")
    assert section[0] == (
        f"test_x.py::test_tree: {human(TREE_FLOPS, 'FLOPs')} (all), "
        f"{human(TREE_MACS, 'MACs')}, params {human(TREE_PARAMS)} "
        f"({human(4 * TREE_PARAMS, 'B')})"  # float32: 4 bytes a parameter, no buffers
    )
    tables = detail_tables(section)

    def module(label, params, macs, flops):
        return (label, "1", human(params), human(macs), human(flops), share(flops, TREE_FLOPS))

    # the biggest first at each level: head (2.52K) before enc (1.68K); a and b tie: by name
    assert tables["module"] == [
        module("Tree", TREE_PARAMS, TREE_MACS, TREE_FLOPS),
        module("  head (Linear)", HEAD_PARAMS, HEAD_MACS, HEAD_FLOPS),
        module("  enc (Sequential)", 2 * PARAMS, 2 * MACS, 2 * FLOPS),
        module("    a (Linear)", PARAMS, MACS, FLOPS),
        module("    b (Linear)", PARAMS, MACS, FLOPS),
    ]
    assert tables["op"] == [
        ("aten.addmm", "3", human(TREE_MACS), human(TREE_FLOPS), "100.0%"),
    ]
    assert section[-1] == "uncounted ops (counted as 0 FLOPs): aten.logcumsumexp ×1"


def test_flop_report_is_not_printed_without_the_option(pytester):
    make_tests(pytester, TREE_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert not any(re.fullmatch(r"-+ flop report -+", line) for line in result.outlines)
    assert summary(result)  # the summary still is


def test_flop_report_folds_children_past_the_eighth_into_an_other_row(pytester):
    make_tests(
        pytester,
        """
        @pytest.mark.flop_budget(max_gflops=1)
        def test_fan():
            Fan()(x())
        """,
    )
    result = pytester.runpytest("--flop-report")
    result.assert_outcomes(passed=1)
    child = {
        k: (linear_params(10, k), linear_macs(4, 10, k), linear_flops(4, 10, k))
        for k in range(1, 11)
    }
    total = sum(flops for _, _, flops in child.values())
    assert total == 4620

    def cells(params, macs, flops):
        return (human(params), human(macs), human(flops), share(flops, total))

    folded = [child[2], child[1]]  # the two smallest
    assert detail_tables(detail_section(result, "test_x.py::test_fan"))["module"] == [
        ("Fan", "1", *cells(*(sum(c[i] for c in child.values()) for i in range(3)))),
        *[(f"  l{k} (Linear)", "1", *cells(*child[k])) for k in range(10, 2, -1)],
        ("  other (2 modules)", "2", *cells(*(sum(c[i] for c in folded) for i in range(3)))),
    ]


@pytest.mark.parametrize(
    ("depth", "shown"),
    [
        ("0", ["Tree"]),
        ("1", ["Tree", "  head (Linear)", "  enc (Sequential)"]),
        (
            "2",
            ["Tree", "  head (Linear)", "  enc (Sequential)", "    a (Linear)", "    b (Linear)"],
        ),
    ],
)
def test_flop_report_depth_limits_the_module_tree(pytester, depth, shown):
    make_tests(pytester, TREE_TEST)
    result = pytester.runpytest("--flop-report", f"--flop-report-depth={depth}")
    result.assert_outcomes(passed=1)
    tables = detail_tables(detail_section(result, "test_x.py::test_tree"))
    assert [row[0] for row in tables["module"]] == shown
    assert [row[0] for row in tables["op"]] == ["aten.addmm"]  # the op table is never cut


# --- 2. report files: JSON and Markdown ---------------------------------------------------------

OVER_AND_TWO = """
@pytest.mark.flop_budget(max_flops=500)
def test_over():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_gflops=1)
def test_two():
    Two()(x())

def test_unbudgeted():
    nn.Linear(10, 10)(x())
"""


def test_json_report_follows_the_documented_schema_with_exact_totals(pytester):
    source = make_tests(pytester, OVER_AND_TWO)
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
    assert (report["count"], report["compared_with"], report["gone"]) == ("all", "last run", [])

    over, two = report["tests"]  # sorted by node id; the unbudgeted test is not there
    entry_keys = [
        *("nodeid", "location", "outcome", "status", "totals", "budget", "violations"),
        *("previous", "delta", "top_modules", "modules", "modules_left_out", "ops"),
        *("uncounted", "fingerprint", "module_budgets"),
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
        },
        "budget": {"flops": 500},
        "violations": [f"FLOP budget exceeded: {FLOPS} FLOPs > 500 FLOPs ({pct(FLOPS, 500)})"],
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
            },
        ],
        "modules_left_out": 0,
        "ops": {"aten.addmm": {"calls": 1, "macs": MACS, "flops": FLOPS}},
        "uncounted": {},
        "module_budgets": {},
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
        },
        "budget": {"flops": 10**9},
        "violations": [],
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
            },
            {
                "name": "Two.a",
                "type": "Linear",
                "calls": 1,
                "macs": MACS,
                "flops": FLOPS,
                "params": PARAMS,
            },
            {
                "name": "Two.b",
                "type": "Linear",
                "calls": 1,
                "macs": MACS,
                "flops": FLOPS,
                "params": PARAMS,
            },
        ],
        "modules_left_out": 0,
        "ops": {"aten.addmm": {"calls": 2, "macs": 2 * MACS, "flops": 2 * FLOPS}},
        "uncounted": {"aten.logcumsumexp": 1},
        "module_budgets": {},
    }


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
    make_tests(pytester, FOUR_TESTS.format(little=10, lot=10))
    pytester.runpytest().assert_outcomes(passed=3, failed=1)  # the last run, in the cache
    make_tests(pytester, FOUR_TESTS.format(little=11, lot=20))
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
    make_tests(
        pytester,
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


@pytest.mark.parametrize("value", ["xml:foo", "json:", "markdown", "term:x"])
def test_bad_flop_report_value_is_a_usage_error_naming_it(pytester, value):
    make_tests(pytester, "def test_a():\n    pass\n")
    assert f"--flop-report={value}: use term, json:PATH or markdown:PATH" in usage_error(
        pytester.runpytest(f"--flop-report={value}")
    )


# --- 3. GitHub Actions annotations ----------------------------------------------------------------


def parse_workflow_command(line: str) -> tuple[str, dict[str, str], str]:
    """(command, properties, message) as the GitHub Actions runner reads `::cmd k=v,...::msg`:
    the first `::` after the start ends the properties, which split on `,` then `=`."""
    assert line.startswith("::")
    end = line.index("::", 2)
    command, _, properties = line[2:end].partition(" ")

    def unescape(text: str, codes: str) -> str:
        for code in codes.split():
            text = text.replace(code, bytes.fromhex(code[1:]).decode())
        return text.replace("%25", "%")

    parsed = {}
    for pair in properties.split(","):
        key, _, value = pair.partition("=")
        parsed[key] = unescape(value, "%0D %0A %3A %2C")
    return command, parsed, unescape(line[end + 2 :], "%0D %0A")


ANNOTATED = """
@pytest.mark.flop_budget(max_flops=500, max_params=100)
def test_over():
    nn.Linear(10, 10)(x())

@pytest.mark.parametrize("n", [1], ids=["a,b"])
@pytest.mark.flop_budget(max_flops=500)
def test_param(n):
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_gflops=1)
def test_fine():
    nn.Linear(10, 10)(x())
"""


def test_github_actions_gets_an_error_annotation_per_over_budget_test(pytester, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    source = make_tests(pytester, ANNOTATED)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    annotations = [line for line in result.outlines if line.startswith("::")]
    assert len(annotations) == 2  # none for the test within its budget

    flops = f"FLOP budget exceeded: {FLOPS} FLOPs > 500 FLOPs ({pct(FLOPS, 500)})"
    params = f"params {PARAMS} > 100 ({pct(PARAMS, 100)})"
    over = f"test_x.py:{definition_line(source, 'test_over')}".split(":")
    param = f"test_x.py:{definition_line(source, 'test_param')}".split(":")
    # the raw text: newlines as %0A, % as %25
    assert annotations[0].startswith(f"::error file={over[0]},line={over[1]},title=")
    assert annotations[0].endswith(
        "::" + f"{flops}\n{params}".replace("%", "%25").replace("\n", "%0A")
    )
    # and what GitHub reads from it
    assert [parse_workflow_command(line) for line in annotations] == [
        (
            "error",
            {"file": over[0], "line": over[1], "title": "FLOP budget (test_x.py::test_over)"},
            f"{flops}\n{params}",
        ),
        (
            "error",
            {
                "file": param[0],
                "line": param[1],
                "title": "FLOP budget (test_x.py::test_param[a,b])",
            },
            flops,
        ),
    ]


def test_no_github_annotation_outside_github_actions(pytester):
    make_tests(pytester, ANNOTATED)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    assert not any(line.startswith("::") for line in result.outlines)


# --- 4. junit XML properties ----------------------------------------------------------------------


def junit_properties(path) -> dict[str, dict[str, str]]:
    """{test name: {property: value}} of every test case."""
    root = ET.parse(path).getroot()
    return {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in root.iter("testcase")
    }


def test_junitxml_carries_every_budgeted_tests_totals_as_properties(pytester):
    make_tests(pytester, OVER_AND_TWO)
    pytester.runpytest("--junitxml=junit.xml").assert_outcomes(passed=2, failed=1)

    def props(flops, macs, params):
        return {
            "flopbudget_flops": str(flops),
            "flopbudget_macs": str(macs),
            "flopbudget_params": str(params),
            "flopbudget_nonzero_params": str(params),
            "flopbudget_sparse_flops": str(flops),
            "flopbudget_param_bytes": str(4 * params),
        }

    assert junit_properties(pytester.path / "junit.xml") == {
        "test_over": props(FLOPS, MACS, PARAMS),  # failed over budget: still reported
        "test_two": props(2 * FLOPS, 2 * MACS, 2 * PARAMS),
        "test_unbudgeted": {},
    }


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
    make_tests(pytester, BASELINE_TESTS.format(fan_out=10) + OLD_TEST)
    pytester.runpytest("--flop-report=json:base.json").assert_outcomes(passed=3)
    make_tests(pytester, BASELINE_TESTS.format(fan_out=20) + NEW_TEST)
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
    make_tests(pytester, NEW_TEST)
    if content is not None:
        (pytester.path / "base.json").write_text(content, encoding="utf-8")
    message = usage_error(pytester.runpytest("--flop-baseline=base.json"))
    assert "--flop-baseline=base.json: " in message
    assert problem in message


# --- 6. --flop-fail-on-increase / fail_on_increase -----------------------------------------------

GROWTH_TESTS = """
@pytest.mark.flop_budget(max_gflops=1)
def test_grown():
    nn.Linear(10, {fan_out})(x())

@pytest.mark.flop_budget(max_gflops=1)
def test_within():
    {within}

@pytest.mark.flop_budget(max_gflops=1)
def test_same():
    nn.Linear(10, 10)(x())
"""
GROWTH_BEFORE = GROWTH_TESTS.format(fan_out=10, within="nn.Linear(10, 10)(x())")
# a ReLU after the Linear: 1 FLOP per output element, 840 -> 880 FLOPs (+4.8%), same params
GROWTH_AFTER = GROWTH_TESTS.format(
    fan_out=20, within="nn.Sequential(nn.Linear(10, 10), nn.ReLU())(x())"
)
WITHIN_FLOPS = FLOPS + 4 * 10
assert pct(WITHIN_FLOPS, FLOPS) == "+4.8%"


def growth_lines(against: str) -> list[str]:
    assert (human(FLOPS, "FLOPs"), human(FLOPS_20, "FLOPs")) == ("840 FLOPs", "1.68 KFLOPs")
    return [
        f"FLOPs grew {pct(FLOPS_20, FLOPS)} over the {against}: 840 FLOPs -> 1.68 KFLOPs "
        "(allowed +5.0%)",
        f"params grew {pct(PARAMS_20, PARAMS)} over the {against}: {PARAMS} -> {PARAMS_20} "
        "(allowed +5.0%)",
    ]


@pytest.mark.parametrize("source", ["command line", "pyproject"])
def test_fail_on_increase_fails_the_grown_test_in_its_call_phase(pytester, source):
    if source == "pyproject":
        make_pyproject(pytester, '[tool.flopbudget]\nfail_on_increase = "5%"\n')
        option = []
    else:
        option = ["--flop-fail-on-increase=5%"]
    make_tests(pytester, GROWTH_BEFORE)
    pytester.runpytest("--flop-report=json:base.json").assert_outcomes(passed=3)
    make_tests(pytester, GROWTH_AFTER)

    result = pytester.runpytest("--flop-baseline=base.json", *option)
    result.assert_outcomes(passed=2, failed=1)
    assert failures(result) == [("test_x.py::test_grown", "call")]
    (report,) = [r for r in result.reprec.getreports("pytest_runtest_logreport") if r.failed]
    assert str(report.longrepr).splitlines() == growth_lines("baseline")
    rows = {row["test"]: row for row in summary(result)}
    assert (
        rows["test_x.py::test_grown"]["status"] == "grew:flops+params"
    )  # within its limits, grown past the allowance
    assert rows["test_x.py::test_within"]["Δbaseline"] == pct(WITHIN_FLOPS, FLOPS)
    assert rows["test_x.py::test_within"]["status"] == "ok"


def test_fail_on_increase_compares_with_the_last_run_and_the_option_overrides_pyproject(
    pytester,
):
    make_pyproject(pytester, '[tool.flopbudget]\nfail_on_increase = "5%"\n')
    make_tests(pytester, GROWTH_BEFORE)
    pytester.runpytest().assert_outcomes(passed=3)
    make_tests(pytester, GROWTH_AFTER)

    loose = pytester.runpytest("--flop-fail-on-increase=150%")  # overrides the 5%
    loose.assert_outcomes(passed=3)

    make_tests(pytester, GROWTH_BEFORE)
    pytester.runpytest().assert_outcomes(passed=3)
    make_tests(pytester, GROWTH_AFTER)
    strict = pytester.runpytest()
    strict.assert_outcomes(passed=2, failed=1)
    assert failures(strict) == [("test_x.py::test_grown", "call")]
    strict.stdout.fnmatch_lines(["*_ test_grown _*", *growth_lines("last run")])


def test_bad_fail_on_increase_is_a_usage_error(pytester):
    make_tests(pytester, NEW_TEST)
    assert "--flop-fail-on-increase" in usage_error(
        pytester.runpytest("--flop-fail-on-increase=lots")
    )


# --- 7. --flop-budget-update ---------------------------------------------------------------------


def test_budget_update_writes_new_entries_rounded_up_with_the_headroom(pytester):
    make_pyproject(
        pytester,
        """
        [tool.flopbudget]
        update_headroom = "10%"
        """,
    )
    make_tests(
        pytester,
        """
        @pytest.mark.flop_budget
        def test_small():
            nn.Linear(10, 10)(x())

        @pytest.mark.flop_budget
        def test_big():
            nn.Linear(100, 30)(torch.randn(4, 100))
        """,
    )
    result = pytester.runpytest("--flop-budget-update")
    result.assert_outcomes(passed=2)
    path = pytester.path / "pyproject.toml"
    result.stdout.fnmatch_lines(
        [
            f"flop budget update ({path}): 0 updated, 2 new, 0 unchanged, 0 pinned",
            "  new     test_x.py::test_big",
            "  new     test_x.py::test_small",
        ]
    )
    big_flops, big_params = linear_flops(4, 100, 30), linear_params(100, 30)
    assert budget_value(big_flops, 10) == 26_600  # 24 120 · 1.1 = 26 532, rounded up
    assert budget_value(big_params, 10) == 3_340  # 3 030 · 1.1 = 3 333, rounded up
    assert (budget_value(FLOPS, 10), budget_value(PARAMS, 10)) == (924, 121)
    tests = tomllib.loads(pyproject_text(pytester))["tool"]["flopbudget"]["tests"]
    assert tests == {
        "test_x.py::test_small": {"max_flops": 924, "max_params": 121},
        # a base-unit key over 999 is written as an SI string: exact at three figures
        "test_x.py::test_big": {"max_kflops": 26.6, "max_params": "3.34K"},
    }

    written = pyproject_text(pytester)
    again = pytester.runpytest("--flop-budget-update")
    again.stdout.fnmatch_lines(
        [f"flop budget update ({path}): 0 updated, 0 new, 2 unchanged, 0 pinned"]
    )
    assert pyproject_text(pytester) == written


UPDATE_TESTS = """
@pytest.mark.flop_budget(max_flops=100)
def test_pinned():
    nn.Linear(10, 10)(x())

def test_over():
    nn.Linear(10, 10)(x())

def test_under():
    nn.Linear(10, 10)(x())

def test_fine():
    nn.Linear(10, 10)(x())

def test_glob_a():
    nn.Linear(10, 10)(x())
"""
COMMENTED_PYPROJECT = f"""
# Compute budgets; CI runs --flop-budget-update on main.
[project]
name = "demo"  # not a package

[tool.flopbudget]
count = "all"    # the default
tolerance = "0%"

# over budget: the model grew
[tool.flopbudget.tests."test_x.py::test_over"]
max_kflops = 0.5  # tight
max_params = {PARAMS}

[tool.flopbudget.tests."test_x.py::test_under"]
max_flops = "10K"   # generous
max_params = 1000

[tool.flopbudget.tests."test_x.py::test_fine"]
max_flops = {FLOPS}
max_params = {PARAMS}  # exactly

[tool.flopbudget.tests."test_x.py::test_glob_*"]
max_gflops = 1

[tool.flopbudget.tests."test_x.py::test_removed"]
max_gflops = 1  # this test was deleted

[tool.ruff]
line-length = 100  # wide
"""


def test_budget_update_rewrites_only_the_stale_values_and_keeps_the_file_otherwise(pytester):
    source = make_tests(pytester, UPDATE_TESTS)
    before = make_pyproject(pytester, COMMENTED_PYPROJECT)
    result = pytester.runpytest("--flop-budget-update")
    result.assert_outcomes(passed=5)  # over budget, pinned over budget too: nothing fails
    path = pytester.path / "pyproject.toml"
    pinned_at = f"test_x.py:{definition_line(source, 'test_pinned')}"
    result.stdout.fnmatch_lines(
        [
            f"flop budget update ({path}): 2 updated, 0 new, 2 unchanged, 1 pinned",
            "  updated test_x.py::test_over",
            "  updated test_x.py::test_under",
            f"  pinned  test_x.py::test_pinned (set in code at {pinned_at})",
            "  stale   test_x.py::test_removed (no test matched it)",
        ]
    )
    assert row_of(result, "test_x.py::test_over")["status"] == "over:flops"

    after = pyproject_text(pytester)
    old, new = before.splitlines(), after.splitlines()
    assert len(new) == len(old) and after.endswith("\n")
    changed = {i: (old[i], new[i]) for i in range(len(old)) if old[i] != new[i]}
    assert f"{FLOPS / 1000:g}" == "0.84"
    assert sorted(changed.values()) == sorted(
        [
            ("max_kflops = 0.5  # tight", "max_kflops = 0.84  # tight"),  # the key kept
            ('max_flops = "10K"   # generous', f"max_flops = {FLOPS}   # generous"),
            ("max_params = 1000", f"max_params = {PARAMS}"),
        ]
    )
    assert "test_x.py::test_pinned" not in after

    # right after: nothing to do, and the file is left as it is
    again = pytester.runpytest("--flop-budget-update")
    again.assert_outcomes(passed=5)
    again.stdout.fnmatch_lines(
        [f"flop budget update ({path}): 0 updated, 0 new, 4 unchanged, 1 pinned"]
    )
    assert pyproject_text(pytester) == after

    # a narrowed run cannot call an entry stale
    narrowed = pytester.runpytest("--flop-budget-update", "test_x.py::test_over")
    narrowed.stdout.fnmatch_lines(
        [f"flop budget update ({path}): 0 updated, 0 new, 1 unchanged, 0 pinned"]
    )
    assert not any(line.startswith("  stale") for line in narrowed.outlines)


def test_budget_update_gives_an_over_budget_glob_covered_test_its_own_entry(pytester):
    make_pyproject(
        pytester,
        """
        [tool.flopbudget.tests."test_x.py::*"]
        max_flops = 500  # too tight for test_a
        """,
    )
    make_tests(pytester, "def test_a():\n    nn.Linear(10, 10)(x())\n")
    result = pytester.runpytest("--flop-budget-update")
    result.assert_outcomes(passed=1)
    tests = tomllib.loads(pyproject_text(pytester))["tool"]["flopbudget"]["tests"]
    assert tests == {
        "test_x.py::*": {"max_flops": 500},
        "test_x.py::test_a": {"max_flops": FLOPS, "max_params": PARAMS},
    }
    pytester.runpytest().assert_outcomes(passed=1)  # the new entry wins over the glob


# --- 8. pytest-xdist ------------------------------------------------------------------------------

XDIST_TESTS = """
@pytest.mark.flop_budget(max_flops=100)
def test_pinned():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget
def test_new():
    nn.Linear(10, 20)(x())

@pytest.mark.flop_budget(max_gflops=1)
def test_two():
    Two()(x())

def test_over():
    nn.Linear(10, 10)(x())

def test_unbudgeted():
    pass
"""
XDIST_PYPROJECT = """
[tool.flopbudget.tests."test_x.py::test_over"]
max_kflops = 0.5  # tight

[tool.flopbudget.tests."test_x.py::test_removed"]
max_gflops = 1
"""


def test_xdist_run_matches_a_serial_run(pytester):
    pytest.importorskip("xdist")
    make_tests(pytester, XDIST_TESTS)
    baseline = {
        "schema": "pytest-flopbudget/report",
        "schema_version": 1,
        "tests": [
            {"nodeid": "test_x.py::test_two", "totals": {"flops": FLOPS, "params": PARAMS}},
            {"nodeid": "test_x.py::test_gone", "totals": {"flops": FLOPS, "params": PARAMS}},
        ],
    }
    (pytester.path / "base.json").write_text(json.dumps(baseline), encoding="utf-8")
    args = [
        *("-p", "no:cacheprovider", "--flop-baseline=base.json", "--flop-budget-update"),
        *("--flop-report=json:{}.json", "--junitxml={}.xml"),
    ]
    runs = {}
    for name, extra in (("serial", []), ("xdist", ["-n", "2"])):
        make_pyproject(pytester, XDIST_PYPROJECT)
        result = pytester.runpytest(*extra, *(arg.format(name) for arg in args))
        result.assert_outcomes(passed=5)
        runs[name] = (result, pyproject_text(pytester))

    serial, xdist = runs["serial"][0], runs["xdist"][0]
    assert "2 workers [5 items]" in xdist.stdout.str()  # really distributed
    assert len(summary(serial)) == 4
    assert summary(xdist) == summary(serial)
    assert "gone since the baseline: test_x.py::test_gone" in xdist.outlines

    def update_lines(result):
        lines = result.outlines
        start = next(i for i, line in enumerate(lines) if line.startswith("flop budget update"))
        end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("  "))
        return lines[start:end]

    assert update_lines(xdist) == update_lines(serial)
    assert "  stale   test_x.py::test_removed (no test matched it)" in update_lines(xdist)
    assert runs["xdist"][1] == runs["serial"][1]
    assert "test_x.py::test_new" in runs["xdist"][1]

    reports = {name: load_json(pytester, f"{name}.json") for name in runs}
    for report in reports.values():
        del report["created"]
    assert reports["xdist"] == reports["serial"]
    assert reports["xdist"]["gone"] == ["test_x.py::test_gone"]
    assert junit_properties(pytester.path / "xdist.xml") == junit_properties(
        pytester.path / "serial.xml"
    )
    assert junit_properties(pytester.path / "xdist.xml")["test_two"]["flopbudget_flops"] == str(
        2 * FLOPS
    )
