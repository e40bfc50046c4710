"""The terminal summary's statuses, colours and alignment, and per-module budgets, end to end
through pytester.

Expected numbers come from closed forms: nn.Linear(i, o) on a (b, i) input is b·i·o MACs, 2 FLOPs
per MAC plus 1 per output element for the bias ("all"), i·o + o parameters of 4 bytes (float32);
ReLU is 1 FLOP per element.
"""

from __future__ import annotations

import json
import re
import textwrap

# torch and the counter are imported once here: pytester's in-process runs drop the modules a
# run imported, and torch cannot be imported twice in a process.
import pytest
import torch  # noqa: F401

import pytest_flopbudget.engine.counter  # noqa: F401

from .pytester_support import (
    isolate_inner_runs,
    linear_flops,
    linear_macs,
    linear_params,
    pct,
    plain,
    row_of,
    summary,
    usage_error,
)

# Linear(10, 10) on a (4, 10) input.
FLOPS = linear_flops(4, 10, 10)
MACS = linear_macs(4, 10, 10)
PARAMS = linear_params(10, 10)
PARAM_BYTES = 4 * PARAMS
assert (FLOPS, MACS, PARAMS, PARAM_BYTES) == (840, 400, 110, 440)


def kilo(flops: int) -> str:
    """FLOPs as a failure line writes them beside a limit of 1000 or more: in K, two decimals."""
    return f"{flops / 1000:.2f} KFLOPs"


# Net: backbone = Linear(10, 20), ReLU, Linear(20, 10); head = Linear(10, 2); on a (4, 10) input.
BACKBONE_0_FLOPS = linear_flops(4, 10, 20)
BACKBONE_FLOPS = BACKBONE_0_FLOPS + 4 * 20 + linear_flops(4, 20, 10)
BACKBONE_MACS = linear_macs(4, 10, 20) + linear_macs(4, 20, 10)
BACKBONE_PARAMS = linear_params(10, 20) + linear_params(20, 10)
BACKBONE_0_PARAMS = linear_params(10, 20)
HEAD_FLOPS = linear_flops(4, 10, 2)
BACKBONE_LIMIT = BACKBONE_FLOPS - 100  # a limit that a failure line writes in KFLOPs
assert (BACKBONE_FLOPS, BACKBONE_MACS, BACKBONE_PARAMS, BACKBONE_0_PARAMS) == (3400, 1600, 430, 220)

HEADER = """
import pytest
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 10))
        self.head = nn.Linear(10, 2)

    def forward(self, x):
        return self.head(self.backbone(x))


class WithSpare(nn.Module):
    '''A Linear(10, 10) and, with `spare`, a Linear(10, 10) that forward never calls.'''

    def __init__(self, spare):
        super().__init__()
        self.lin = nn.Linear(10, 10)
        self.spare = nn.Linear(10, 10) if spare else None

    def forward(self, x):
        return self.lin(x)


def x():
    return torch.randn(4, 10)
"""

ESC = "\x1b["
RED, YELLOW, GREEN, RESET = "\x1b[31m", "\x1b[33m", "\x1b[32m", "\x1b[0m"


@pytest.fixture(autouse=True)
def _inner_run_environment(pytester, monkeypatch):
    isolate_inner_runs(monkeypatch)


def make_tests(pytester: pytest.Pytester, body: str, name: str = "test_x") -> None:
    pytester.makepyfile(**{name: HEADER + textwrap.dedent(body)})


def make_pyproject(pytester: pytest.Pytester, text: str) -> None:
    pytester.makepyprojecttoml(textwrap.dedent(text))


def failure_of(result: pytest.RunResult, nodeid: str) -> list[str]:
    (report,) = [
        r
        for r in result.reprec.getreports("pytest_runtest_logreport")
        if r.nodeid == nodeid and r.failed
    ]
    return str(report.longrepr).splitlines()


def section(result: pytest.RunResult) -> list[str]:
    """The raw lines of the `flop budget` section, up to the next `=` line."""
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if re.search(r"=+ flop budget =+", line))
    body = []
    for line in lines[start + 1 :]:
        if plain(line).startswith("="):
            break
        body.append(line)
    return body


# --- 4. status names ---------------------------------------------------------------------------

