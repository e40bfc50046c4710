"""No silent zeros (issue 10, parts 5 and 6): containers carry their children's work, and
uncounted work is visible in every report and can fail a test (`strict`).

Every expected number is a closed form written here: nn.Linear(i, o) on a (b, i) input is b·i·o
MACs and, under the "all" convention, 2 FLOPs per MAC plus b·o for the bias add.
"""

from __future__ import annotations

import json
import re
import textwrap

# torch and the counter are imported here, once: pytester's in-process runs drop the modules a
# run imported, and torch cannot be imported twice in a process.
import pytest
import torch
from torch import nn

import pytest_flopbudget.engine.counter  # noqa: F401
from pytest_flopbudget import counting, profile
from pytest_flopbudget.budgets.check import Budget
from pytest_flopbudget.budgets.verdict import verdict
from pytest_flopbudget.cli import main
from pytest_flopbudget.reporting.terminal import detail_lines
from pytest_flopbudget.text import human

from .pytester_support import (
    isolate_inner_runs,
    linear_flops,
    linear_macs,
    linear_params,
    row_of,
    usage_error,
)

# ---- ops with no cost formula ----------------------------------------------------------------
# Custom ops are uncounted whatever formulas the built-in table gains. They are registered once,
# in this process: the pytester runs below are in-process and call torch.ops.fbtest.nocost. (A
# torch.library.custom_op would import torch._dynamo on its first call, inside an inner run that
# then drops it, and torch cannot import it twice.)

FBTEST = torch.library.Library("fbtest", "DEF")
FBTEST.define("nocost(Tensor x) -> Tensor")
FBTEST.impl("nocost", lambda x: x * 2, "CompositeExplicitAutograd")
FBTEST.define("nocost_too(Tensor x) -> Tensor")
FBTEST.impl("nocost_too", lambda x: x + 1, "CompositeExplicitAutograd")
NOCOST = "fbtest.nocost"

# ---- models -----------------------------------------------------------------------------------

B, D = 4, 8  # batch, width
LIN_MACS, LIN_FLOPS, LIN_PARAMS = linear_macs(B, D, D), linear_flops(B, D, D), linear_params(D, D)


