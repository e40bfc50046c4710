"""[tool.flopbudget.hardware.NAME] profiles and `hardware = "NAME"` settings in pyproject.toml
(budgets.config): parsed, validated, every error naming the file, the table and the key."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from pytest_flopbudget.budgets.config import ConfigError, load_config
from pytest_flopbudget.engine.hardware import HARDWARE, Hardware, find_hardware

BUILT_IN = "h100, a100, l4, t4, rtx4090, jetson-agx-orin, rpi5"
MYBOARD = """
[tool.flopbudget.hardware.myboard]
peak_tflops = { float32 = 1.2, float16 = 2.4 }
bandwidth_gbps = 51.2
launch_us = 4
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def usage_error(path: Path, message: str):
    return pytest.raises(ConfigError, match="^" + re.escape(f"{path}: {message}") + "$")


def test_the_issues_example_profile_loads(tmp_path):
    config = load_config(write(tmp_path, MYBOARD))
    assert config.hardware == {
        "myboard": Hardware(
            peak_tflops={"float32": 1.2, "float16": 2.4},
            bandwidth_gbps=51.2,
            launch_us=4,
            name="myboard",
        )
    }
    assert config.default_hardware is None
    assert find_hardware("MyBoard", config.hardware) is config.hardware["myboard"]


def test_no_profiles_by_default(tmp_path):
    config = load_config(write(tmp_path, "[tool.flopbudget]\nmax_gflops = 1\n"))
    assert (dict(config.hardware), config.default_hardware) == ({}, None)


def test_profiles_are_keyed_by_lower_case_name_and_keep_their_written_name(tmp_path):
    path = write(
        tmp_path,
        """
        [tool.flopbudget.hardware.JetsonNano]
        peak_tflops = 0.5
        bandwidth_gbps = 25.6

        [tool.flopbudget.hardware."my board"]
        peak_tflops = { int8 = 2 }
        bandwidth_gbps = 10
        """,
    )
    config = load_config(path)
    assert list(config.hardware) == ["jetsonnano", "my board"]
    assert config.hardware["jetsonnano"].name == "JetsonNano"
    assert config.hardware["my board"].peak_tflops == {"int8": 2.0}


def test_a_built_in_default_device_at_top_level(tmp_path):
    config = load_config(write(tmp_path, '[tool.flopbudget]\nhardware = "H100"\n'))
    assert config.default_hardware == "H100"
    assert find_hardware(config.default_hardware, config.hardware) is HARDWARE["h100"]


def test_the_default_device_among_the_files_profiles(tmp_path):
    path = write(tmp_path, f'[tool.flopbudget.hardware]\ndefault = "myboard"\n{MYBOARD}')
    config = load_config(path)
    assert config.default_hardware == "myboard"
    assert list(config.hardware) == ["myboard"]  # "default" is not a profile
    path = write(tmp_path, f'[tool.flopbudget.hardware]\ndefault = "t4"\n{MYBOARD}')
    assert load_config(path).default_hardware == "t4"


def test_a_tests_entry_names_its_device(tmp_path):
    path = write(
        tmp_path,
        f"""
        [tool.flopbudget.tests."tests/test_a.py::*"]
        hardware = "myboard"

        [tool.flopbudget.tests."tests/test_b.py::test_b"]
        hardware = "rpi5"
        max_gflops = 1

        [tool.flopbudget.tests."tests/test_c.py::test_c"]
        {MYBOARD}
        """,
    )
    entries = load_config(path).tests
    assert [e.hardware for e in entries] == ["myboard", "rpi5", None]


def test_both_forms_of_the_top_level_key_are_a_toml_error(tmp_path):
    """TOML cannot hold hardware = "NAME" and [tool.flopbudget.hardware.NAME]: the docs say to
    write the default in the profiles' table instead."""
    path = write(tmp_path, f'[tool.flopbudget]\nhardware = "myboard"\n{MYBOARD}')
    with pytest.raises(ConfigError, match=re.escape(f"{path}: invalid TOML: ")):
        load_config(path)