EXCEEDED_ONE_EACH = f"""
@pytest.mark.flop_budget(max_flops={FLOPS - 1})
def test_flops():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_macs={MACS - 1})
def test_macs():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_params={PARAMS - 1})
def test_params():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_nonzero_params={PARAMS - 1})
def test_nonzero_params():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_sparse_flops={FLOPS - 1})
def test_sparse_flops():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_param_bytes={PARAM_BYTES - 1})
def test_param_bytes():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_params={PARAMS - 1}, max_flops={FLOPS - 1})
def test_two():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_params={PARAMS}, max_flops={FLOPS})
def test_at_the_limits():
    nn.Linear(10, 10)(x())
"""


def test_status_names_the_exceeded_limit_and_every_one_when_several(pytester):
    make_tests(pytester, EXCEEDED_ONE_EACH)
    result = pytester.runpytest("--flop-report=json:r.json", "--flop-report=markdown:r.md")
    result.assert_outcomes(passed=1, failed=7)
    statuses = {row["test"].split("::")[1]: row["status"] for row in summary(result)}
    assert statuses == {
        "test_flops": "over:flops",
        "test_macs": "over:macs",
        "test_params": "over:params",
        "test_nonzero_params": "over:nonzero_params",
        "test_sparse_flops": "over:sparse_flops",
        "test_param_bytes": "over:param_bytes",
        "test_two": "over:flops+params",  # every exceeded quantity, in a fixed order
        "test_at_the_limits": "new",
    }
    # the JSON status is the same string; its kind is what precedes the colon
    report = json.loads((pytester.path / "r.json").read_text())
    exported = {t["nodeid"].split("::")[1]: t["status"] for t in report["tests"]}
    assert exported == statuses
    markdown = (pytester.path / "r.md").read_text()
    assert "| 🔴 over:flops+params | `test_x.py::test_two` |" in markdown
    assert "| 🔴 over:param_bytes | `test_x.py::test_param_bytes` |" in markdown


GROWTH = """
@pytest.mark.flop_budget(max_gflops=1)
def test_flops_grow():
    lin = nn.Linear(10, 10)
    for _ in range({calls}):
        lin(x())

@pytest.mark.flop_budget(max_gflops=1)
def test_params_grow():
    WithSpare({spare})(x())

@pytest.mark.flop_budget(max_gflops=1)
def test_same():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_flops={over_limit})
def test_over():
    nn.Linear(10, 10)(x())
"""


def growth_run(pytester: pytest.Pytester, *options: str) -> pytest.RunResult:
    """A baseline, then a run against it: test_flops_grow doubles its FLOPs (one Linear called
    twice, params unchanged), test_params_grow gains an unused Linear (params only)."""
    make_tests(pytester, GROWTH.format(calls=1, spare=False, over_limit=FLOPS))
    pytester.runpytest("--flop-report=json:base.json").assert_outcomes(passed=4)
    make_tests(pytester, GROWTH.format(calls=2, spare=True, over_limit=FLOPS - 1))
    return pytester.runpytest("--flop-baseline=base.json", "--flop-fail-on-increase=5%", *options)


def test_growth_status_names_the_grown_quantity(pytester):
    result = growth_run(pytester)
    result.assert_outcomes(passed=1, failed=3)
    statuses = {row["test"].split("::")[1]: row["status"] for row in summary(result)}
    assert statuses == {
        "test_over": "over:flops",
        "test_flops_grow": "grew:flops",
        "test_params_grow": "grew:params",
        "test_same": "ok",
    }
    rows = {row["test"].split("::")[1]: row for row in summary(result)}
    assert rows["test_flops_grow"]["Δbaseline"] == pct(2 * FLOPS, FLOPS)
    assert rows["test_params_grow"]["params"] == str(2 * PARAMS)


# --- 4. colours --------------------------------------------------------------------------------


def test_statuses_are_coloured_when_pytest_colours_red_over_yellow_grew_green_ok(
    pytester, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "200")  # node ids at the end of their rows
    result = growth_run(pytester, "--color=yes")
    cells = {plain(line).split()[-1]: line.split(" ", 1)[0] for line in section(result)[2:]}
    assert cells["test_x.py::test_over"] == f"{RED}over:flops{RESET}"
    assert cells["test_x.py::test_flops_grow"] == f"{YELLOW}grew:flops{RESET}"
    assert cells["test_x.py::test_params_grow"] == f"{YELLOW}grew:params{RESET}"
    assert cells["test_x.py::test_same"] == f"{GREEN}ok{RESET}"