class Block(nn.Module):
    """Two Linear(D, D) kept in a ModuleDict that Block's forward reaches into directly."""

    def __init__(self) -> None:
        super().__init__()
        self.mlp = nn.ModuleDict({"up": nn.Linear(D, D), "down": nn.Linear(D, D)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp["down"](self.mlp["up"](x))


class Stack(nn.Module):
    """embed, `n` Blocks in a ModuleList (never called itself), head: a transformer's layout."""

    def __init__(self, n: int = 3) -> None:
        super().__init__()
        self.embed = nn.Linear(D, D)
        self.blocks = nn.ModuleList([Block() for _ in range(n)])
        self.head = nn.Linear(D, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


class Nested(nn.Module):
    """A ModuleList of two ModuleLists of two Linear(D, D) each; only the Linears are called."""

    def __init__(self) -> None:
        super().__init__()
        self.groups = nn.ModuleList(
            [nn.ModuleList([nn.Linear(D, D), nn.Linear(D, D)]) for _ in range(2)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for group in self.groups:
            for layer in group:
                x = layer(x)
        return x


class SharedChild(nn.Module):
    """Two ModuleLists that both hold `shared`; each list also has one Linear of its own. The
    forward calls shared once, then the two others."""

    def __init__(self) -> None:
        super().__init__()
        shared = nn.Linear(D, D)
        self.pair = nn.ModuleDict(
            {
                "a": nn.ModuleList([shared, nn.Linear(D, D)]),
                "b": nn.ModuleList([shared, nn.Linear(D, D)]),
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pair["a"][0](x)
        return self.pair["b"][1](self.pair["a"][1](x))


def x() -> torch.Tensor:
    return torch.randn(B, D)


# ---- 5. the module tree: containers carry their children's work -------------------------------


def test_module_list_row_is_the_sum_of_its_blocks():
    n = 3
    result = profile(Stack(n), x())
    blocks = result.modules["blocks"]
    assert blocks.type_name == "ModuleList"
    assert blocks.calls == 0
    assert (blocks.macs, blocks.flops) == (n * 2 * LIN_MACS, n * 2 * LIN_FLOPS)
    assert (blocks.forward_flops, blocks.backward_flops) == (n * 2 * LIN_FLOPS, 0)
    assert blocks.params == n * 2 * LIN_PARAMS
    for i in range(n):
        assert result.modules[f"blocks.{i}"].flops == 2 * LIN_FLOPS
        mlp = result.modules[f"blocks.{i}.mlp"]  # a ModuleDict its Block reaches into
        assert (mlp.calls, mlp.macs, mlp.flops) == (0, 2 * LIN_MACS, 2 * LIN_FLOPS)


def test_shares_add_up_at_every_depth():
    result = profile(Stack(3), x())
    assert result.flops == (2 + 3 * 2) * LIN_FLOPS
    modules = result.modules

    def children_sum(parent: str, field: str) -> int:
        depth = modules[parent].depth + 1
        prefix = f"{parent}." if parent else ""
        return sum(
            getattr(m, field)
            for name, m in modules.items()
            if name.startswith(prefix) and m.depth == depth
        )

    for parent in ["", "blocks", "blocks.0", "blocks.0.mlp"]:
        for field in ("macs", "flops", "forward_flops"):
            assert children_sum(parent, field) == getattr(modules[parent], field), (parent, field)
    assert modules[""].flops == result.flops


def test_nested_containers_carry_their_descendants_work():
    result = profile(Nested(), x())
    assert result.modules["groups"].macs == 4 * LIN_MACS
    assert result.modules["groups"].flops == 4 * LIN_FLOPS
    for i in range(2):
        assert result.modules[f"groups.{i}"].flops == 2 * LIN_FLOPS
        assert result.modules[f"groups.{i}"].calls == 0


def test_a_shared_child_counts_once_in_a_container():
    result = profile(SharedChild(), x())
    # pair holds shared (called once) and two Linears: 3 calls' work, not pair.a + pair.b = 4
    assert result.modules["pair"].flops == 3 * LIN_FLOPS
    assert result.modules["pair"].params == 3 * LIN_PARAMS
    for half in ("pair.a", "pair.b"):  # each holds shared and one Linear of its own, as its params
        assert result.modules[half].flops == 2 * LIN_FLOPS
        assert result.modules[half].params == 2 * LIN_PARAMS
    assert result.modules[""].flops == result.flops == 3 * LIN_FLOPS


def test_a_called_module_is_not_double_counted():
    model = nn.Sequential(nn.Linear(D, D), nn.Sequential(nn.Linear(D, D), nn.Linear(D, D)))
    result = profile(model, x())
    assert result.modules["1"].flops == 2 * LIN_FLOPS
    assert result.modules[""].flops == result.flops == 3 * LIN_FLOPS


def test_a_container_carries_forward_and_backward_of_a_training_step():
    model = Stack(2)
    with counting(model) as counted:
        model(x()).sum().backward()
    modules = counted.profile.modules
    blocks = modules["blocks"]
    assert blocks.forward_flops == sum(modules[f"blocks.{i}"].forward_flops for i in range(2))
    assert blocks.backward_flops == sum(modules[f"blocks.{i}"].backward_flops for i in range(2))
    # each block's backward: dX and dW of two Linear(D, D) (the input of blocks.0 needs a grad:
    # embed's output); so 2 · 2 · B·D·D backward MACs per block
    assert blocks.macs == 2 * (2 * LIN_MACS + 2 * 2 * LIN_MACS)
    assert blocks.flops == blocks.forward_flops + blocks.backward_flops


def test_a_root_never_called_carries_its_called_children():
    model = Stack(1)
    with counting(model) as counted:
        model.head(model.embed(x()))
    root = counted.profile.modules[""]
    assert (root.calls, root.flops) == (0, 2 * LIN_FLOPS)
    assert counted.profile.modules["blocks"].flops == 0  # nothing in it ran


def test_profile_table_names_indexed_rows_by_their_container():
    table = profile(Stack(2), x()).table()
    rows = table.split("\n\n")[0].splitlines()[3:]  # the module table, below its header
    labels = [re.split(r"\s{2,}", line.strip())[0] for line in rows]
    assert "blocks.0 (Block)" in labels and "blocks.1 (Block)" in labels
    assert not any(re.fullmatch(r"\d+ \(.*\)", label) for label in labels)


def test_detailed_report_names_indexed_rows_by_their_container():
    result = profile(Stack(2), x())
    row = verdict("t.py::t", "t.py:1", [result], Budget(), detail_depth=3)
    lines = detail_lines(row, 3)
    labels = [re.split(r"\s{2,}", line.strip())[0] for line in lines[3:] if line.strip()]
    assert labels[:3] == ["Stack", "blocks (ModuleList)", "blocks.0 (Block)"]
    assert not any(re.fullmatch(r"\d+ \(.*\)", label) for label in labels)
    blocks = next(line for line in lines if line.strip().startswith("blocks (ModuleList)"))
    assert blocks.split()[2:4] == ["0", human(2 * 2 * LIN_PARAMS)]  # calls, params


# ---- the pytester suites ----------------------------------------------------------------------

# Linear(10, 10) on a (4, 10) input, as in test_plugin.
FLOPS = linear_flops(4, 10, 10)

INNER_HEADER = """
import pytest
import torch
from torch import nn


class Uncounted(nn.Module):
    '''A Linear(10, 10), then fbtest.nocost twice (a custom op with no cost formula).'''

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(10, 10)

    def forward(self, x):
        return torch.ops.fbtest.nocost(torch.ops.fbtest.nocost(self.lin(x)))


def x():
    return torch.randn(4, 10)
"""

# test_a runs the uncounted op (2 calls), test_b does not.
TWO_TESTS = """
@pytest.mark.flop_budget({marker})
def test_a():
    Uncounted()(x())

@pytest.mark.flop_budget({marker})
def test_b():
    nn.Linear(10, 10)(x())
"""
STRICT_LINE = f"strict: 1 op has no cost formula: {NOCOST} (2 calls)"


@pytest.fixture(autouse=True)
def _inner_run_environment(request, monkeypatch):
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")
        isolate_inner_runs(monkeypatch)


def make_tests(pytester: pytest.Pytester, body: str) -> None:
    pytester.makepyfile(test_x=INNER_HEADER + textwrap.dedent(body))


def make_pyproject(pytester: pytest.Pytester, text: str) -> None:
    pytester.makepyprojecttoml(textwrap.dedent(text))


def call_outcomes(pytester: pytest.Pytester, *args: str) -> dict[str, tuple[str, str]]:
    """{test name: (phase, outcome)} of each test's failing phase, or its call phase."""
    reports = pytester.inline_run(*args).getreports("pytest_runtest_logreport")
    outcomes = {}
    for report in reports:
        name = report.nodeid.split("::")[-1]
        if report.when == "call" or not report.passed:
            outcomes.setdefault(name, (report.when, report.outcome))
    return outcomes


def test_flop_report_names_blocks_of_a_module_list_by_their_container(pytester):
    make_tests(
        pytester,
        """
        class Stack(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(10, 10)) for _ in range(2)])

            def forward(self, x):
                for block in self.blocks:
                    x = block(x)
                return x

        @pytest.mark.flop_budget(max_gflops=1)
        def test_stack():
            Stack()(x())
        """,
    )
    result = pytester.runpytest("--flop-report", "--flop-report-depth=3")
    result.assert_outcomes(passed=1)
    labels = [re.split(r"\s{2,}", line.strip())[0] for line in result.outlines]
    blocks = labels.index("blocks (ModuleList)")
    assert labels[blocks + 1 : blocks + 3] == ["blocks.0 (Sequential)", "blocks.0.0 (Linear)"]
    assert "blocks.1 (Sequential)" in labels
    assert "0 (Sequential)" not in labels
    blocks_row = next(line for line in result.outlines if "blocks (ModuleList)" in line)
    # calls, params, MACs, FLOPs, share: the two blocks' sum, all of the test's work
    assert blocks_row.split()[2:] == [
        *("0", human(2 * linear_params(10, 10)), human(2 * linear_macs(4, 10, 10))),
        *(human(2 * FLOPS), "100.0%"),
    ]


def test_default_summary_marks_uncounted_tests_and_says_how_to_see_them(pytester):
    make_tests(pytester, TWO_TESTS.format(marker="max_gflops=1"))
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)  # not strict: nothing fails
    assert row_of(result, "test_x.py::test_a")["FLOPs"] == f"≥{FLOPS}"
    assert row_of(result, "test_x.py::test_b")["FLOPs"] == str(FLOPS)
    hint = (
        "1 test ran ops with no cost formula (their FLOPs, marked ≥, are a lower bound): "
        "see -v, --flop-report, or set strict"
    )
    assert hint in result.outlines
    assert f"test_x.py::test_a: uncounted ops {NOCOST} ×2" not in result.outlines
    assert f"test_x.py::test_a: uncounted ops {NOCOST} ×2" in pytester.runpytest("-v").outlines
    quiet = pytester.runpytest("-q").outlines
    assert "flop budget: 2 budgeted test(s): 2 ok, 1 ran ops with no cost formula" in quiet


def test_no_hint_when_every_op_has_a_formula(pytester):
    make_tests(pytester, "@pytest.mark.flop_budget\ndef test_b():\n    nn.Linear(10, 10)(x())\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert not any("no cost formula" in line for line in result.outlines)


def test_strict_at_the_top_of_pyproject_fails_uncounted_tests_in_their_call_phase(pytester):
    make_pyproject(pytester, "[tool.flopbudget]\nstrict = true\n")
    make_tests(pytester, TWO_TESTS.format(marker="max_gflops=1"))
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*_ test_a _*", STRICT_LINE])
    assert row_of(result, "test_x.py::test_a")["status"] == "uncounted"
    assert call_outcomes(pytester) == {"test_a": ("call", "failed"), "test_b": ("call", "passed")}


def test_strict_names_every_op_and_its_calls(pytester):
    make_tests(
        pytester,
        """
        class Both(nn.Module):
            def forward(self, x):
                return torch.ops.fbtest.nocost_too(torch.ops.fbtest.nocost(x))

        @pytest.mark.flop_budget(strict=True)
        def test_a():
            Both()(x())
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [f"strict: 2 ops have no cost formula: {NOCOST} (1 call), {NOCOST}_too (1 call)"]
    )


@pytest.mark.parametrize(
    ("toml", "failing"),
    [
        pytest.param(
            '[tool.flopbudget.tests."test_x.py::test_a"]\nstrict = true\n', {"test_a"}, id="exact"
        ),
        pytest.param(
            '[tool.flopbudget.tests."test_x.py::*"]\nstrict = true\n', {"test_a"}, id="glob"
        ),
        pytest.param(
            '[tool.flopbudget]\nstrict = true\n[tool.flopbudget.tests."test_x.py::test_a"]\n'
            "strict = false\n",
            set(),
            id="exact-entry-over-top-level",
        ),
        pytest.param(
            '[tool.flopbudget.tests."test_x.py::test_a"]\nstrict = false\n'
            '[tool.flopbudget.tests."test_x.py::*"]\nstrict = true\n',
            set(),
            id="exact-entry-over-glob",
        ),
        pytest.param(
            '[tool.flopbudget.tests."test_x.py::*"]\nstrict = false\n'
            '[tool.flopbudget.tests."test_x.py::test_*"]\nstrict = true\n',
            {"test_a"},
            id="longer-glob-first",
        ),
    ],
)
def test_strict_in_a_tests_entry_resolves_as_every_key(pytester, toml, failing):
    make_pyproject(pytester, toml)
    make_tests(pytester, "def test_a():\n    Uncounted()(x())\n\ndef test_b():\n    pass\n")
    outcomes = call_outcomes(pytester)
    assert {name for name, (_, outcome) in outcomes.items() if outcome == "failed"} == failing


def test_strict_in_the_marker_wins_over_pyproject(pytester):
    make_pyproject(
        pytester,
        '[tool.flopbudget]\nstrict = true\n[tool.flopbudget.tests."test_x.py::test_entry"]\n',
    )
    make_tests(
        pytester,
        """
        @pytest.mark.flop_budget(strict=True)
        def test_marked():
            Uncounted()(x())

        @pytest.mark.flop_budget(strict=False)
        def test_marked_off():
            Uncounted()(x())

        def test_entry():
            Uncounted()(x())
        """,
    )
    outcomes = call_outcomes(pytester)
    assert outcomes == {
        "test_marked": ("call", "failed"),
        "test_marked_off": ("call", "passed"),
        "test_entry": ("call", "failed"),
    }


def test_flop_strict_turns_strict_on_for_every_budgeted_test(pytester):
    make_pyproject(
        pytester, '[tool.flopbudget]\nstrict = false\n[tool.flopbudget.tests."test_x.py::test_c"]\n'
    )
    make_tests(
        pytester,
        TWO_TESTS.format(marker="max_gflops=1")
        + "\ndef test_c():\n    Uncounted()(x())\n\ndef test_unbudgeted():\n    Uncounted()(x())\n",
    )
    assert call_outcomes(pytester) == {
        "test_a": ("call", "passed"),
        "test_b": ("call", "passed"),
        "test_c": ("call", "passed"),
        "test_unbudgeted": ("call", "passed"),
    }
    result = pytester.runpytest("--flop-strict")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*_ test_a _*", STRICT_LINE, "*_ test_c _*", STRICT_LINE])
    assert call_outcomes(pytester, "--flop-strict")["test_c"] == ("call", "failed")
    # an updating run still fails for it: rewriting budgets gives those ops no formula
    pytester.runpytest("--flop-strict", "--flop-budget-update").assert_outcomes(passed=2, failed=2)
    pytester.runpytest("--flop-strict", "--flop-budget-disable").assert_outcomes(passed=4)


def test_strict_and_over_budget_name_both(pytester):
    make_tests(
        pytester,
        f"@pytest.mark.flop_budget(max_flops={FLOPS - 1}, strict=True)\n"
        "def test_a():\n    Uncounted()(x())\n",
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [f"FLOP budget exceeded: {FLOPS} FLOPs > {FLOPS - 1} FLOPs *", STRICT_LINE]
    )
    assert row_of(result, "test_x.py::test_a")["status"] == "over:flops"


def test_github_actions_annotates_a_strict_failure(pytester, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    make_tests(pytester, TWO_TESTS.format(marker="strict=True"))
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    annotations = [line for line in result.outlines if line.startswith("::error ")]
    assert len(annotations) == 1
    assert "title=FLOP budget (test_x.py%3A%3Atest_a)" in annotations[0]
    assert annotations[0].endswith(f"::{STRICT_LINE}")


@pytest.mark.parametrize(
    ("toml", "marker", "message"),
    [
        pytest.param(
            '[tool.flopbudget]\nstrict = "yes"\n',
            "",
            "{pyproject}: invalid value 'yes' for 'strict' in [tool.flopbudget]: "
            "must be true or false",
            id="top-level",
        ),
        pytest.param(
            '[tool.flopbudget.tests."test_x.py::test_a"]\nstrict = 1\n',
            "",
            "{pyproject}: invalid value 1 for 'strict' in "
            '[tool.flopbudget.tests."test_x.py::test_a"]: must be true or false',
            id="tests-entry",
        ),
        pytest.param(
            "",
            '@pytest.mark.flop_budget(strict="true")\n',
            "invalid value 'true' for 'strict' in marker on test_x.py::test_a: "
            "must be true or false",
            id="marker",
        ),
    ],
)
def test_a_bad_strict_value_is_a_usage_error_naming_the_key_and_source(
    pytester, toml, marker, message
):
    if toml:
        make_pyproject(pytester, toml)
    make_tests(pytester, f"{marker}def test_a():\n    Uncounted()(x())\n")
    stderr = usage_error(pytester.runpytest())
    assert message.format(pyproject=pytester.path / "pyproject.toml") in stderr


def test_json_and_markdown_reports_carry_the_uncounted_ops_and_the_strict_failure(pytester):
    make_tests(
        pytester,
        TWO_TESTS.format(marker="max_gflops=1")
        + "\n@pytest.mark.flop_budget(strict=True)\ndef test_c():\n    Uncounted()(x())\n",
    )
    result = pytester.runpytest("--flop-report=json:r.json", "--flop-report=markdown:r.md")
    result.assert_outcomes(passed=2, failed=1)
    report = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    tests = {entry["nodeid"].split("::")[-1]: entry for entry in report["tests"]}
    assert tests["test_a"]["uncounted"] == tests["test_c"]["uncounted"] == {NOCOST: 2}
    assert tests["test_b"]["uncounted"] == {}
    assert (tests["test_a"]["status"], tests["test_a"]["violations"]) == ("new", [])
    assert (tests["test_c"]["status"], tests["test_c"]["violations"]) == (
        "uncounted",
        [STRICT_LINE],
    )
    assert tests["test_c"]["outcome"] == "failed"

    markdown = (pytester.path / "r.md").read_text(encoding="utf-8").splitlines()
    rows = {
        line.split("`")[1].split("::")[-1]: line
        for line in markdown
        if line.startswith("| ") and "`" in line
    }
    assert rows["test_c"].startswith("| 🟣 uncounted | `test_x.py::test_c` | ")
    assert f"| ≥{FLOPS} |" in rows["test_a"] and f"| {FLOPS} |" in rows["test_b"]
    listed = markdown[
        markdown.index("Ops with no cost formula (these FLOPs, marked ≥, are a lower bound):") + 1 :
    ]
    assert listed[:2] == [
        f"- `test_x.py::test_c`: `{NOCOST}` ×2",  # in the table's order: the failing row first
        f"- `test_x.py::test_a`: `{NOCOST}` ×2",
    ]


# ---- the flopbudget command: --strict ---------------------------------------------------------


class WithNoCost(nn.Module):
    """Linear(D, D), then fbtest.nocost once."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(D, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.fbtest.nocost(self.lin(x))


def with_nocost() -> WithNoCost:
    return WithNoCost()


def plain() -> nn.Linear:
    return nn.Linear(D, D)


def cli_run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_strict_exits_3_and_names_the_uncounted_ops_on_stderr(capsys):
    spec = f"{__name__}:with_nocost"
    code, out, err = cli_run(capsys, spec, "--input-shape", f"{B},{D}")
    assert (code, err) == (0, "")
    code, strict_out, err = cli_run(capsys, spec, "--input-shape", f"{B},{D}", "--strict")
    assert code == 3
    assert err == f"flopbudget: strict: 1 op has no cost formula: {NOCOST} (1 call)\n"
    assert strict_out == out  # the counts are printed all the same
    assert f"totals: flops {LIN_FLOPS}, macs {LIN_MACS}," in out
    code, out, err = cli_run(capsys, spec, "--input-shape", f"{B},{D}", "--strict", "--json")
    assert code == 3
    assert json.loads(out)["models"][0]["uncounted"] == {NOCOST: 1}


def test_cli_strict_exits_0_when_every_op_has_a_formula(capsys):
    code, out, err = cli_run(capsys, f"{__name__}:plain", "--input-shape", f"{B},{D}", "--strict")
    assert (code, err) == (0, "")
    assert f"totals: flops {LIN_FLOPS}, macs {LIN_MACS}," in out


def test_a_marker_with_only_strict_does_not_pin_the_budget(pytester):
    make_pyproject(pytester, "[tool.flopbudget]\n")
    make_tests(pytester, TWO_TESTS.format(marker="strict=True").split("\n\n")[1])  # test_b
    result = pytester.runpytest("--flop-budget-update")
    result.assert_outcomes(passed=1)
    assert "pinned" not in "\n".join(line for line in result.outlines if "test_b" in line)
    written = (pytester.path / "pyproject.toml").read_text(encoding="utf-8")
    assert '[tool.flopbudget.tests."test_x.py::test_b"]' in written
