"""Device profiles (engine.hardware): validation, the peak of a dtype, one op's roofline, the
built-in profiles against their datasheet arithmetic and the docs page, names."""

from __future__ import annotations

import re
from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import pytest

import pytest_flopbudget
from pytest_flopbudget.engine.hardware import (
    DTYPES,
    HARDWARE,
    Hardware,
    HardwareError,
    find_hardware,
    hardware_table,
    parse_hardware,
)
from pytest_flopbudget.text import shown

DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "hardware.md"
TABLE = "[tool.flopbudget.hardware.myboard]"
DTYPE_LIST = "float64, float32, tf32, bfloat16, float16, float8, int8"


def error(message: str):
    return pytest.raises(HardwareError, match="^" + re.escape(message) + "$")


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"peak_tflops": 0, "bandwidth_gbps": 1},
            "invalid value 0 for 'peak_tflops' in Hardware(...): must be positive",
        ),
        (
            {"peak_tflops": -1.5, "bandwidth_gbps": 1, "name": "x"},
            "invalid value -1.5 for 'peak_tflops' in Hardware 'x': must be positive",
        ),
        (
            {"peak_tflops": True, "bandwidth_gbps": 1},
            "invalid value True for 'peak_tflops' in Hardware(...): a boolean is not a number",
        ),
        (
            {"peak_tflops": np.bool_(True), "bandwidth_gbps": 1},
            "invalid value np.True_ for 'peak_tflops' in Hardware(...): a boolean is not a number",
        ),
        (
            {"peak_tflops": "1.2", "bandwidth_gbps": 1},
            "invalid value '1.2' for 'peak_tflops' in Hardware(...): must be a number (for every "
            "dtype) or a table by dtype such as { float32 = 1.2 }",
        ),
        (
            {"peak_tflops": float("inf"), "bandwidth_gbps": 1},
            "invalid value inf for 'peak_tflops' in Hardware(...): must be a finite number",
        ),
        (
            {"peak_tflops": 10**400, "bandwidth_gbps": 1},
            f"invalid value {shown(10**400)} for 'peak_tflops' in Hardware(...): "
            "must be a finite number",
        ),
        (
            {"peak_tflops": {}, "bandwidth_gbps": 1},
            f"invalid value {{}} for 'peak_tflops' in Hardware(...): lists no dtype; "
            f"dtypes: {DTYPE_LIST}",
        ),
        (
            {"peak_tflops": {"fp16": 1}, "bandwidth_gbps": 1},
            "unknown dtype 'fp16' in 'peak_tflops' of Hardware(...) (did you mean 'float16'?); "
            f"dtypes: {DTYPE_LIST}",
        ),
        (
            {"peak_tflops": {"float8_e4m3fn": 1}, "bandwidth_gbps": 1},
            "unknown dtype 'float8_e4m3fn' in 'peak_tflops' of Hardware(...) "
            f"(did you mean 'float8'?); dtypes: {DTYPE_LIST}",
        ),
        (
            {"peak_tflops": {"bfloat61": 1}, "bandwidth_gbps": 1},
            "unknown dtype 'bfloat61' in 'peak_tflops' of Hardware(...) "
            f"(did you mean 'bfloat16'?); dtypes: {DTYPE_LIST}",
        ),
        (
            {"peak_tflops": {"float32": 1, "float16": float("nan")}, "bandwidth_gbps": 1},
            "invalid value nan for 'peak_tflops.float16' in Hardware(...): must be a finite number",
        ),
        (
            {"peak_tflops": 1, "bandwidth_gbps": 0},
            "invalid value 0 for 'bandwidth_gbps' in Hardware(...): must be positive",
        ),
        (
            {"peak_tflops": 1, "bandwidth_gbps": None},
            "invalid value None for 'bandwidth_gbps' in Hardware(...): must be a number",
        ),
        (
            {"peak_tflops": 1, "bandwidth_gbps": 1, "launch_us": -0.5},
            "invalid value -0.5 for 'launch_us' in Hardware(...): must be zero or positive",
        ),
        (
            {"peak_tflops": 1, "bandwidth_gbps": 1, "name": 3},
            "a Hardware's name must be a string, got 3",
        ),
    ],
)
def test_an_invalid_hardware_names_the_key_and_the_reason(kwargs, message):
    with error(message):
        Hardware(**kwargs)