def test_statuses_are_plain_without_colour(pytester):
    result = growth_run(pytester, "--color=no")
    assert not any(ESC in line for line in section(result))
    assert row_of(result, "test_x.py::test_over")["status"] == "over:flops"


# --- 4. alignment ------------------------------------------------------------------------------


def spans(line: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(r"\S+", line)]


def assert_aligned(header: str, rows: list[str], columns: int) -> None:
    """The first column starts where its header does; the others end where theirs do."""
    expected = spans(header)[:columns]
    for row in rows:
        got = spans(row)[:columns]
        assert got[0][0] == expected[0][0], (header, row)
        assert [end for _, end in got[1:]] == [end for _, end in expected[1:]], (header, row)


def table(result: pytest.RunResult) -> tuple[str, str, list[str], bool]:
    """(header, rule, numeric rows, wide): the summary's lines without colour codes."""
    lines = [plain(line) for line in section(result)]
    if lines[0] == "test":  # node ids on their own lines above their numbers
        header, rule, rest = lines[1], lines[2], lines[3:]
        numbers = [line for line in rest if line.split()[0] != line.strip()]
        return header, rule, [n for n in numbers if len(n.split()) == len(header.split())], False
    header, rule, rest = lines[0], lines[1], lines[2:]
    return header, rule, [line for line in rest if len(line.split()) == len(header.split())], True


LONG_NAME = "test_a_test_name_long_enough_to_need_its_own_line_at_eighty_columns"


@pytest.mark.parametrize("columns", [200, 80])
@pytest.mark.parametrize("baseline", [False, True], ids=["last run", "baseline"])
@pytest.mark.parametrize("verbosity", [[], ["-v"]], ids=["default", "verbose"])
def test_header_rule_and_rows_line_up_with_and_without_a_baseline(
    pytester, monkeypatch, columns, baseline, verbosity
):
    body = f"""
        @pytest.mark.flop_budget(max_flops=5)
        def test_far_over():
            nn.Linear(10, 10)(x())

        @pytest.mark.flop_budget(max_params={PARAMS - 1}, max_flops={FLOPS - 1})
        def {LONG_NAME}():
            nn.Linear(10, 10)(x())

        @pytest.mark.flop_budget(max_gflops=1)
        def test_ok():
            nn.Linear(10, 10)(x())
        """
    make_tests(pytester, body)
    monkeypatch.setenv("COLUMNS", str(columns))
    options = ["--color=yes", *verbosity]
    if baseline:
        pytester.runpytest("--flop-report=json:base.json")
        options.append("--flop-baseline=base.json")
    result = pytester.runpytest(*options)
    header, rule, rows, wide = table(result)
    assert wide == (columns == 200)
    assert f"Δ{'baseline' if baseline else 'last'}" in header.split()
    assert len(rows) == 3
    numeric = len(header.split()) - (1 if wide else 0)  # the node id column is left aligned
    assert_aligned(header, rows, numeric)
    assert set(rule) == {"-"}
    if wide:  # the table ends with the longest node id
        raw_rows = [plain(line) for line in section(result)[2:5]]
        assert len(rule) == max(len(line) for line in [header, *raw_rows])
        assert max(len(line) for line in raw_rows) == len(rows[0]) - len(rows[0].split()[-1]) + len(
            f"test_x.py::{LONG_NAME}"
        )
    else:  # the numbers are the table; every numeric row is exactly as wide
        assert {len(row) for row in rows} == {len(header)} == {len(rule)}
        assert len(header) <= columns
    # the widest cells are not cut: "+16700.0%" is 5 FLOPs' overshoot
    far = next(r for r in rows if r.split()[0] == "over:flops")
    assert pct(FLOPS, 5) in far.split()


# --- 5. per-module budgets: the marker ---------------------------------------------------------


