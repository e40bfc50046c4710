"""Per-module budgets: in the marker, the fixture and pyproject.toml; unknown and bad ones."""

from __future__ import annotations

import json
import re

import pytest

from tests.support import (
    NET_MODELS,
    linear_bytes,
    linear_flops,
    linear_macs,
    linear_params,
    pct,
    row_of,
    summary,
    usage_error,
    write_pyproject,
    write_tests,
)


def kilo(flops: int) -> str:
    """FLOPs as a failure line writes them beside a limit of 1000 or more: in K, two decimals."""
    return f"{flops / 1000:.2f} KFLOPs"


# Net: backbone = Linear(10, 20), ReLU, Linear(20, 10); head = Linear(10, 2); on a (4, 10) input.
BACKBONE_0_FLOPS = linear_flops(4, 10, 20)


BACKBONE_FLOPS = BACKBONE_0_FLOPS + 4 * 20 + linear_flops(4, 20, 10)


BACKBONE_MACS = linear_macs(4, 10, 20) + linear_macs(4, 20, 10)


BACKBONE_PARAMS = linear_params(10, 20) + linear_params(20, 10)


# the two Linears, and the ReLU reading and writing the (4, 20) float32 activations
BACKBONE_BYTES = linear_bytes(4, 10, 20) + 2 * 4 * 20 * 4 + linear_bytes(4, 20, 10)


BACKBONE_0_PARAMS = linear_params(10, 20)


HEAD_FLOPS = linear_flops(4, 10, 2)


BACKBONE_LIMIT = BACKBONE_FLOPS - 100  # a limit that a failure line writes in KFLOPs


assert (BACKBONE_FLOPS, BACKBONE_MACS, BACKBONE_PARAMS, BACKBONE_0_PARAMS) == (3400, 1600, 430, 220)


def failure_of(result: pytest.RunResult, nodeid: str) -> list[str]:
    (report,) = [
        r
        for r in result.reprec.getreports("pytest_runtest_logreport")
        if r.nodeid == nodeid and r.failed
    ]
    return str(report.longrepr).splitlines()


# --- 5. per-module budgets: the marker ---------------------------------------------------------


def test_module_budget_in_the_marker_passes_at_its_limit_and_fails_over_it(pytester):
    nested_limit = BACKBONE_0_PARAMS - 1
    write_tests(
        pytester,
        NET_MODELS,
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
        "measured": {
            "flops": BACKBONE_FLOPS,
            "macs": BACKBONE_MACS,
            "params": BACKBONE_PARAMS,
            "bytes_moved": BACKBONE_BYTES,
        },
        "over": ["flops"],
    }


def test_module_budget_with_the_fixture_and_a_test_limit_over_too(pytester):
    write_tests(
        pytester,
        NET_MODELS,
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
    write_tests(
        pytester,
        NET_MODELS,
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
    write_pyproject(
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
    write_tests(
        pytester,
        NET_MODELS,
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
    write_tests(
        pytester,
        NET_MODELS,
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
    write_tests(
        pytester,
        NET_MODELS,
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
    write_tests(
        pytester,
        NET_MODELS,
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
    write_pyproject(
        pytester, f'[tool.flopbudget.tests."test_x.py::test_a".modules."backbone"]\n{toml}\n'
    )
    write_tests(pytester, NET_MODELS, "def test_a():\n    pass\n")
    error = usage_error(pytester.runpytest())
    assert "pyproject.toml: " in error
    assert message in error


def test_modules_in_pyproject_must_be_a_table_of_tables(pytester):
    write_pyproject(pytester, '[tool.flopbudget.tests."test_x.py::test_a"]\nmodules = 3\n')
    write_tests(pytester, NET_MODELS, "def test_a():\n    pass\n")
    error = usage_error(pytester.runpytest())
    assert "'modules' in [tool.flopbudget.tests.\"test_x.py::test_a\"] must map module" in error


def test_top_level_module_defaults_are_not_accepted(pytester):
    write_pyproject(pytester, '[tool.flopbudget.modules."backbone"]\nmax_gflops = 3\n')
    write_tests(pytester, NET_MODELS, "def test_a():\n    pass\n")
    assert (
        "[tool.flopbudget] key 'modules': module budgets go in a tests entry, "
        '[tool.flopbudget.tests."<node id>".modules."<module>"]'
    ) in usage_error(pytester.runpytest())