def test_launch_may_be_zero_and_numbers_become_floats():
    hardware = Hardware(peak_tflops=np.float32(2), bandwidth_gbps=100, launch_us=0)
    assert (hardware.peak_tflops, hardware.bandwidth_gbps, hardware.launch_us) == (2.0, 100.0, 0.0)
    assert isinstance(hardware.bandwidth_gbps, float)


def test_the_peaks_are_stored_immutable_and_hashable():
    peaks = {"float16": 2.4, "float32": 1.2}
    hardware = Hardware(peak_tflops=peaks, bandwidth_gbps=51.2)
    peaks["float32"] = 99.0  # the caller's dict is not the profile's
    assert dict(hardware.peak_tflops) == {"float32": 1.2, "float16": 2.4}
    assert list(hardware.peak_tflops) == ["float32", "float16"]  # in DTYPES order
    with pytest.raises(TypeError):
        hardware.peak_tflops["float32"] = 3.0  # type: ignore[index]
    with pytest.raises(FrozenInstanceError):
        hardware.bandwidth_gbps = 1.0  # type: ignore[misc]
    twin = Hardware(peak_tflops={"float32": 1.2, "float16": 2.4}, bandwidth_gbps=51.2)
    assert hardware == twin
    assert hash(hardware) == hash(twin)
    assert len({hardware, twin}) == 1


# --- which peak an op gets -----------------------------------------------------------------------


BOARD = Hardware(
    peak_tflops={"float64": 0.5, "float32": 2.0, "bfloat16": 8.0, "int8": 16.0},
    bandwidth_gbps=100,
)


@pytest.mark.parametrize(
    ("dtype", "used"),
    [
        ("float32", "float32"),
        ("torch.float32", "float32"),
        ("bfloat16", "bfloat16"),
        ("int8", "int8"),
        ("tf32", "float32"),  # not listed: falls back to float32
        ("float16", "float32"),
        ("float8_e4m3fn", "float32"),  # every float8_* is float8, then float32
        ("complex64", "float32"),
        ("complex128", "float64"),
        ("complex32", "float32"),  # complex32 -> float16 -> float32
        ("qint8", "int8"),
        ("int64", "float64"),  # nothing to fall back to: the lowest peak listed
        ("bool", "float64"),
    ],
)
def test_the_peak_of_a_dtype_follows_the_rule(dtype, used):
    assert BOARD.peak_dtype(dtype) == used
    assert BOARD.peak_flops(dtype) == BOARD.peak_tflops[used] * 10**12


def test_a_missing_float32_falls_to_the_lowest_peak_listed():
    hardware = Hardware(peak_tflops={"float16": 4.0, "int8": 8.0}, bandwidth_gbps=1)
    assert hardware.peak_dtype("float32") == "float16"
    assert hardware.peak_dtype("tf32") == "float16"  # tf32 -> float32 (absent) -> lowest
    assert hardware.peak_flops("float64") == 4.0e12


def test_one_number_is_the_peak_of_every_dtype():
    hardware = Hardware(peak_tflops=3, bandwidth_gbps=1)
    for dtype in (*DTYPES, "complex64", "int64", "torch.bfloat16"):
        assert hardware.peak_flops(dtype) == 3e12
    assert hardware.peak_dtype("torch.bfloat16") == "bfloat16"


def test_built_in_bfloat16_on_hardware_without_it_uses_float32():
    assert HARDWARE["t4"].peak_flops("bfloat16") == HARDWARE["t4"].peak_flops("float32")
    assert HARDWARE["rpi5"].peak_dtype("bfloat16") == "float32"
    assert HARDWARE["a100"].peak_dtype("float8_e5m2") == "float32"


# --- one op at its roofline ----------------------------------------------------------------------

DEVICE = Hardware(peak_tflops=1.0, bandwidth_gbps=100, launch_us=4)


