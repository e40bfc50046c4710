"""Reading and validating [tool.flopbudget] (pytest_flopbudget.config)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch  # noqa: F401  (imported once: pytester's in-process runs drop what a run imported)

from pytest_flopbudget.budgets.config import Config, TestEntry, find_pyproject, load_config
from pytest_flopbudget.budgets.quantities import LIMIT_KEYS
from pytest_flopbudget.budgets.resolve import resolve, validate_marker
from pytest_flopbudget.budgets.values import (
    MAX_PERCENT,
    BudgetError,
    Limit,
)

HUNDREDS_OF_DIGITS = "1" + "0" * 300  # 10**300


# --- through load_config and validate_marker ---------------------------------------------------


def write_pyproject_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize("key", ["tolerance", "fail_on_increase", "update_headroom"])
@pytest.mark.parametrize(
    ("toml_value", "reason"),
    [
        (f'"{HUNDREDS_OF_DIGITS}%"', "too long"),
        (HUNDREDS_OF_DIGITS, f"must be at most {MAX_PERCENT}%"),
        ('"５%"', "non-ASCII character '５'"),
        ("inf", "must be a finite number"),
    ],
)
def test_a_bad_percentage_in_pyproject_names_file_table_and_key(tmp_path, key, toml_value, reason):
    path = write_pyproject_file(tmp_path, f"[tool.flopbudget]\n{key} = {toml_value}\n")
    with pytest.raises(BudgetError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: invalid value ")
    assert f"for {key!r} in [tool.flopbudget]: {reason}" in message


@pytest.mark.parametrize(
    ("toml_value", "reason"),
    [
        ('"1e400"', "too large"),
        ("1e400", "must be a finite number"),  # tomllib reads 1e400 as inf
        ("1" + "0" * 400, "too large"),
        ('"１２"', "non-ASCII character '１'"),
        ("nan", "must be a finite number"),
    ],
)
def test_a_bad_limit_in_an_entry_names_the_entry(tmp_path, toml_value, reason):
    path = write_pyproject_file(
        tmp_path,
        f"""
        [tool.flopbudget.tests."tests/t.py::test_a"]
        max_flops = {toml_value}
        """,
    )
    with pytest.raises(BudgetError) as info:
        load_config(path)
    assert """for 'max_flops' in [tool.flopbudget.tests."tests/t.py::test_a"]: """ in str(
        info.value
    )
    assert reason in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "[tool.flopbudget]\nmax_flops = 1" + "0" * 5000 + "\n",  # tomllib: ValueError, not TOML's
        "[tool.flopbudget]\nmax_flops = " + "[" * 5000 + "]" * 5000 + "\n",  # RecursionError
    ],
)
def test_toml_that_tomllib_cannot_read_is_a_usage_error(tmp_path, text):
    path = tmp_path / "pyproject.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BudgetError, match=re.escape(f"{path}: invalid TOML: ")):
        load_config(path)


def test_toml_underscores_are_toml_integers(tmp_path):
    path = write_pyproject_file(tmp_path, "[tool.flopbudget]\nmax_flops = 1_000\n")
    assert load_config(path).defaults["flops"].value == 1000


def test_validate_marker_takes_numpy_scalars():
    limits = validate_marker(
        {"max_gflops": np.float64(1.0), "max_params": np.int64(1)}, (), "t.py::test_a"
    )
    assert (limits["flops"].value, limits["params"].value) == (10**9, 1)


@pytest.mark.parametrize(
    ("kwargs", "key", "reason"),
    [
        ({"tolerance": HUNDREDS_OF_DIGITS + "%"}, "tolerance", "too long"),
        ({"tolerance": int(HUNDREDS_OF_DIGITS)}, "tolerance", "must be at most"),
        ({"max_flops": "1e400"}, "max_flops", "too large"),
        ({"max_flops": 10**400}, "max_flops", "too large"),
        ({"max_flops": "１２"}, "max_flops", "non-ASCII"),
        ({"tolerance": "５%"}, "tolerance", "non-ASCII"),
        ({"strict": np.bool_(True)}, "strict", "must be true or false"),
    ],
)
def test_a_bad_marker_argument_is_a_usage_error_naming_the_test(kwargs, key, reason):
    with pytest.raises(BudgetError) as info:
        validate_marker(kwargs, (), "t.py::test_a")
    assert f"for {key!r} in marker on t.py::test_a: " in str(info.value)
    assert reason in str(info.value)


DESIGN_EXAMPLE = """
[tool.flopbudget]
count = "all"                 # or "matmul"
tolerance = "0%"              # allowed overshoot before a test fails
fail_on_increase = "5%"       # against the baseline; off when absent
max_gflops = 100              # default limits for every budgeted test

[tool.flopbudget.tests."tests/test_models.py::test_resnet"]
max_gflops = 8.3
max_params = "25.6M"