def test_module_budget_in_the_marker_passes_at_its_limit_and_fails_over_it(pytester):
    nested_limit = BACKBONE_0_PARAMS - 1
    make_tests(
        pytester,
        f"""
        @pytest.mark.flop_budget(modules={{"backbone": {{"max_flops": {BACKBONE_FLOPS}}}}})
        def test_at_limit():
            Net()(x())

        @pytest.mark.flop_budget(modules={{"backbone": {{"max_flops": {BACKBONE_LIMIT}}}}})
        def test_over():
            Net()(x())

        @pytest.mark.flop_budget(modules={{"Net.backbone.0": {{"max_params": {nested_limit}}}}})
        def test_nested_full_name():
            Net()(x())
        """,
    )
    result = pytester.runpytest("--flop-report=json:r.json")
    result.assert_outcomes(passed=1, failed=2)
    assert failure_of(result, "test_x.py::test_over")[:2] == [
        f"module backbone: {kilo(BACKBONE_FLOPS)} > {kilo(BACKBONE_LIMIT)} "
        f"({pct(BACKBONE_FLOPS, BACKBONE_LIMIT)})",
        "(max_flops from marker on test_x.py::test_over, module 'backbone')",
    ]
    assert failure_of(result, "test_x.py::test_nested_full_name")[0] == (
        f"module Net.backbone.0: params {BACKBONE_0_PARAMS} > {nested_limit} "
        f"({pct(BACKBONE_0_PARAMS, nested_limit)})"
    )
    statuses = {row["test"]: row["status"] for row in summary(result)}
    assert statuses["test_x.py::test_over"] == "over:module"
    assert statuses["test_x.py::test_at_limit"] == "new"

    report = {t["nodeid"]: t for t in json.loads((pytester.path / "r.json").read_text())["tests"]}
    over = report["test_x.py::test_over"]
    assert over["status"] == "over:module"
    assert over["module_budgets"]["backbone"] == {
        "limits": {"flops": BACKBONE_LIMIT},
        "sources": {"flops": "max_flops from marker on test_x.py::test_over, module 'backbone'"},
        "measured": {"flops": BACKBONE_FLOPS, "macs": BACKBONE_MACS, "params": BACKBONE_PARAMS},
        "over": ["flops"],
    }


def test_module_budget_with_the_fixture_and_a_test_limit_over_too(pytester):
    make_tests(
        pytester,
        """
        @pytest.mark.flop_budget(max_flops=1, modules={"head": {"max_macs": 1}})
        def test_both(flop_budget):
            flop_budget.profile(Net(), x())
            flop_budget.profile(Net(), x())  # work adds up over the recordings
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    head_macs = 2 * linear_macs(4, 10, 2)
    lines = failure_of(result, "test_x.py::test_both")
    assert lines[1] == f"module head: {head_macs} MACs > 1 MACs ({pct(head_macs, 1)})"
    assert row_of(result, "test_x.py::test_both")["status"] == "over:flops+module"


def test_module_budget_uses_the_test_tolerance(pytester):
    limit = BACKBONE_FLOPS * 100 // 105 + 1  # within 5% below the measured value
    make_tests(
        pytester,
        f"""
        @pytest.mark.flop_budget(tolerance="5%", modules={{"backbone": {{"max_flops": {limit}}}}})
        def test_within_tolerance():
            Net()(x())

        @pytest.mark.flop_budget(tolerance="1%", modules={{"backbone": {{"max_flops": {limit}}}}})
        def test_past_tolerance():
            Net()(x())
        """,
    )
    assert BACKBONE_FLOPS > limit * 1.01
    pytester.runpytest().assert_outcomes(passed=1, failed=1)


# --- 5. per-module budgets: pyproject ----------------------------------------------------------


def test_module_budgets_in_pyproject_exact_and_glob_and_the_marker_wins(pytester):
    make_pyproject(
        pytester,
        f"""
        [tool.flopbudget.tests."test_x.py::test_exact".modules."backbone"]
        max_flops = {BACKBONE_LIMIT}

        [tool.flopbudget.tests."test_x.py::test_glob_*".modules."head"]
        max_flops = {HEAD_FLOPS}

        [tool.flopbudget.tests."test_x.py::test_glob_over".modules."head"]
        max_flops = {HEAD_FLOPS - 1}

        [tool.flopbudget.tests."test_x.py::test_marker_wins".modules."backbone"]
        max_flops = 1
        """,
    )
    make_tests(
        pytester,
        f"""
        def test_exact():
            Net()(x())

        def test_glob_pass():
            Net()(x())

        def test_glob_over():
            Net()(x())

        @pytest.mark.flop_budget(modules={{"backbone": {{"max_flops": {BACKBONE_FLOPS}}}}})
        def test_marker_wins():
            Net()(x())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=2)
    table_name = '[tool.flopbudget.tests."test_x.py::test_exact".modules."backbone"]'
    assert failure_of(result, "test_x.py::test_exact")[:2] == [
        f"module backbone: {kilo(BACKBONE_FLOPS)} > {kilo(BACKBONE_LIMIT)} "
        f"({pct(BACKBONE_FLOPS, BACKBONE_LIMIT)})",
        f"(max_flops from pyproject.toml {table_name})",
    ]
    assert failure_of(result, "test_x.py::test_glob_over")[0] == (
        f"module head: {HEAD_FLOPS} FLOPs > {HEAD_FLOPS - 1} FLOPs "
        f"({pct(HEAD_FLOPS, HEAD_FLOPS - 1)})"
    )
    statuses = {row["test"]: row["status"] for row in summary(result)}
    assert statuses["test_x.py::test_glob_over"] == "over:module"