def test_a_compute_bound_op():
    # 2e12 FLOPs at 1e12 FLOP/s = 2 s; 1e9 bytes at 100e9 B/s = 0.01 s; plus 4 us
    seconds = DEVICE.op_seconds(flops=2 * 10**12, bytes_moved=10**9, dtype="float32")
    assert seconds == pytest.approx(max(2.0, 0.01) + 4e-6, rel=1e-15)


def test_a_memory_bound_op():
    # 1e9 FLOPs at 1e12 FLOP/s = 0.001 s; 1e12 bytes at 100e9 B/s = 10 s; plus 4 us
    seconds = DEVICE.op_seconds(flops=10**9, bytes_moved=10**12, dtype="float16")
    assert seconds == pytest.approx(max(0.001, 10.0) + 4e-6, rel=1e-15)


def test_an_op_with_no_flops_costs_its_bytes_and_a_view_costs_nothing():
    # a copy: 0 FLOPs, 2e6 bytes at 100e9 B/s = 2e-5 s, plus 4 us
    assert DEVICE.op_seconds(0, 2 * 10**6, "float32") == pytest.approx(2e-5 + 4e-6, rel=1e-15)
    assert DEVICE.op_seconds(0, 0, "float32") == pytest.approx(4e-6, rel=1e-15)
    assert DEVICE.op_seconds(10**9, 10**9, "float32", view=True) == 0.0


def test_the_op_takes_the_peak_of_its_dtype():
    # BOARD: bfloat16 8 TFLOP/s, float32 2; 16e12 FLOPs, 1e6 bytes at 100 GB/s = 1e-5 s
    flops, nbytes = 16 * 10**12, 10**6
    assert BOARD.op_seconds(flops, nbytes, "bfloat16") == pytest.approx(16 / 8, rel=1e-15)
    assert BOARD.op_seconds(flops, nbytes, "float32") == pytest.approx(16 / 2, rel=1e-15)
    assert BOARD.op_seconds(flops, nbytes, "tf32") == pytest.approx(16 / 2, rel=1e-15)


# --- the built-in profiles -----------------------------------------------------------------------


def test_the_built_in_names():
    assert list(HARDWARE) == ["h100", "a100", "l4", "t4", "rtx4090", "jetson-agx-orin", "rpi5"]
    for name, hardware in HARDWARE.items():
        assert hardware.name == name == name.lower()
        assert hardware == Hardware(
            peak_tflops=dict(hardware.peak_tflops),
            bandwidth_gbps=hardware.bandwidth_gbps,
            launch_us=hardware.launch_us,
            name=name,
        )
        assert set(hardware.peak_tflops) <= set(DTYPES)
        assert {"float64", "float32"} <= set(hardware.peak_tflops)
        assert hardware.launch_us == 0  # no datasheet gives it


def test_datasheet_sparse_figures_are_halved():
    """The data-center pages print the "with sparsity" figures; the profiles hold dense ones."""
    h100, l4 = HARDWARE["h100"].peak_tflops, HARDWARE["l4"].peak_tflops
    assert (h100["tf32"], h100["bfloat16"], h100["float16"]) == (989 / 2, 1979 / 2, 1979 / 2)
    assert (h100["float8"], h100["int8"]) == (3958 / 2, 3958 / 2)
    assert (l4["tf32"], l4["bfloat16"], l4["float8"], l4["int8"]) == (60, 121, 485 / 2, 485 / 2)
    assert HARDWARE["jetson-agx-orin"].peak_tflops["int8"] == 170 / 2