TABLE = "[tool.flopbudget.hardware.myboard]"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "peak_tflops = 1\nbandwith_gbps = 1\n",
            f"{TABLE} key 'bandwith_gbps' is not a device key (did you mean 'bandwidth_gbps'?); "
            "accepted keys: peak_tflops, bandwidth_gbps, launch_us",
        ),
        ("peak_tflops = 1\n", f"{TABLE} is missing key 'bandwidth_gbps'"),
        (
            'peak_tflops = 1\nbandwidth_gbps = "51.2"\n',
            f"invalid value '51.2' for 'bandwidth_gbps' in {TABLE}: must be a number",
        ),
        (
            "peak_tflops = 1\nbandwidth_gbps = 0\n",
            f"invalid value 0 for 'bandwidth_gbps' in {TABLE}: must be positive",
        ),
        (
            "peak_tflops = -2\nbandwidth_gbps = 1\n",
            f"invalid value -2 for 'peak_tflops' in {TABLE}: must be positive",
        ),
        (
            "peak_tflops = { float32 = 1, fp16 = 2 }\nbandwidth_gbps = 1\n",
            f"unknown dtype 'fp16' in 'peak_tflops' of {TABLE} (did you mean 'float16'?); "
            "dtypes: float64, float32, tf32, bfloat16, float16, float8, int8",
        ),
        (
            "peak_tflops = { float32 = inf }\nbandwidth_gbps = 1\n",
            f"invalid value inf for 'peak_tflops.float32' in {TABLE}: must be a finite number",
        ),
        (
            "peak_tflops = 1\nbandwidth_gbps = 1\nlaunch_us = -1\n",
            f"invalid value -1 for 'launch_us' in {TABLE}: must be zero or positive",
        ),
        (
            "peak_tflops = true\nbandwidth_gbps = 1\n",
            f"invalid value True for 'peak_tflops' in {TABLE}: a boolean is not a number",
        ),
    ],
)
def test_a_bad_profile_names_file_table_and_key(tmp_path, body, message):
    path = write(tmp_path, f"{TABLE}\n{body}")
    with usage_error(path, message):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[tool.flopbudget.hardware.T4]\npeak_tflops = 1\nbandwidth_gbps = 1\n",
            "[tool.flopbudget.hardware.T4]: 'T4' is a built-in device profile; give yours another "
            f"name, such as 't4-measured' (built-in: {BUILT_IN})",
        ),
        (
            "[tool.flopbudget.hardware.default]\npeak_tflops = 1\nbandwidth_gbps = 1\n",
            "[tool.flopbudget.hardware.default]: 'default' names the default device "
            '(default = "NAME"), not a profile',
        ),
        (
            f"{MYBOARD}\n[tool.flopbudget.hardware.MyBoard]\npeak_tflops = 1\nbandwidth_gbps = 1\n",
            "[tool.flopbudget.hardware.myboard] and [tool.flopbudget.hardware.MyBoard] name the "
            "same device (device names are case-insensitive)",
        ),
        (
            "[tool.flopbudget.hardware]\nmyboard = 5\n",
            "[tool.flopbudget.hardware] key 'myboard' must be a table "
            "[tool.flopbudget.hardware.myboard] with peak_tflops and bandwidth_gbps "
            '(or default = "NAME"), got 5',
        ),
        (
            "[tool.flopbudget]\nhardware = 5\n",
            "[tool.flopbudget] key 'hardware' must be a device name such as \"h100\" or the "
            "table of device profiles [tool.flopbudget.hardware.NAME], got 5",
        ),
        (
            '[tool.flopbudget]\nhardware = "h10"\n',
            "[tool.flopbudget] key 'hardware': unknown device 'h10' (did you mean 'h100'?); "
            f"devices: {BUILT_IN}",
        ),
        (
            f'[tool.flopbudget.hardware]\ndefault = "myborad"\n{MYBOARD}',
            "[tool.flopbudget.hardware] key 'default': unknown device 'myborad' (did you mean "
            f"'myboard'?); devices: myboard, {BUILT_IN}",
        ),
        (
            "[tool.flopbudget.hardware]\ndefault = 3\n",
            "[tool.flopbudget.hardware] key 'default' must be a device name such as \"h100\", "
            "got 3",
        ),
        (
            f'[tool.flopbudget.tests."tests/t.py::test_a"]\nhardware = "rpi"\n{MYBOARD}',
            "[tool.flopbudget.tests.\"tests/t.py::test_a\"] key 'hardware': unknown device 'rpi' "
            f"(did you mean 'rpi5'?); devices: myboard, {BUILT_IN}",
        ),
        (
            '[tool.flopbudget.tests."tests/t.py::test_a"]\nhardware = ["h100"]\n',
            "[tool.flopbudget.tests.\"tests/t.py::test_a\"] key 'hardware' must be a device name "
            "such as \"h100\", got ['h100']",
        ),
    ],
)
def test_bad_names_and_settings_are_usage_errors(tmp_path, text, message):
    path = write(tmp_path, text)
    with usage_error(path, message):
        load_config(path)


def test_an_entry_lists_hardware_among_its_accepted_keys(tmp_path):
    path = write(tmp_path, '[tool.flopbudget.tests."t.py::t"]\nhardwar = "h100"\n')
    with pytest.raises(ConfigError, match=re.escape("(did you mean 'hardware'?)")):
        load_config(path)
    with pytest.raises(ConfigError, match=re.escape("strict, modules, hardware")):
        load_config(path)


def toml_blocks(page: str) -> list[str]:
    return re.findall(r"^```toml\n(.*?)^```", page, re.S | re.M)


def test_every_toml_example_of_the_devices_page_loads(tmp_path):
    page = (Path(__file__).resolve().parents[2] / "docs" / "hardware.md").read_text("utf-8")
    blocks = toml_blocks(page)
    assert len(blocks) == 5  # the profile tables, their errors, a latency budget
    for block in blocks:
        load_config(write(tmp_path, block))