# --- 5. a module name no recorded profile has ------------------------------------------------


def test_unknown_module_fails_the_call_phase_listing_the_nearest_names(pytester):
    make_tests(
        pytester,
        """
        class Deep(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = nn.ModuleList(nn.Linear(10, 10) for _ in range(8))
                self.head = nn.Linear(10, 2)

            def forward(self, x):
                for layer in self.layers:
                    x = layer(x)
                return self.head(x)

        @pytest.mark.flop_budget(modules={"backbon": {"max_gflops": 3}})
        def test_typo():
            Net()(x())

        @pytest.mark.flop_budget(modules={"layers.9": {"max_gflops": 3}})
        def test_many_near(flop_budget):
            flop_budget.profile(Deep(), x())

        @pytest.mark.flop_budget(modules={"zzz": {"max_gflops": 3}})
        def test_nothing_near():
            Net()(x())
        """,
    )
    result = pytester.runpytest("--flop-report=json:r.json")
    result.assert_outcomes(failed=3)
    reports = [r for r in result.reprec.getreports("pytest_runtest_logreport") if r.failed]
    assert {r.when for r in reports} == {"call"}
    typo = failure_of(result, "test_x.py::test_typo")[0]
    prefix = "module budget 'backbon': no recorded module has that name (nearest: "
    assert typo.startswith(prefix)
    nearest = typo[len(prefix) : -1].split(", ")
    assert nearest[0] == "backbone"
    assert set(nearest) <= {"backbone", "backbone.0", "backbone.1", "backbone.2"}
    many = failure_of(result, "test_x.py::test_many_near")[0]
    listed = many.split("(nearest: ", 1)[1].rstrip(")").split(", ")
    assert len(listed) == 5  # at most five of the eight layers.N
    assert all(re.fullmatch(r"layers\.[0-7]", name) for name in listed)
    assert failure_of(result, "test_x.py::test_nothing_near")[0] == (
        "module budget 'zzz': no recorded module has that name "
        "(its top-level modules: Net, backbone, head)"
    )
    assert row_of(result, "test_x.py::test_typo")["status"] == "error:module"
    report = {t["nodeid"]: t for t in json.loads((pytester.path / "r.json").read_text())["tests"]}
    assert report["test_x.py::test_typo"]["module_budgets"]["backbon"]["measured"] is None


def test_unknown_module_does_not_fail_when_budgets_are_disabled(pytester):
    make_tests(
        pytester,
        """
        @pytest.mark.flop_budget(modules={"backbon": {"max_gflops": 3}})
        def test_typo():
            Net()(x())
        """,
    )
    result = pytester.runpytest("--flop-budget-disable")
    result.assert_outcomes(passed=1)
    assert row_of(result, "test_x.py::test_typo")["status"] == "error:module"


# --- 5. bad module budgets are usage errors --------------------------------------------------


