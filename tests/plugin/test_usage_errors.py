"""Bad configuration, markers and options end the run with a usage error naming the culprit,
never an INTERNALERROR."""

from __future__ import annotations

import pytest
import torch  # noqa: F401  (imported once: pytester's in-process runs drop what a run imported)

from pytest_flopbudget.reporting.formats import FORMATS
from tests.support import (
    LINEAR_MODELS,
    TREE_MODELS,
    usage_error,
    write_tests,
)

HUNDREDS_OF_DIGITS = "1" + "0" * 300  # 10**300


def no_internal_error(result: pytest.RunResult) -> str:
    text = str(result.stdout) + str(result.stderr)
    assert "INTERNALERROR" not in text
    assert "Traceback" not in text
    return usage_error(result)


TEST_WITH_MARKER = """
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

@pytest.mark.flop_budget({arguments})
def test_a():
    nn.Linear(10, 10)(torch.randn(4, 10))
"""


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            f'tolerance="{HUNDREDS_OF_DIGITS}%"',
            "for 'tolerance' in marker on test_m.py::test_a: too long",
        ),
        ('max_flops="1e400"', "for 'max_flops' in marker on test_m.py::test_a: too large"),
        ('max_flops="１２"', "for 'max_flops' in marker on test_m.py::test_a: non-ASCII"),
    ],
)
def test_a_bad_marker_argument_ends_the_run_with_a_usage_error(inner, arguments, message):
    inner.makepyfile(test_m=TEST_WITH_MARKER.format(arguments=arguments))
    assert message in no_internal_error(inner.runpytest())


def test_a_huge_limit_in_pyproject_ends_the_run_with_a_usage_error(inner):
    inner.makepyprojecttoml('[tool.flopbudget]\nmax_flops = "1e400"\n')
    inner.makepyfile(test_m=TEST_WITH_MARKER.format(arguments=""))
    message = no_internal_error(inner.runpytest())
    assert "invalid value '1e400' for 'max_flops' in [tool.flopbudget]: too large" in message


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            "--flop-fail-on-increase=５%",
            "invalid value '５%' for '--flop-fail-on-increase' in the command line: non-ASCII",
        ),
        (
            f"--flop-fail-on-increase={HUNDREDS_OF_DIGITS}%",
            "for '--flop-fail-on-increase' in the command line: too long",
        ),
        ("--flop-report-depth=１２", "for '--flop-report-depth' in the command line: non-ASCII"),
    ],
)
def test_a_bad_command_line_value_is_a_usage_error(inner, option, message):
    inner.makepyfile(test_m=TEST_WITH_MARKER.format(arguments="max_gflops=1"))
    assert message in no_internal_error(inner.runpytest(option))


# --- 6. a bad [tool.flopbudget] is a usage error naming the file, the table and the key ----------

ENTRY = '[tool.flopbudget.tests."test_x.py::test_a"]'


ACCEPTED_ENTRY = (
    "max_flops, max_kflops, max_mflops, max_gflops, max_tflops, max_macs, max_kmacs, max_mmacs, "
    "max_gmacs, max_tmacs, "
    "max_params, max_nonzero_params, max_sparse_flops, max_param_bytes, max_bytes_moved, "
    "max_latency_ms, tolerance, strict"
)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        pytest.param(
            "[tool.flopbudget]\nmax_gflop = 1\n",
            "[tool.flopbudget] key 'max_gflop' is not a budget key (did you mean 'max_gflops'?); "
            "accepted keys: count, tolerance, ",
            id="unknown-top-level-key",
        ),
        pytest.param(
            '[tool.flopbudget]\nmax_gflops = "lots"\n',
            "invalid value 'lots' for 'max_gflops' in [tool.flopbudget]: not a number",
            id="not-a-number",
        ),
        pytest.param(
            "[tool.flopbudget]\nmax_flops = 0\n",
            "invalid value 0 for 'max_flops' in [tool.flopbudget]: must be positive",
            id="zero",
        ),
        pytest.param(
            "[tool.flopbudget]\nmax_params = -5\n",
            "invalid value -5 for 'max_params' in [tool.flopbudget]: must be positive",
            id="negative",
        ),
        pytest.param(
            "[tool.flopbudget]\nmax_flops = 1000\nmax_gflops = 1\n",
            "budget keys 'max_flops' and 'max_gflops' in [tool.flopbudget] both limit flops; "
            "use only one of them",
            id="two-units-of-one-quantity",
        ),
        pytest.param(
            '[tool.flopbudget]\ncount = "everything"\n',
            "[tool.flopbudget] key 'count' must be one of 'all', 'matmul', got 'everything'",
            id="unknown-count",
        ),
        pytest.param(
            '[tool.flopbudget]\ntolerance = "ten%"\n',
            "invalid value 'ten%' for 'tolerance' in [tool.flopbudget]: "
            'must be a percentage such as 5, "5" or "5%"',
            id="malformed-percentage",
        ),
        pytest.param(
            f"{ENTRY}\nmax_gflop = 1\n",
            f"{ENTRY} key 'max_gflop' is not a budget key (did you mean 'max_gflops'?); "
            f"accepted keys: {ACCEPTED_ENTRY}",
            id="unknown-key-in-a-tests-entry",
        ),
    ],
)
def test_bad_config_is_a_usage_error_naming_file_table_and_key(pytester, toml, message):
    pytester.makepyprojecttoml(toml)
    write_tests(pytester, LINEAR_MODELS, "def test_a():\n    pass\n")
    result = pytester.runpytest()
    stderr = usage_error(result)
    assert f"{pytester.path / 'pyproject.toml'}: {message}" in stderr
    assert "passed" not in result.stdout.str()