[tool.flopbudget.tests."tests/test_vit.py::*"]   # fnmatch on the node id
max_gflops = 40
"""


RESNET = "tests/test_models.py::test_resnet"


RESNET_TABLE = f'[tool.flopbudget.tests."{RESNET}"]'


ACCEPTED_TOP = ", ".join(
    [
        "count",
        "tolerance",
        "fail_on_increase",
        "warn_on_increase",
        "update_headroom",
        "strict",
        "tests",
        "hardware",
        "statistic",
        *LIMIT_KEYS,
    ]
)


ACCEPTED_ENTRY = ", ".join([*LIMIT_KEYS, "tolerance", "strict"])


def usage_error(path: Path, message: str):
    """pytest.raises for a ConfigError whose message is ``<path>: <message>`` (verbatim)."""
    return pytest.raises(BudgetError, match="^" + re.escape(f"{path}: {message}"))


# --- loading -----------------------------------------------------------------------------------


def test_no_file_gives_the_defaults(tmp_path):
    assert load_config(None) == Config()
    assert load_config(tmp_path / "pyproject.toml") == Config()
    assert Config() == Config(
        path=None,
        count="all",
        tolerance=0.0,
        fail_on_increase=None,
        update_headroom=0.0,
        defaults={},
        tests=(),
    )


def test_a_file_without_the_table_gives_the_defaults_with_its_path(tmp_path):
    path = write_pyproject_file(tmp_path, '[project]\nname = "x"\n[tool.other]\nkey = 1\n')
    assert load_config(path) == Config(path=path)


def test_the_design_example_loads(tmp_path):
    path = write_pyproject_file(tmp_path, DESIGN_EXAMPLE)
    config = load_config(path)
    top = "pyproject.toml [tool.flopbudget]"
    resnet = f"pyproject.toml {RESNET_TABLE}"
    vit = 'pyproject.toml [tool.flopbudget.tests."tests/test_vit.py::*"]'
    assert config == Config(
        path=path,
        count="all",
        tolerance=0.0,
        fail_on_increase=pytest.approx(5 / 100),
        update_headroom=0.0,
        defaults={"flops": Limit("flops", 100 * 10**9, "max_gflops", top)},
        tests=(
            TestEntry(
                pattern=RESNET,
                limits={
                    "flops": Limit("flops", 83 * 10**8, "max_gflops", resnet),
                    "params": Limit("params", 256 * 10**5, "max_params", resnet),
                },
                is_glob=False,
            ),
            TestEntry(
                pattern="tests/test_vit.py::*",
                limits={"flops": Limit("flops", 40 * 10**9, "max_gflops", vit)},
                is_glob=True,
            ),
        ),
    )


def test_settings_and_per_entry_tolerance(tmp_path):
    path = write_pyproject_file(
        tmp_path,
        """
        [tool.flopbudget]
        count = "matmul"
        tolerance = 2
        update_headroom = "12.5%"
        max_params = "1M"

        [tool.flopbudget.tests."tests/a.py::test_a"]
        tolerance = "3%"

        [tool.flopbudget.tests."tests/b.py::test_b"]
        max_param_bytes = "1.5GiB"
        """,
    )
    config = load_config(path)
    assert (config.count, config.fail_on_increase) == ("matmul", None)
    assert config.tolerance == pytest.approx(2 / 100)
    assert config.update_headroom == pytest.approx(125 / 1000)
    first, second = config.tests
    assert (first.tolerance, first.limits) == (pytest.approx(3 / 100), {})
    assert second.tolerance is None
    assert second.limits["param_bytes"].value == 3 * 2**29


def test_a_loaded_config_resolves_exact_before_glob_before_defaults(tmp_path):
    config = load_config(write_pyproject_file(tmp_path, DESIGN_EXAMPLE))
    flops = {
        node: resolve(None, node, config).limits["flops"].value
        for node in (RESNET, "tests/test_vit.py::test_tiny", "tests/test_other.py::test_x")
    }
    assert flops == {
        RESNET: 83 * 10**8,
        "tests/test_vit.py::test_tiny": 40 * 10**9,
        "tests/test_other.py::test_x": 100 * 10**9,
    }


# --- errors: every one names the file, the table and the key ----------------------------------


def test_toml_syntax_error_names_the_file(tmp_path):
    path = write_pyproject_file(tmp_path, "[tool.flopbudget\nmax_gflops = 1\n")
    with usage_error(path, "invalid TOML: "):
        load_config(path)


def test_a_duplicate_key_is_a_toml_error(tmp_path):
    path = write_pyproject_file(tmp_path, "[tool.flopbudget]\nmax_gflops = 1\nmax_gflops = 2\n")
    with usage_error(path, "invalid TOML: "):
        load_config(path)


def test_an_unknown_top_level_key_suggests_the_nearest(tmp_path):
    path = write_pyproject_file(tmp_path, "[tool.flopbudget]\nmax_gflop = 2\n")
    with usage_error(
        path,
        "[tool.flopbudget] key 'max_gflop' is not a budget key (did you mean 'max_gflops'?); "
        f"accepted keys: {ACCEPTED_TOP}",
    ):
        load_config(path)


def test_a_misspelt_setting_suggests_the_setting(tmp_path):
    path = write_pyproject_file(tmp_path, '[tool.flopbudget]\ntolerence = "5%"\n')
    with usage_error(
        path, "[tool.flopbudget] key 'tolerence' is not a budget key (did you mean 'tolerance'?)"
    ):
        load_config(path)


def test_the_section_must_be_a_table(tmp_path):
    path = write_pyproject_file(tmp_path, "[tool]\nflopbudget = 3\n")
    with usage_error(path, "[tool.flopbudget] must be a table, got 3"):
        load_config(path)


def test_tests_must_be_a_table_of_tables(tmp_path):
    path = write_pyproject_file(tmp_path, '[tool.flopbudget]\ntests = "tests/*"\n')
    with usage_error(
        path,
        "[tool.flopbudget] key 'tests' must be a table of tables such as "
        "[tool.flopbudget.tests.\"tests/test_x.py::test_a\"], got 'tests/*'",
    ):
        load_config(path)


def test_a_tests_entry_must_be_a_table(tmp_path):
    path = write_pyproject_file(tmp_path, '[tool.flopbudget.tests]\n"tests/a.py::test_a" = 5\n')
    with usage_error(
        path,
        "[tool.flopbudget.tests] key 'tests/a.py::test_a' must be a table "
        '[tool.flopbudget.tests."tests/a.py::test_a"], got 5',
    ):
        load_config(path)


def test_an_empty_test_pattern_is_an_error(tmp_path):
    path = write_pyproject_file(tmp_path, '[tool.flopbudget.tests.""]\nmax_flops = 1\n')
    with usage_error(path, "[tool.flopbudget.tests] has an empty test pattern ''"):
        load_config(path)


def test_an_unquoted_node_id_with_dots_is_explained(tmp_path):
    path = write_pyproject_file(tmp_path, "[tool.flopbudget.tests.test_models.py]\nmax_flops = 1\n")
    with usage_error(
        path,
        "[tool.flopbudget.tests.\"test_models\"] key 'py' is a table, not a budget value; "
        "quote the whole node id as one key",
    ):
        load_config(path)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0", "invalid value 0 for 'max_gflops' in [tool.flopbudget]: must be positive"),
        ("-3", "invalid value -3 for 'max_gflops' in [tool.flopbudget]: must be positive"),
        ("true", "invalid value True for 'max_gflops' in [tool.flopbudget]: a boolean is not"),
        ("nan", "invalid value nan for 'max_gflops' in [tool.flopbudget]: must be a finite"),
        ('"2G"', "invalid value '2G' for 'max_gflops' in [tool.flopbudget]: a unit suffix on"),
        ('"lots"', "invalid value 'lots' for 'max_gflops' in [tool.flopbudget]: not a number"),
        ("[1, 2]", "invalid value [1, 2] for 'max_gflops' in [tool.flopbudget]: must be a"),
    ],
)
def test_an_invalid_default_limit_names_file_table_key_and_value(tmp_path, value, reason):
    path = write_pyproject_file(tmp_path, f"[tool.flopbudget]\nmax_gflops = {value}\n")
    with usage_error(path, reason):
        load_config(path)


def test_an_invalid_entry_limit_names_the_entry_table(tmp_path):
    path = write_pyproject_file(tmp_path, f"{RESNET_TABLE}\nmax_params = -1\n")
    with usage_error(
        path, f"invalid value -1 for 'max_params' in {RESNET_TABLE}: must be positive"
    ):
        load_config(path)


def test_two_unit_variants_at_top_level(tmp_path):
    path = write_pyproject_file(tmp_path, "[tool.flopbudget]\nmax_flops = 1\nmax_gflops = 2\n")
    with usage_error(
        path, "budget keys 'max_flops' and 'max_gflops' in [tool.flopbudget] both limit flops"
    ):
        load_config(path)


def test_two_unit_variants_in_an_entry(tmp_path):
    path = write_pyproject_file(tmp_path, f"{RESNET_TABLE}\nmax_gmacs = 1\nmax_macs = 2\n")
    with usage_error(
        path, f"budget keys 'max_gmacs' and 'max_macs' in {RESNET_TABLE} both limit macs"
    ):
        load_config(path)


@pytest.mark.parametrize(
    ("key", "accepted"),
    [
        ("max_gflop", "(did you mean 'max_gflops'?)"),
        ("count", f"; accepted keys: {ACCEPTED_ENTRY}"),
    ],
)
def test_an_unknown_key_in_an_entry_names_the_entry(tmp_path, key, accepted):
    path = write_pyproject_file(tmp_path, f'{RESNET_TABLE}\n{key} = "all"\n')
    with usage_error(path, f"{RESNET_TABLE} key {key!r} is not a budget key"):
        load_config(path)
    with pytest.raises(BudgetError, match=re.escape(accepted)):
        load_config(path)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('"mamtul"', "got 'mamtul' (did you mean 'matmul'?)"),
        ("3", "got 3"),
        ('"ALL"', "got 'ALL'"),
    ],
)
def test_an_unknown_count_convention(tmp_path, value, reason):
    path = write_pyproject_file(tmp_path, f"[tool.flopbudget]\ncount = {value}\n")
    with usage_error(
        path, f"[tool.flopbudget] key 'count' must be one of 'all', 'matmul', {reason}"
    ):
        load_config(path)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (
            "tolerance",
            '"five"',
            """invalid value 'five' for 'tolerance' in [tool.flopbudget]: \