@pytest.mark.parametrize(
    ("modules", "message"),
    [
        (
            '{"backbone": {"max_gflop": 3}}',
            "budget key 'max_gflop' in marker on test_x.py::test_a, module 'backbone': not a "
            "budget key (did you mean 'max_gflops'?)",
        ),
        (
            '{"backbone": {"max_nonzero_params": 3}}',
            "budget key 'max_nonzero_params' in marker on test_x.py::test_a, module 'backbone': "
            "nonzero_params is not measured per module",
        ),
        (
            '{"backbone": {"max_gflops": -1}}',
            "invalid value -1 for 'max_gflops' in marker on test_x.py::test_a, module "
            "'backbone': must be positive",
        ),
        (
            '{"backbone": {"max_gflops": 1, "max_flops": 5}}',
            "both limit flops",
        ),
        (
            '{"backbone": 3}',
            "budget of marker on test_x.py::test_a, module 'backbone' must be a table of limit "
            "keys, got 3",
        ),
        ('{"backbone": {}}', "module 'backbone' has no limit keys"),
        ("3", "'modules' in marker on test_x.py::test_a must map module names to budgets"),
    ],
    ids=["unknown key", "not per module", "negative", "two units", "not a table", "empty", "int"],
)
def test_bad_module_budget_in_the_marker_is_a_usage_error(pytester, modules, message):
    make_tests(
        pytester,
        f"""
        @pytest.mark.flop_budget(modules={modules})
        def test_a():
            Net()(x())
        """,
    )
    assert message in usage_error(pytester.runpytest())


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            'max_gflops = "abc"',
            "invalid value 'abc' for 'max_gflops' in "
            '[tool.flopbudget.tests."test_x.py::test_a".modules."backbone"]',
        ),
        (
            "max_gflopz = 3",
            "budget key 'max_gflopz' in "
            '[tool.flopbudget.tests."test_x.py::test_a".modules."backbone"]: not a budget key '
            "(did you mean 'max_gflops'?)",
        ),
        (
            "max_param_bytes = 3",
            "param_bytes is not measured per module",
        ),
    ],
    ids=["bad value", "unknown key", "not per module"],
)
def test_bad_module_budget_in_pyproject_is_a_usage_error_naming_file_and_table(
    pytester, toml, message
):
    make_pyproject(
        pytester, f'[tool.flopbudget.tests."test_x.py::test_a".modules."backbone"]\n{toml}\n'
    )
    make_tests(pytester, "def test_a():\n    pass\n")
    error = usage_error(pytester.runpytest())
    assert "pyproject.toml: " in error
    assert message in error


def test_modules_in_pyproject_must_be_a_table_of_tables(pytester):
    make_pyproject(pytester, '[tool.flopbudget.tests."test_x.py::test_a"]\nmodules = 3\n')
    make_tests(pytester, "def test_a():\n    pass\n")
    error = usage_error(pytester.runpytest())
    assert "'modules' in [tool.flopbudget.tests.\"test_x.py::test_a\"] must map module" in error


def test_top_level_module_defaults_are_not_accepted(pytester):
    make_pyproject(pytester, '[tool.flopbudget.modules."backbone"]\nmax_gflops = 3\n')
    make_tests(pytester, "def test_a():\n    pass\n")
    assert (
        "[tool.flopbudget] key 'modules': module budgets go in a tests entry, "
        '[tool.flopbudget.tests."<node id>".modules."<module>"]'
    ) in usage_error(pytester.runpytest())


# --- 5. --flop-budget-update leaves module budgets alone --------------------------------------


def test_budget_update_leaves_module_budgets_alone_and_says_so(pytester):
    module_table = f"""
        [tool.flopbudget.tests."test_x.py::test_a".modules."backbone"]
        max_flops = {BACKBONE_LIMIT}  # keep
        """
    make_pyproject(
        pytester,
        f"""
        [tool.flopbudget.tests."test_x.py::test_a"]
        max_flops = 1
        {module_table}""",
    )
    make_tests(pytester, "def test_a():\n    Net()(x())\n")
    result = pytester.runpytest("--flop-budget-update")
    result.assert_outcomes(passed=1)  # an overrun does not fail while updating
    text = (pytester.path / "pyproject.toml").read_text()
    assert textwrap.dedent(module_table).strip() in text
    assert "max_flops = 1\n" not in text  # the test's own limit was rewritten
    assert "  module budgets of 1 test(s) left as they are (edit by hand)" in result.outlines
