"""--flop-report: the module tree, the op table and the uncounted ops of each test."""

from __future__ import annotations

import math
import re

import pytest

from pytest_flopbudget.text import human
from tests.support import (
    FLOPS,
    MACS,
    PARAMS,
    TREE_MODELS,
    UNCOUNTED_MODELS,
    linear_bytes,
    linear_flops,
    linear_macs,
    linear_params,
    summary,
    write_tests,
)

# ---- the pytester suites ----------------------------------------------------------------------

# Linear(10, 10) on a (4, 10) input.


def test_flop_report_names_blocks_of_a_module_list_by_their_container(pytester):
    write_tests(
        pytester,
        UNCOUNTED_MODELS,
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
    # calls, params, MACs, FLOPs, bytes, FLOP/B, share: the two blocks' sum, all of the work
    assert blocks_row.split()[2:] == [
        *("0", human(2 * linear_params(10, 10)), human(2 * linear_macs(4, 10, 10))),
        *(human(2 * FLOPS), *traffic(2 * FLOPS, 2 * linear_bytes(4, 10, 10)), "100.0%"),
    ]


# --- closed forms ------------------------------------------------------------------------------


def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%"


def traffic(flops: int, nbytes: int) -> tuple[str, str]:
    """A module row's bytes moved and arithmetic intensity cells."""
    return f"{human(nbytes)}B", f"{flops / nbytes:.3g}"


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


# the logcumsumexp after the head reads and writes its (4, 30) float32 output
LOGCUMSUMEXP_BYTES = 2 * 4 * 30 * 4
HEAD_BYTES = linear_bytes(4, 10, 30)
TREE_BYTES = 2 * linear_bytes(4, 10, 10) + HEAD_BYTES + LOGCUMSUMEXP_BYTES


assert (TREE_MACS, TREE_FLOPS, TREE_PARAMS, TREE_BYTES) == (2000, 4200, 550, 4440)


def test_flop_report_prints_module_tree_op_table_and_uncounted_ops_after_the_summary(pytester):
    write_tests(pytester, TREE_MODELS, TREE_TEST)
    result = pytester.runpytest("--flop-report")
    result.assert_outcomes(passed=1)
    separators = [i for i, line in enumerate(result.outlines) if re.fullmatch(r"[-=]+ .+", line)]
    titles = [result.outlines[i].strip("-= ") for i in separators]
    assert titles.index("flop report") == titles.index("flop budget") + 1

    section = detail_section(result, "test_x.py::test_tree")
    assert section[0] == (
        f"test_x.py::test_tree: {human(TREE_FLOPS, 'FLOPs')} (all), "
        f"{human(TREE_MACS, 'MACs')}, params {human(TREE_PARAMS)} "
        f"({human(4 * TREE_PARAMS, 'B')}), "  # float32: 4 bytes a parameter, no buffers
        f"{human(TREE_BYTES, 'B')} moved"
    )
    tables = detail_tables(section)

    def module(label, params, macs, flops, nbytes):
        return (
            *(label, "1", human(params), human(macs), human(flops)),
            *(*traffic(flops, nbytes), share(flops, TREE_FLOPS)),
        )

    linear = linear_bytes(4, 10, 10)
    # the biggest first at each level: head (2.52K) before enc (1.68K); a and b tie: by name
    assert tables["module"] == [
        module("Tree", TREE_PARAMS, TREE_MACS, TREE_FLOPS, TREE_BYTES),
        module("  head (Linear)", HEAD_PARAMS, HEAD_MACS, HEAD_FLOPS, HEAD_BYTES),
        module("  enc (Sequential)", 2 * PARAMS, 2 * MACS, 2 * FLOPS, 2 * linear),
        module("    a (Linear)", PARAMS, MACS, FLOPS, linear),
        module("    b (Linear)", PARAMS, MACS, FLOPS, linear),
    ]
    addmm_bytes = TREE_BYTES - LOGCUMSUMEXP_BYTES
    assert tables["op"] == [
        (
            "aten.addmm",
            "3",
            human(TREE_MACS),
            human(TREE_FLOPS),
            f"{human(addmm_bytes)}B",
            "100.0%",
        ),
        # no FLOP formula, but its bytes are priced by rule
        ("aten.logcumsumexp", "1", "0", "0", f"{LOGCUMSUMEXP_BYTES}B", "0.0%"),
    ]
    assert section[-1] == "uncounted ops (counted as 0 FLOPs): aten::logcumsumexp ×1"


def test_flop_report_is_not_printed_without_the_option(pytester):
    write_tests(pytester, TREE_MODELS, TREE_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert not any(re.fullmatch(r"-+ flop report -+", line) for line in result.outlines)
    assert summary(result)  # the summary still is


def test_flop_report_folds_children_past_the_eighth_into_an_other_row(pytester):
    write_tests(
        pytester,
        TREE_MODELS,
        """
        @pytest.mark.flop_budget(max_gflops=1)
        def test_fan():
            Fan()(x())
        """,
    )
    result = pytester.runpytest("--flop-report")
    result.assert_outcomes(passed=1)
    child = {
        k: (
            linear_params(10, k),
            linear_macs(4, 10, k),
            linear_flops(4, 10, k),
            linear_bytes(4, 10, k),
        )
        for k in range(1, 11)
    }
    total = sum(flops for _, _, flops, _ in child.values())
    assert total == 4620

    def cells(params, macs, flops, nbytes):
        return (human(params), human(macs), human(flops), *traffic(flops, nbytes))

    def summed(children):
        return (sum(c[i] for c in children) for i in range(4))

    def row(label, calls, *numbers):
        return (label, calls, *cells(*numbers), share(numbers[2], total))

    folded = [child[2], child[1]]  # the two smallest
    assert detail_tables(detail_section(result, "test_x.py::test_fan"))["module"] == [
        row("Fan", "1", *summed(child.values())),
        *[row(f"  l{k} (Linear)", "1", *child[k]) for k in range(10, 2, -1)],
        row("  other (2 modules)", "2", *summed(folded)),
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
    write_tests(pytester, TREE_MODELS, TREE_TEST)
    result = pytester.runpytest("--flop-report", f"--flop-report-depth={depth}")
    result.assert_outcomes(passed=1)
    tables = detail_tables(detail_section(result, "test_x.py::test_tree"))
    assert [row[0] for row in tables["module"]] == shown
    # the op table is never cut
    assert [row[0] for row in tables["op"]] == ["aten.addmm", "aten.logcumsumexp"]


def test_flop_report_shows_the_phases_a_test_entered(pytester):
    write_tests(
        pytester,
        "",
        """
        @pytest.mark.flop_budget(max_gflops=1)
        def test_steps(flop_budget):
            for _ in range(2):
                with flop_budget.phase("decode"):
                    flop_budget.profile(nn.Linear(10, 10), x())
        """,
    )
    result = pytester.runpytest("--flop-report")
    result.assert_outcomes(passed=1)
    section = detail_section(result, "test_x.py::test_steps")
    header = next(i for i, line in enumerate(section) if line.startswith("phase "))
    assert section[header].split() == [
        *("phase", "entries", "FLOPs", "mean/entry", "max/entry", "last", "share")
    ]
    # two entries of one Linear(10, 10) on a (4, 10) input each
    assert section[header + 2].split() == [
        *("decode", "2", human(2 * FLOPS), human(FLOPS), human(FLOPS), human(FLOPS), "100.0%")
    ]


def test_flop_report_shows_the_distribution_of_a_profile_each(pytester):
    write_tests(
        pytester,
        "",
        """
        @pytest.mark.flop_budget(max_gflops=1, statistic="p95")
        def test_inputs(flop_budget):
            samples = [torch.randn(1, 10), torch.randn(3, 10)]
            flop_budget.profile_each(nn.Linear(10, 10), samples)
        """,
    )
    result = pytester.runpytest("--flop-report")
    result.assert_outcomes(passed=1)
    section = detail_section(result, "test_x.py::test_inputs")
    title = next(i for i, line in enumerate(section) if line.startswith("over 2 inputs"))
    assert section[title] == "over 2 inputs, gated on p95:"
    # Linear(10, 10) on b rows: 210·b FLOPs, so 210 and 630; p95 by linear interpolation
    flops = {"mean": 420, "std": 210, "min": 210, "p50": 420, "p95": 210 + 0.95 * 420, "max": 630}
    assert section[title + 1].split() == list(flops)
    cells = section[title + 3].split()
    assert cells == ["flops", *(human(math.ceil(v)) for v in flops.values())]
    # the tree and the ops are both inputs' work together (210 + 630), their shares of it
    assert section[0].endswith(" moved (p95 over 2 inputs)")
    assert section[1] == "the module tree and the ops below: the 2 inputs together, 840 FLOPs"
    assert section[4].split()[-1] == "100.0%"  # the Linear, the root of the tree
