"""Device profiles and the roofline estimate of one op (plain Python: no torch).

A :class:`Hardware` holds a device's peak FLOP/s per dtype, its memory bandwidth and a fixed cost
per op; :meth:`Hardware.op_seconds` is one op at its roofline::

    max(flops / peak_flops(dtype), bytes_moved / bandwidth) + launch      (0 for a view)

Dtypes are named by strings (``"float32"``, ``"bfloat16"``, ``"torch.float16"`` too): the budgets
layer reads profiles from pyproject.toml at start-up and never imports torch. ``HARDWARE`` holds
the built-in profiles, each number from the vendor's datasheet (dense, without structured
sparsity), cited in docs/hardware.md.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pytest_flopbudget.text import shown, suggest

__all__ = [
    "DTYPES",
    "HARDWARE",
    "KEYS",
    "Hardware",
    "HardwareError",
    "check_profile_name",
    "find_hardware",
    "hardware_table",
    "parse_hardware",
]

DTYPES: tuple[str, ...] = ("float64", "float32", "tf32", "bfloat16", "float16", "float8", "int8")
"""The dtype names a profile's ``peak_tflops`` may list (``float8``: every float8_* format)."""
KEYS: tuple[str, ...] = ("peak_tflops", "bandwidth_gbps", "launch_us")
"""The keys of a ``[tool.flopbudget.hardware.NAME]`` table (and of :class:`Hardware`)."""
_REQUIRED: tuple[str, ...] = ("peak_tflops", "bandwidth_gbps")

_FALLBACK: dict[str, str] = {
    "tf32": "float32",
    "bfloat16": "float32",
    "float16": "float32",
    "float8": "float32",
    "complex32": "float16",
    "complex64": "float32",
    "complex128": "float64",
    "qint8": "int8",
    "quint8": "int8",
}
"""A dtype the profile does not list is estimated at the peak of this one (followed until the
profile lists one): hardware without units for a narrow float computes it in float32 (as
PyTorch does where it has no kernel for it), a complex op runs on its real parts, a quantized
op on int8 units. What the chain does not reach takes the lowest peak the profile lists."""

_DTYPE_ALIASES: dict[str, str] = {
    "double": "float64",
    "fp64": "float64",
    "float": "float32",
    "fp32": "float32",
    "bf16": "bfloat16",
    "half": "float16",
    "fp16": "float16",
    "fp8": "float8",
}
"""Other names people write for a dtype: only for the did-you-mean of an error message."""
_BUILTIN_DEFAULT = "default"  # [tool.flopbudget.hardware] default = "NAME": not a profile name
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class HardwareError(ValueError):
    """A device profile or a device name is invalid; the message names the key and the source."""