def test_derived_numbers_follow_their_arithmetic():
    def three_figures(x: float) -> float:
        return float(f"{x:.3g}")

    # float64 = FP32 x the FP64:FP32 instruction throughput of the compute capability
    assert HARDWARE["t4"].peak_tflops["float64"] == three_figures(8.1 / 32)
    assert HARDWARE["l4"].peak_tflops["float64"] == three_figures(30.3 / 64)
    assert HARDWARE["rtx4090"].peak_tflops["float64"] == three_figures(82.6 / 64)
    assert HARDWARE["jetson-agx-orin"].peak_tflops["float64"] == three_figures(5.3 / 64)
    # Jetson Orin's float16: half its dense INT8 rate (85 / 2)
    assert HARDWARE["jetson-agx-orin"].peak_tflops["float16"] == 85 / 2
    # Raspberry Pi 5: 4 cores x 2.4 GHz x (2 pipes x lanes x 2 FLOPs per FMA), in TFLOP/s
    rpi5 = HARDWARE["rpi5"]
    for dtype, lanes in (("float64", 2), ("float32", 4), ("float16", 8), ("int8", 16)):
        assert rpi5.peak_tflops[dtype] == pytest.approx(4 * 2.4e9 * (2 * lanes * 2) / 1e12)
    assert rpi5.bandwidth_gbps == pytest.approx(4267e6 * 32 / 8 / 1e9)  # 32-bit LPDDR4X-4267


def docs_table() -> dict[str, dict[str, object]]:
    """The rows of docs/hardware.md's built-in devices table, by name."""
    lines = DOCS_PAGE.read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| name | device |"))
    columns = [cell.strip() for cell in lines[header].strip("|").split("|")]
    rows = {}
    for line in lines[header + 2 :]:
        if not line.startswith("|"):
            break
        cells = dict(zip(columns, (c.strip() for c in line.strip("|").split("|")), strict=True))
        rows[cells["name"].strip("`")] = cells
    return rows


def test_the_docs_table_shows_every_built_in_number():
    rows = docs_table()
    assert list(rows) == list(HARDWARE)
    for name, hardware in HARDWARE.items():
        row = rows[name]
        shown = {d: float(row[d]) for d in DTYPES if row[d] != "–"}
        assert shown == dict(hardware.peak_tflops), name
        assert float(row["bandwidth GB/s"]) == hardware.bandwidth_gbps, name
        assert float(row["launch µs"]) == hardware.launch_us, name


def test_the_docs_cite_a_source_for_every_built_in():
    text = DOCS_PAGE.read_text(encoding="utf-8")
    sources = text[text.index("### Sources") : text.index("### Derived numbers")]
    for name in HARDWARE:
        item = re.search(rf"^- `{re.escape(name)}`: \[[^\]]+\]\((https://[^)]+)\)", sources, re.M)
        assert item, name


# --- names ----------------------------------------------------------------------------------------


def test_find_hardware_passes_a_hardware_through_and_looks_names_up():
    assert find_hardware(DEVICE) is DEVICE
    assert find_hardware("h100") is HARDWARE["h100"]
    assert find_hardware(" RTX4090 ") is HARDWARE["rtx4090"]
    mine = Hardware(peak_tflops=1, bandwidth_gbps=1, name="MyBoard")
    assert find_hardware("myboard", {"myboard": mine}) is mine
    assert find_hardware("MYBOARD", {"MyBoard": mine}) is mine


def test_an_unknown_device_suggests_and_lists_the_devices():
    mine = Hardware(peak_tflops=1, bandwidth_gbps=1, name="myboard")
    with error(
        "unknown device 'myborad' (did you mean 'myboard'?); devices: myboard, h100, a100, l4, "
        "t4, rtx4090, jetson-agx-orin, rpi5"
    ):
        find_hardware("myborad", {"myboard": mine})
    with error(
        "unknown device 'jetson'; devices: h100, a100, l4, t4, rtx4090, jetson-agx-orin, rpi5"
    ):
        find_hardware("jetson")
    with error("a device is a name such as 'h100' or a Hardware(...), got 3"):
        find_hardware(3)  # type: ignore[arg-type]


def test_a_user_profile_cannot_take_a_built_in_name():
    mine = Hardware(peak_tflops=1, bandwidth_gbps=1, name="h100")
    with pytest.raises(HardwareError, match="'H100' is a built-in device profile"):
        find_hardware("h100", {"H100": mine})


def test_pytest_flopbudget_exports_hardware():
    assert pytest_flopbudget.Hardware is Hardware
    assert "Hardware" in pytest_flopbudget.__all__