@pytest.mark.parametrize("reader", ["plugin", "pytest"])
def test_toml_syntax_error_is_a_usage_error_naming_the_file_and_line(pytester, reader):
    pytester.makepyprojecttoml("[tool.flopbudget]\nmax_gflops = 1\nmax_params = = 5\n")
    write_tests(pytester, LINEAR_MODELS, "def test_a():\n    pass\n")
    # pytest itself parses every pyproject.toml beside its ini file, except with -c
    pytester.makefile(".ini", pytest="[pytest]\n")
    result = pytester.runpytest(*(["-c", "pytest.ini"] if reader == "plugin" else []))
    stderr = usage_error(result)
    path = pytester.path / "pyproject.toml"
    assert f"{path}: " in stderr
    assert "(at line 3, column 14)" in stderr
    assert (f"{path}: invalid TOML: " in stderr) == (reader == "plugin")


# --- 7. bad marker arguments are a usage error at collection -------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param(
            "max_gflop=1",
            "unknown budget key 'max_gflop' in marker on test_x.py::test_a "
            f"(did you mean 'max_gflops'?); accepted keys: {ACCEPTED_ENTRY}",
            id="unknown-key",
        ),
        pytest.param(
            'max_gflops="lots"',
            "invalid value 'lots' for 'max_gflops' in marker on test_x.py::test_a: not a number",
            id="not-a-number",
        ),
        pytest.param(
            "max_params=-1",
            "invalid value -1 for 'max_params' in marker on test_x.py::test_a: must be positive",
            id="negative",
        ),
        pytest.param(
            "100",
            "test_x.py::test_a: flop_budget takes keyword arguments only, got positional (100,)",
            id="positional",
        ),
    ],
)
def test_bad_marker_arguments_are_a_usage_error_at_collection(pytester, arguments, message):
    write_tests(
        pytester,
        LINEAR_MODELS,
        f"""
        @pytest.mark.flop_budget({arguments})
        def test_a():
            open("ran", "w").close()
        """,
    )
    collected = pytester.runpytest("--collect-only")
    assert message in usage_error(collected)
    result = pytester.runpytest()
    assert message in usage_error(result)
    assert not (pytester.path / "ran").exists()


@pytest.mark.parametrize("value", ["xml:foo", "markdown", "term:x"])  # "json:": test_formats
def test_bad_flop_report_value_is_a_usage_error_naming_it(pytester, value):
    write_tests(pytester, TREE_MODELS, "def test_a():\n    pass\n")
    # every format of the table, in its order: term, json:PATH, markdown:PATH, html:PATH, ...
    forms = [name if f.render is None else f"{name}:PATH" for name, f in FORMATS.items()]
    assert forms[:4] == ["term", "json:PATH", "markdown:PATH", "html:PATH"]
    listed = f"{', '.join(forms[:-1])} or {forms[-1]}"
    assert f"--flop-report={value}: use {listed}" in usage_error(
        pytester.runpytest(f"--flop-report={value}")
    )


NEW_TEST = """
@pytest.mark.flop_budget(max_gflops=1)
def test_new():
    nn.Linear(10, 10)(x())
"""


def test_bad_fail_on_increase_is_a_usage_error(pytester):
    write_tests(pytester, TREE_MODELS, NEW_TEST)
    assert "--flop-fail-on-increase" in usage_error(
        pytester.runpytest("--flop-fail-on-increase=lots")
    )