class _Peaks(Mapping[str, float]):
    """Peak TFLOP/s by dtype name, in :data:`DTYPES` order: immutable and hashable, so that a
    :class:`Hardware` is too."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, float]) -> None:
        self._items = tuple((dtype, items[dtype]) for dtype in DTYPES if dtype in items)

    def __getitem__(self, dtype: str) -> float:
        for name, peak in self._items:
            if name == dtype:
                return peak
        raise KeyError(dtype)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self._items) == dict(other.items())

    def __repr__(self) -> str:
        return repr(dict(self._items))


def _invalid(key: str, value: object, source: str, reason: str) -> HardwareError:
    return HardwareError(f"invalid value {shown(value)} for {key!r} in {source}: {reason}")


def _number(value: object, key: str, source: str, what: str = "a number") -> float:
    """A finite real number as a float; booleans (Python's and numpy's) are not numbers."""
    if isinstance(value, bool) or type(value).__name__ in ("bool", "bool_"):
        raise _invalid(key, value, source, "a boolean is not a number")
    if not isinstance(value, numbers.Real):
        raise _invalid(key, value, source, f"must be {what}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise _invalid(key, value, source, "must be a finite number") from None
    if not math.isfinite(number):
        raise _invalid(key, value, source, "must be a finite number")
    return number


def _positive(value: object, key: str, source: str, what: str = "a number") -> float:
    number = _number(value, key, source, what)
    if number <= 0:
        raise _invalid(key, value, source, "must be positive")
    return number


def _not_negative(value: object, key: str, source: str) -> float:
    number = _number(value, key, source)
    if number < 0:
        raise _invalid(key, value, source, "must be zero or positive")
    return number


def _dtype_hint(name: object) -> str:
    text = str(name).removeprefix("torch.")
    if text.startswith("float8_"):
        return " (did you mean 'float8'?)"
    if text.lower() in _DTYPE_ALIASES:
        return f" (did you mean {_DTYPE_ALIASES[text.lower()]!r}?)"
    return suggest(text, list(DTYPES))


def _peaks(value: object, source: str) -> float | _Peaks:
    """``peak_tflops``: one positive number for every dtype, or positive numbers by dtype name."""
    if not isinstance(value, Mapping):
        return _positive(
            value,
            "peak_tflops",
            source,
            "a number (for every dtype) or a table by dtype such as { float32 = 1.2 }",
        )
    if not value:
        raise _invalid("peak_tflops", value, source, f"lists no dtype; dtypes: {', '.join(DTYPES)}")
    peaks: dict[str, float] = {}
    for dtype, peak in value.items():
        if dtype not in DTYPES:
            raise HardwareError(
                f"unknown dtype {shown(dtype)} in 'peak_tflops' of {source}{_dtype_hint(dtype)}; "
                f"dtypes: {', '.join(DTYPES)}"
            )
        peaks[dtype] = _positive(peak, f"peak_tflops.{dtype}", source)
    return _Peaks(peaks)


def _canonical(dtype: str) -> str:
    """``torch.float16`` -> ``float16``; every ``float8_*`` format -> ``float8``."""
    name = str(dtype).removeprefix("torch.")
    return "float8" if name.startswith("float8_") else name


@dataclass(frozen=True)
class Hardware:
    """A device: ``peak_tflops`` in 10^12 FLOP/s (a number for every dtype, or a mapping by dtype
    name among :data:`DTYPES`), ``bandwidth_gbps`` in 10^9 bytes/s, ``launch_us`` the fixed cost
    in microseconds of every op that is not a view. Validated on construction
    (:class:`HardwareError`); the mapping is stored immutable, so a Hardware is hashable."""

    peak_tflops: float | Mapping[str, float]
    bandwidth_gbps: float
    launch_us: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise HardwareError(f"a Hardware's name must be a string, got {shown(self.name)}")
        source = f"Hardware {self.name!r}" if self.name else "Hardware(...)"
        object.__setattr__(self, "peak_tflops", _peaks(self.peak_tflops, source))
        bandwidth = _positive(self.bandwidth_gbps, "bandwidth_gbps", source)
        object.__setattr__(self, "bandwidth_gbps", bandwidth)
        object.__setattr__(self, "launch_us", _not_negative(self.launch_us, "launch_us", source))

    def peak_dtype(self, dtype: str) -> str:
        """The dtype whose peak estimates an op of ``dtype``: ``dtype`` itself when the profile
        lists it (or gives one number for every dtype); else the dtype it falls back to
        (tf32, bfloat16, float16, float8 -> float32; complex64 -> float32, complex128 -> float64,
        complex32 -> float16; qint8, quint8 -> int8; followed until listed); else the listed
        dtype of the lowest peak, so that a missing dtype never makes an estimate faster than
        every rate the profile gives."""
        name = _canonical(dtype)
        peaks = self.peak_tflops
        if not isinstance(peaks, Mapping):
            return name
        while name not in peaks and name in _FALLBACK:
            name = _FALLBACK[name]
        if name in peaks:
            return name
        return min(peaks, key=peaks.__getitem__)

    def peak_flops(self, dtype: str) -> float:
        """The peak FLOP/s for an op of ``dtype`` (the rule is :meth:`peak_dtype`'s)."""
        peaks = self.peak_tflops
        tflops = peaks[self.peak_dtype(dtype)] if isinstance(peaks, Mapping) else peaks
        return tflops * 1e12

    def op_seconds(self, flops: int, bytes_moved: int, dtype: str, view: bool = False) -> float:
        """One op at its roofline: 0 for a view; else max(flops / peak_flops(dtype),
        bytes_moved / bandwidth) + launch_us. ``flops`` are counted under the "all"
        convention by the caller."""
        if view:
            return 0.0
        compute = flops / self.peak_flops(dtype) if flops else 0.0
        memory = bytes_moved / (self.bandwidth_gbps * 1e9)
        return max(compute, memory) + self.launch_us * 1e-6


def hardware_table(name: str) -> str:
    """The TOML header of profile ``name``: ``[tool.flopbudget.hardware.myboard]``, the name
    quoted when it is not a bare key."""
    if _BARE_KEY.fullmatch(name):
        return f"[tool.flopbudget.hardware.{name}]"
    import json  # only for an unusual name; a JSON string is a TOML basic string

    return f"[tool.flopbudget.hardware.{json.dumps(name)}]"


def check_profile_name(name: object, source: str) -> None:
    """A user profile's name: a non-blank string, not ``default`` and not a built-in's name
    (case-insensitive): ``hardware = "h100"`` means the datasheet's H100 in every project."""
    if not isinstance(name, str) or not name.strip():
        raise HardwareError(f"{source}: a device profile needs a name, got {shown(name)}")
    if name.lower() == _BUILTIN_DEFAULT:
        raise HardwareError(
            f"{source}: 'default' names the default device (default = \"NAME\"), not a profile"
        )
    if name.lower() in HARDWARE:
        raise HardwareError(
            f"{source}: {name!r} is a built-in device profile; give yours another name, such "
            f"as '{name.lower()}-measured' (built-in: {', '.join(HARDWARE)})"
        )


def parse_hardware(name: str, table: Mapping[str, object], source: str) -> Hardware:
    """The profile ``[tool.flopbudget.hardware.NAME]`` (``source`` names the table in messages):
    ``peak_tflops`` and ``bandwidth_gbps`` required, ``launch_us`` optional (default 0); any
    other key, a wrong type, a non-finite or a non-positive value is a HardwareError."""
    check_profile_name(name, source)
    if not isinstance(table, Mapping):
        raise HardwareError(
            f"{source} must be a table with peak_tflops and bandwidth_gbps, got {shown(table)}"
        )
    for key in table:
        if key not in KEYS:
            raise HardwareError(
                f"{source} key {shown(key)} is not a device key{suggest(str(key), list(KEYS))}; "
                f"accepted keys: {', '.join(KEYS)}"
            )
    for key in _REQUIRED:
        if key not in table:
            raise HardwareError(f"{source} is missing key {key!r}")
    return Hardware(
        peak_tflops=_peaks(table["peak_tflops"], source),
        bandwidth_gbps=_positive(table["bandwidth_gbps"], "bandwidth_gbps", source),
        launch_us=_not_negative(table.get("launch_us", 0), "launch_us", source),
        name=name,
    )


def find_hardware(
    name_or_hardware: str | Hardware, user: Mapping[str, Hardware] | None = None
) -> Hardware:
    """A Hardware as given, or the profile named so (case-insensitive): the user's profiles
    (pyproject.toml; they cannot reuse a built-in's name), then :data:`HARDWARE`."""
    if isinstance(name_or_hardware, Hardware):
        return name_or_hardware
    if not isinstance(name_or_hardware, str):
        raise HardwareError(
            f"a device is a name such as 'h100' or a Hardware(...), got {shown(name_or_hardware)}"
        )
    key = name_or_hardware.strip().lower()
    for name in user or {}:
        check_profile_name(name, f"device profile {shown(name)}")
    profiles = {**{k.lower(): v for k, v in (user or {}).items()}, **HARDWARE}
    if key in profiles:
        return profiles[key]
    names = list(profiles)
    raise HardwareError(
        f"unknown device {name_or_hardware!r}{suggest(key, names)}; devices: {', '.join(names)}"
    )


def _device(name: str, bandwidth_gbps: float, **peak_tflops: float) -> Hardware:
    return Hardware(peak_tflops=peak_tflops, bandwidth_gbps=bandwidth_gbps, name=name)


# Dense datasheet numbers, TFLOP/s (TOP/s for int8) and GB/s; sources and derivations (the
# float64 rate of GPUs without FP64 units, Jetson's float16, the Raspberry Pi's CPU) in
# docs/hardware.md. launch_us is 0: no datasheet gives it (measure it: flopbudget calibrate).
HARDWARE: Mapping[str, Hardware] = MappingProxyType(
    {
        device.name: device
        for device in (
            _device(
                "h100",
                3350,
                float64=67,
                float32=67,
                tf32=494.5,
                bfloat16=989.5,
                float16=989.5,
                float8=1979,
                int8=1979,
            ),
            _device(
                "a100",
                2039,
                float64=19.5,
                float32=19.5,
                tf32=156,
                bfloat16=312,
                float16=312,
                int8=624,
            ),
            _device(
                "l4",
                300,
                float64=0.473,
                float32=30.3,
                tf32=60,
                bfloat16=121,
                float16=121,
                float8=242.5,
                int8=242.5,
            ),
            _device("t4", 320, float64=0.253, float32=8.1, float16=65, int8=130),
            _device(
                "rtx4090",
                1008,
                float64=1.29,
                float32=82.6,
                tf32=82.6,
                bfloat16=165.2,
                float16=165.2,
                float8=330.3,
                int8=660.6,
            ),
            _device(
                "jetson-agx-orin",
                204.8,
                float64=0.0828,
                float32=5.3,
                bfloat16=42.5,
                float16=42.5,
                int8=85,
            ),
            _device("rpi5", 17.068, float64=0.0768, float32=0.1536, float16=0.3072, int8=0.6144),
        )
    }
)
"""The built-in device profiles by name (lower case)."""