# --- the pyproject form ---------------------------------------------------------------------------


def test_parse_hardware_takes_the_three_keys():
    table = {
        "peak_tflops": {"float32": 1.2, "float16": 2.4},
        "bandwidth_gbps": 51.2,
        "launch_us": 4,
    }
    assert parse_hardware("myboard", table, TABLE) == Hardware(
        peak_tflops={"float32": 1.2, "float16": 2.4},
        bandwidth_gbps=51.2,
        launch_us=4,
        name="myboard",
    )
    plain = parse_hardware("MyBoard", {"peak_tflops": 2, "bandwidth_gbps": 10}, TABLE)
    assert (plain.peak_tflops, plain.launch_us, plain.name) == (2.0, 0.0, "MyBoard")


@pytest.mark.parametrize(
    ("name", "table", "message"),
    [
        (
            "myboard",
            {"peak_tflops": 1, "bandwith_gbps": 1},
            f"{TABLE} key 'bandwith_gbps' is not a device key (did you mean 'bandwidth_gbps'?); "
            "accepted keys: peak_tflops, bandwidth_gbps, launch_us",
        ),
        ("myboard", {"peak_tflops": 1}, f"{TABLE} is missing key 'bandwidth_gbps'"),
        ("myboard", {"bandwidth_gbps": 1}, f"{TABLE} is missing key 'peak_tflops'"),
        (
            "myboard",
            {"peak_tflops": 1, "bandwidth_gbps": "51.2"},
            f"invalid value '51.2' for 'bandwidth_gbps' in {TABLE}: must be a number",
        ),
        (
            "myboard",
            {"peak_tflops": {"float32": 0}, "bandwidth_gbps": 1},
            f"invalid value 0 for 'peak_tflops.float32' in {TABLE}: must be positive",
        ),
        (
            "myboard",
            {"peak_tflops": 1, "bandwidth_gbps": 1, "launch_us": -4},
            f"invalid value -4 for 'launch_us' in {TABLE}: must be zero or positive",
        ),
        (
            "myboard",
            {"peak_tflops": 1, "bandwidth_gbps": 1, "launch_us": False},
            f"invalid value False for 'launch_us' in {TABLE}: a boolean is not a number",
        ),
        (
            "myboard",
            5,
            f"{TABLE} must be a table with peak_tflops and bandwidth_gbps, got 5",
        ),
        (
            "A100",
            {"peak_tflops": 1, "bandwidth_gbps": 1},
            f"{TABLE}: 'A100' is a built-in device profile; give yours another name, such as "
            "'a100-measured' (built-in: h100, a100, l4, t4, rtx4090, jetson-agx-orin, rpi5)",
        ),
        (
            "default",
            {"peak_tflops": 1, "bandwidth_gbps": 1},
            f"{TABLE}: 'default' names the default device (default = \"NAME\"), not a profile",
        ),
        ("  ", {"peak_tflops": 1}, f"{TABLE}: a device profile needs a name, got '  '"),
    ],
)
def test_parse_hardware_errors_name_the_table_and_the_key(name, table, message):
    with error(message):
        parse_hardware(name, table, TABLE)


def test_the_table_header_quotes_a_name_that_is_not_a_bare_key():
    assert hardware_table("my-board_2") == "[tool.flopbudget.hardware.my-board_2]"
    assert hardware_table('my "board"') == '[tool.flopbudget.hardware."my \\"board\\""]'


def test_the_docs_python_example_is_its_closed_form():
    board = Hardware(peak_tflops={"float32": 1.2, "float16": 2.4}, bandwidth_gbps=51.2, launch_us=4)
    assert board.peak_flops("bfloat16") == 1.2e12
    seconds = board.op_seconds(flops=2 * 10**9, bytes_moved=10**6, dtype="float32")
    closed_form = max(2e9 / 1.2e12, 1e6 / 51.2e9) + 4e-6
    assert seconds == pytest.approx(closed_form, rel=1e-15)
    assert f"= {closed_form:.5g} s" in DOCS_PAGE.read_text(encoding="utf-8")