must be a percentage such as 5, "5" or "5%\"""",
        ),
        (
            "fail_on_increase",
            '"-5%"',
            "invalid value '-5%' for 'fail_on_increase' in [tool.flopbudget]: must not be negative",
        ),
        (
            "update_headroom",
            "true",
            "invalid value True for 'update_headroom' in "
            '[tool.flopbudget]: must be a percentage such as 5, "5" or "5%"',
        ),
        ("tolerance", '"5 5"', "invalid value '5 5' for 'tolerance' in [tool.flopbudget]: "),
    ],
)
def test_a_malformed_percentage(tmp_path, key, value, reason):
    path = write_pyproject_file(tmp_path, f"[tool.flopbudget]\n{key} = {value}\n")
    with usage_error(path, reason):
        load_config(path)


def test_a_malformed_entry_tolerance_names_the_entry(tmp_path):
    path = write_pyproject_file(tmp_path, f'{RESNET_TABLE}\ntolerance = "x%"\n')
    with usage_error(path, f"invalid value 'x%' for 'tolerance' in {RESNET_TABLE}"):
        load_config(path)


# --- finding the file --------------------------------------------------------------------------


def test_find_pyproject_prefers_pytests_ini_file_when_it_is_a_pyproject(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    ini = write_pyproject_file(sub, "[tool.pytest.ini_options]\n")
    write_pyproject_file(tmp_path, "")
    assert find_pyproject(tmp_path, ini) == ini


def test_find_pyproject_falls_back_to_the_rootdir(tmp_path):
    ini = tmp_path / "pytest.ini"
    ini.write_text("[pytest]\n")
    assert find_pyproject(tmp_path, ini) is None
    assert find_pyproject(tmp_path, None) is None
    path = write_pyproject_file(tmp_path, "")
    assert find_pyproject(tmp_path, ini) == path
    assert find_pyproject(tmp_path, None) == path


# --- the marker --------------------------------------------------------------------------------

NODE = "tests/t.py::test_a"


def test_validate_marker_returns_limits_by_quantity():
    assert validate_marker({"max_gflops": 2, "tolerance": "5%"}, (), NODE) == {
        "flops": Limit("flops", 2 * 10**9, "max_gflops", f"marker on {NODE}")
    }


def test_the_marker_takes_keyword_arguments_only():
    with pytest.raises(
        BudgetError,
        match=re.escape(
            f"{NODE}: flop_budget takes keyword arguments only, got positional (2,); "
            f"accepted keys: {ACCEPTED_ENTRY}"
        ),
    ):
        validate_marker({}, (2,), NODE)


def test_an_unknown_marker_argument_names_the_node_and_suggests():
    with pytest.raises(
        BudgetError,
        match=re.escape(
            f"unknown budget key 'max_gflop' in marker on {NODE} (did you mean 'max_gflops'?); "
            f"accepted keys: {ACCEPTED_ENTRY}"
        ),
    ):
        validate_marker({"max_gflop": 2}, (), NODE)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_params": 0}, f"invalid value 0 for 'max_params' in marker on {NODE}: must be"),
        ({"max_flops": True}, f"invalid value True for 'max_flops' in marker on {NODE}: a bool"),
        ({"tolerance": "-1%"}, f"invalid value '-1%' for 'tolerance' in marker on {NODE}: must"),
        ({"max_flops": 1, "max_kflops": 1}, f"'max_flops' and 'max_kflops' in marker on {NODE}"),
    ],
)
def test_an_invalid_marker_value_names_the_node(kwargs, message):
    with pytest.raises(BudgetError, match=re.escape(message)):
        validate_marker(kwargs, (), NODE)
