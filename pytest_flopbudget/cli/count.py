"""``flopbudget MODEL ...``: load a model (see `sources`), count it on example inputs, and print
the tree, the JSON document (``--json``) or a budget block (``--print-budget``); a state_dict
without its architecture gets a parameter summary by prefix. torch is imported by `run` only."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_flopbudget.budgets.quantities import QUANTITIES
from pytest_flopbudget.budgets.verdict import measured
from pytest_flopbudget.cli.sources import SOURCES, BadInput, Loaded, load, one_line
from pytest_flopbudget.reporting.json_report import versions
from pytest_flopbudget.text import empty_path, human

__all__ = ["PROFILE_SCHEMA", "PROFILE_SCHEMA_VERSION", "budget_block", "run"]

PROFILE_SCHEMA = "pytest-flopbudget/profile"
PROFILE_SCHEMA_VERSION = 1

TOP_MODULES = 5  # as many as the plugin's report lists

DTYPES = {
    "float32": "float32",
    "float": "float32",
    "float64": "float64",
    "double": "float64",
    "float16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "complex64": "complex64",
    "int64": "int64",
    "long": "int64",
    "int32": "int32",
    "int": "int32",
    "int16": "int16",
    "int8": "int8",
    "uint8": "uint8",
    "bool": "bool",
}


# --- counting --------------------------------------------------------------------------------


def _input_specs(args: argparse.Namespace, loaded: Loaded) -> list[tuple[tuple[int, ...], str]]:
    shapes = list(args.input_shape)
    defaults = ["float32"] * len(shapes)
    if not shapes and loaded.example_inputs:
        shapes = [shape for shape, _ in loaded.example_inputs]
        defaults = [dtype for _, dtype in loaded.example_inputs]
        loaded.notes.append("inputs: the program's example inputs")
    if not shapes:
        raise BadInput(
            f"{args.model}: --input-shape is required, once per positional input "
            "(e.g. --input-shape 1,3,224,224)"
        )
    dtypes = [DTYPES[name] for name in args.dtype]
    if len(dtypes) == 1:
        dtypes *= len(shapes)
    elif not dtypes:
        dtypes = defaults
    elif len(dtypes) != len(shapes):
        raise BadInput(
            f"{len(dtypes)} --dtype for {len(shapes)} inputs: give --dtype once (for every input) "
            "or once per --input-shape"
        )
    return list(zip(shapes, dtypes, strict=True))


def _make_inputs(torch: Any, specs: list[tuple[tuple[int, ...], str]], device: str) -> list[Any]:
    """Floating inputs are standard normal (a fixed seed), integer and bool inputs are zeros
    (a valid index for any embedding); on meta they have no values at all."""
    generator = torch.Generator().manual_seed(0)
    inputs = []
    for shape, name in specs:
        dtype = getattr(torch, name)
        if device == "meta":
            inputs.append(torch.empty(shape, dtype=dtype, device="meta"))
        elif dtype.is_floating_point or dtype.is_complex:
            inputs.append(torch.randn(shape, generator=generator, dtype=dtype))
        else:
            inputs.append(torch.zeros(shape, dtype=dtype))
    return inputs


def _describe(specs: list[tuple[tuple[int, ...], str]]) -> str:
    return ", ".join(f"({', '.join(map(str, shape))}) {dtype}" for shape, dtype in specs)


def _count(torch: Any, loaded: Loaded, args: argparse.Namespace, specs: list) -> Any:
    from pytest_flopbudget.engine.counter import profile

    model = loaded.model
    if loaded.source != "export":
        model.train(args.train)
    inputs = _make_inputs(torch, specs, loaded.device)
    try:
        result = profile(model, *inputs, count=args.count)
    except Exception as error:
        own_error = _plain_error(torch, model, inputs)
        if own_error is None:  # the model runs: the counter failed, which is not bad input
            raise RuntimeError(
                f"the model runs, but counting it failed: {one_line(error)}"
            ) from error
        name = loaded.name or type(model).__name__
        raise BadInput(
            f"{args.model}: running {name} on inputs {_describe(specs)} raised "
            f"{one_line(own_error)}"
        ) from error
    return _named(result, loaded)


def _plain_error(torch: Any, model: Any, inputs: list) -> Exception | None:
    """The model's own error, from a run without the counter: an error raised inside the
    TorchScript interpreter under a dispatch mode loses its message."""
    try:
        with torch.no_grad():
            model(*inputs)
    except Exception as error:
        return error
    return None


def _named(result: Any, loaded: Loaded) -> Any:
    """The Profile with the names the user knows: TorchScript and export roots by their original
    class, export submodules by theirs; where submodules cannot be attributed, only the root."""
    modules = dict(result.modules)
    if not loaded.attributable:
        modules = {name: stats for name, stats in modules.items() if name == ""}
    if loaded.source == "torchscript" and "" in modules:
        modules[""] = dataclasses.replace(modules[""], type_name=loaded.name or "TorchScript")
    elif loaded.source == "export":
        modules = {
            name: dataclasses.replace(stats, type_name=loaded.module_types.get(name, "Module"))
            for name, stats in modules.items()
            if name in loaded.module_types or name == ""
        }
    return dataclasses.replace(result, modules=modules, model_name=loaded.name or result.model_name)


# --- state_dict summary ----------------------------------------------------------------------


@dataclass(frozen=True)
class PrefixRow:
    prefix: str
    tensors: int
    params: int
    nonzero_params: int | None
    param_bytes: int

    @property
    def depth(self) -> int:
        return self.prefix.count(".")


def _state_rows(
    torch: Any, state: Mapping[str, Any], depth: int
) -> tuple[PrefixRow, list[PrefixRow]]:
    """The total (tensors sharing storage once) and one row per name prefix down to `depth`
    levels (a tensor at the top level is its own row)."""
    rows: dict[str, list] = {}
    seen: set = set()
    total = [0, 0, 0, 0]
    known = True
    for name, tensor in state.items():
        has_values = not tensor.is_meta
        nonzero = int(torch.count_nonzero(tensor)) if has_values else None
        known &= has_values
        size = tensor.numel() * tensor.element_size()
        key = (
            (
                tensor.untyped_storage().data_ptr(),
                tensor.storage_offset(),
                tuple(tensor.shape),
                tensor.stride(),
                tensor.dtype,
            )
            if has_values and tensor.numel()
            else id(tensor)
        )
        if key not in seen:
            seen.add(key)
            total[0] += 1
            total[1] += tensor.numel()
            total[2] += nonzero or 0
            total[3] += size
        parts = name.split(".")
        prefixes = [".".join(parts[:i]) for i in range(1, len(parts))] or [name]
        for prefix in prefixes[: max(depth, 1)]:
            row = rows.setdefault(prefix, [0, 0, 0, 0])
            row[0] += 1
            row[1] += tensor.numel()
            row[2] += nonzero or 0
            row[3] += size

    def make(prefix: str, values: list) -> PrefixRow:
        return PrefixRow(prefix, values[0], values[1], values[2] if known else None, values[3])

    return make("", total), [make(prefix, values) for prefix, values in rows.items()]


def _state_text(
    args: argparse.Namespace, total: PrefixRow, rows: list[PrefixRow], notes: list[str]
) -> str:
    lines = [
        f"{args.model} ({SOURCES['state_dict']}): {total.tensors} tensors, params "
        f"{human(total.params)}, nonzero {human(total.nonzero_params)}, "
        f"{human(total.param_bytes, 'B')}"
    ]
    labels = ["  " * row.depth + row.prefix.rsplit(".", 1)[-1] for row in rows]
    width = max(len("prefix"), *(len(label) for label in labels)) if rows else len("prefix")
    header = f"{'prefix':<{width}}  {'tensors':>7}  {'params':>7}  {'nonzero':>7}  {'bytes':>9}"
    lines += [header, "-" * len(header)]
    for label, row in zip(labels, rows, strict=True):
        lines.append(
            f"{label:<{width}}  {row.tensors:>7}  {human(row.params):>7}  "
            f"{human(row.nonzero_params):>7}  {human(row.param_bytes, 'B'):>9}"
        )
    lines.append(
        f"totals: params {total.params}, nonzero params {_exact(total.nonzero_params)}, "
        f"param bytes {total.param_bytes} ({human(total.param_bytes, 'B')})"
    )
    lines += [f"note: {note}" for note in notes]
    return "\n".join(lines)


# --- output ----------------------------------------------------------------------------------


def _exact(value: int | None) -> str:
    return "unknown" if value is None else str(value)


def _document(args: argparse.Namespace, entry: dict[str, Any]) -> str:
    document = {
        "schema": PROFILE_SCHEMA,
        "schema_version": PROFILE_SCHEMA_VERSION,
        **versions(),
        "count": args.count,
        "models": [entry],
    }
    return json.dumps(document, indent=2)


def _entry(args: argparse.Namespace, loaded: Loaded, specs: list, totals: dict) -> dict[str, Any]:
    return {
        "model": args.model,
        "source": loaded.source,
        "name": loaded.name,
        "device": loaded.device,
        "mode": None
        if loaded.source in ("export", "state_dict")
        else ("train" if args.train else "eval"),
        "inputs": [{"shape": list(shape), "dtype": dtype} for shape, dtype in specs],
        "totals": totals,
        "top_modules": [],
        "uncounted": {},
        "notes": list(loaded.notes),
    }


def budget_block(profile: Any, test_id: str | None = None) -> str:
    """A ``[tool.flopbudget.tests."<node id>"]`` block with the profile's FLOPs, params and param
    bytes rounded up to three significant figures, written as ``--flop-budget-update`` writes
    them."""
    import tomlkit

    from pytest_flopbudget.budgets.update import flops_limit_key, round_up, toml_limit_value

    nodeid = test_id or f"tests/test_models.py::test_{_snake(profile.model_name)}"
    flops = round_up(profile.flops)
    flops_key = flops_limit_key(flops)
    values = {
        flops_key: toml_limit_value(flops_key, flops),
        "max_params": toml_limit_value("max_params", round_up(profile.params)),
        "max_param_bytes": toml_limit_value("max_param_bytes", round_up(profile.param_bytes)),
    }
    lines = []
    if test_id is None:
        lines.append("# the node id of the test that runs this model (--test-id sets it)")
    if profile.count != "all":
        lines.append(f'# measured with count = "{profile.count}": set it in [tool.flopbudget]')
    lines.append(f"[tool.flopbudget.tests.{tomlkit.item(nodeid).as_string()}]")
    lines += [f"{key} = {tomlkit.item(value).as_string()}" for key, value in values.items()]
    return "\n".join(lines)


def _snake(name: str) -> str:
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    return re.sub(r"\W+", "_", snake).strip("_").lower() or "model"


def _hardware(args: argparse.Namespace) -> Any:
    """The device of ``--hardware``: a built-in, or a profile of ./pyproject.toml; None without
    the option."""
    if args.hardware is None:
        return None
    from pytest_flopbudget.budgets.config import ConfigError, load_config
    from pytest_flopbudget.engine.hardware import HardwareError, find_hardware

    pyproject = Path("pyproject.toml")
    try:
        devices = load_config(pyproject).hardware if pyproject.is_file() else {}
        return find_hardware(args.hardware, devices)
    except (ConfigError, HardwareError) as error:
        raise BadInput(f"--hardware: {error}") from None


def _profile_text(
    args: argparse.Namespace, loaded: Loaded, specs: list, result: Any, hardware: Any
) -> str:
    mode = "" if loaded.source == "export" else (", train mode" if args.train else ", eval mode")
    estimate = "" if hardware is None else f", est. latency {result.latency(hardware):.6g} s"
    lines = [
        f"{args.model} ({SOURCES[loaded.source]}), inputs {_describe(specs)}, "
        f"on {loaded.device}{mode}",
        result.table(depth=args.depth, hardware=hardware),
        f"totals: flops {result.flops}, macs {result.macs}, params {result.params}, "
        f"nonzero params {_exact(result.nonzero_params)}, "
        f"sparse flops {_exact(result.sparse_flops)}, bytes moved {result.bytes_moved}" + estimate,
        f"param bytes: {human(result.param_bytes, 'B')} ({result.param_bytes} bytes: unique "
        "parameters and buffers at their dtypes)",
    ]
    lines += [f"note: {note}" for note in loaded.notes]
    return "\n".join(lines)


def write_html(args: argparse.Namespace, result: Any, hardware: Any) -> None:
    """``--html PATH``: the HTML report of a run of one test, the model (its node id MODEL as
    given), with no budget and nothing to compare with."""
    from pytest_flopbudget.budgets.check import Budget
    from pytest_flopbudget.budgets.verdict import verdict
    from pytest_flopbudget.reporting.html import html_report
    from pytest_flopbudget.reporting.json_report import json_report

    row = verdict(args.model, args.model, [result], Budget(), hardware=hardware)
    report = json_report([row], {}, {}, args.count, None)
    path = Path(args.html)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html_report(report), encoding="utf-8")
    except OSError as error:
        raise BadInput(f"--html {args.html}: cannot write it ({one_line(error)})") from error


def run(args: argparse.Namespace) -> tuple[str, Mapping[str, int]]:
    """The output, and the ops that had no cost formula; with ``--html PATH`` the HTML report
    written there."""
    checked = (("MODEL", args.model), ("--arch", args.arch), ("--test-id", args.test_id))
    for what, value in (*checked, ("--html", args.html)):
        if value is not None and not value.strip():
            raise BadInput(empty_path(what))
    if args.test_id and not args.print_budget:
        raise BadInput("--test-id names the test of --print-budget's block; pass --print-budget")
    import torch

    hardware = _hardware(args)
    loaded = load(torch, args)
    if loaded.model is None:  # a state_dict without --arch
        if args.print_budget:
            raise BadInput(
                f"--print-budget needs FLOPs, and {args.model} is a state_dict without the "
                "architecture: pass --arch package.module:factory and --input-shape"
            )
        if args.html is not None:
            raise BadInput(
                f"--html draws the module tree's FLOPs, and {args.model} is a state_dict without "
                "the architecture: pass --arch package.module:factory and --input-shape"
            )
        if args.input_shape:
            loaded.notes.append("--input-shape is not used without --arch")
        total, rows = _state_rows(torch, loaded.state, args.depth)
        if args.json:
            totals = {key: None for key in QUANTITIES}
            totals.update(
                params=total.params,
                nonzero_params=total.nonzero_params,
                param_bytes=total.param_bytes,
            )
            entry = _entry(args, loaded, [], totals)
            entry["prefixes"] = [dataclasses.asdict(row) for row in rows]
            return _document(args, entry), {}
        return _state_text(args, total, rows, loaded.notes), {}
    specs = _input_specs(args, loaded)
    try:
        result = _count(torch, loaded, args, specs)
    except BadInput as error:
        if loaded.device != "meta" or loaded.source not in ("torchscript", "export"):
            raise
        # some TorchScript and exported graphs hold ops with no meta kernel: count on the CPU
        loaded = load(torch, argparse.Namespace(**{**vars(args), "meta": False}))
        loaded.notes.insert(
            0, f"--meta: running on the meta device failed ({error}); counted on the CPU"
        )
        result = _count(torch, loaded, args, specs)
    loaded.name = result.model_name
    if args.html is not None:
        write_html(args, result, hardware)
    if args.print_budget:
        return budget_block(result, args.test_id), result.uncounted
    if args.json:
        entry = _entry(args, loaded, specs, measured([result], hardware))
        entry["hardware"] = None if hardware is None else hardware.name or args.hardware
        entry["top_modules"] = [
            {"name": m.name, "type": m.type_name, "flops": m.flops}
            for m in result.top_modules(TOP_MODULES)
        ]
        entry["uncounted"] = dict(result.uncounted)
        return _document(args, entry), result.uncounted
    return _profile_text(args, loaded, specs, result, hardware), result.uncounted
